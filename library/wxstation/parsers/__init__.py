"""Station parsers: one per device, looked up by name, import path or entry point.

A station's ``parser`` in the config is one of:

- a built-in name (``reference``);
- the name of a parser that an installed package registers in the entry point
  group ``wxstation.parsers``;
- an import path ``package.module:ClassName`` to a :class:`StationParser` subclass.

A station that gives ``fields`` instead gets a :class:`DeclarativeParser`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from importlib.metadata import entry_points

from wxstation.parsers.base import Decoded, StationParser
from wxstation.parsers.declarative import DeclarativeParser, FieldSpec
from wxstation.parsers.fields import Field
from wxstation.parsers.reference import ReferenceParser

__all__ = [
    "BUILTIN_PARSERS",
    "ENTRY_POINT_GROUP",
    "DeclarativeParser",
    "Decoded",
    "Field",
    "FieldSpec",
    "ParserLookupError",
    "ReferenceParser",
    "StationParser",
    "find_parser_class",
    "make_parser",
]

ENTRY_POINT_GROUP = "wxstation.parsers"
BUILTIN_PARSERS: dict[str, type[StationParser]] = {"reference": ReferenceParser}


class ParserLookupError(LookupError):
    """A configured parser that cannot be found or is not a station parser."""


def find_parser_class(spec: str) -> type[StationParser]:
    """Resolve a config's ``parser`` value to a parser class."""
    if spec in BUILTIN_PARSERS:
        return BUILTIN_PARSERS[spec]
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        try:
            found: object = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as err:
            raise ParserLookupError(f"cannot import parser {spec!r}: {err}") from err
    else:
        matches = entry_points(group=ENTRY_POINT_GROUP, name=spec)
        if not matches:
            known = ", ".join(
                sorted({*BUILTIN_PARSERS, *entry_points(group=ENTRY_POINT_GROUP).names})
            )
            raise ParserLookupError(
                f"no parser named {spec!r}; known: {known}; or give 'package.module:Class'"
            )
        try:
            found = next(iter(matches)).load()
        except Exception as err:
            raise ParserLookupError(f"cannot load parser {spec!r}: {err}") from err
    if not (isinstance(found, type) and issubclass(found, StationParser)):
        raise ParserLookupError(f"{spec!r} is not a subclass of wxstation.parsers.StationParser")
    return found


def make_parser(
    parser: str | None = None,
    fields: Sequence[FieldSpec] = (),
    derived: Sequence[str] = (),
) -> StationParser:
    """Build the parser a station's config describes."""
    if fields:
        return DeclarativeParser(fields, derived)
    return find_parser_class(parser or "reference")(derived)
