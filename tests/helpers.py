"""Small helpers the tests share."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bridge.parsers import FieldSpec, StationParser, make_parser
from bridge.spool import readings

VECTORS = Path(__file__).parent / "vectors"


def load_vectors(name: str) -> Any:
    """A vector file copied from the station firmware's layout (see vectors/README.md)."""
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def profile_parser(profiles: dict[str, Any], name: str) -> StationParser:
    """The parser for a profile of tests/vectors/profiles.json."""
    if name == "reference":
        return make_parser("reference")
    return make_parser(fields=[FieldSpec(**spec) for spec in profiles[name]["fields"]])


class Clock:
    """A wall clock (unix seconds) that moves only when a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


#: Samples stored in a bridge's database, for a test's own connection to it.
SAMPLE_COUNT = "SELECT coalesce(sum(count), 0) FROM readings"
#: The rows :func:`readings_samples` reads.
READINGS = 'SELECT device_id, station, keys, times, "values" FROM readings'


def readings_samples(
    rows: Iterable[tuple[Any, ...]],
) -> list[tuple[int, str, int, dict[str, float]]]:
    """Every sample of the rows :data:`READINGS` gave: (device id, station, time
    in ms, values), by station and time."""
    return sorted(
        (int(device), str(station), sample.time_ms, sample.values)
        for device, station, keys, times, values in rows
        for sample in readings.unpack(keys, times, values)
    )
