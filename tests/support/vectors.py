"""The test vectors (tests/vectors) and the parsers of their profiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wxstation.parsers import FieldSpec, StationParser, make_parser

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def load_vectors(name: str) -> Any:
    """A vector file copied from the station firmware's layout (see vectors/README.md)."""
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def profile_parser(profiles: dict[str, Any], name: str) -> StationParser:
    """The parser for a profile of tests/vectors/profiles.json."""
    if name == "reference":
        return make_parser("reference")
    return make_parser(fields=[FieldSpec(**spec) for spec in profiles[name]["fields"]])
