"""Parsers built from config: a station described field by field, no Python needed."""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wxstation.parsers.base import StationParser
from wxstation.parsers.conversions import CONVERSIONS
from wxstation.parsers.fields import Field

__all__ = ["TYPES", "DeclarativeParser", "FieldSpec"]

#: Record field types a station can use, as little-endian struct codes.
TYPES = {"u8": "B", "i8": "b", "u16": "H", "i16": "h", "u32": "I", "i32": "i", "f32": "f"}
#: The range of each integer type, for encoding a simulated value.
INT_RANGES = {
    "u8": (0, 0xFF),
    "i8": (-0x80, 0x7F),
    "u16": (0, 0xFFFF),
    "i16": (-0x8000, 0x7FFF),
    "u32": (0, 0xFFFFFFFF),
    "i32": (-0x80000000, 0x7FFFFFFF),
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a declarative station's record, as the config gives it."""

    key: str
    type: str
    scale: float = 1.0
    offset: float = 0.0
    convert: str | None = None
    name: str | None = None
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = "measurement"
    precision: int | None = None
    icon: str | None = None

    def converter(self) -> Callable[[float], float]:
        if self.convert is not None:
            return CONVERSIONS[self.convert].function
        scale, offset = self.scale, self.offset
        return lambda raw: raw * scale + offset

    def raw(self, value: float) -> float:
        """The record value a station sends for ``value``: the converter's inverse."""
        if self.convert is not None:
            return CONVERSIONS[self.convert].inverse(value)
        raw = (value - self.offset) / self.scale if self.scale else 0.0
        if self.type not in INT_RANGES:
            return raw
        low, high = INT_RANGES[self.type]
        return max(low, min(high, round(raw)))

    def field(self) -> Field:
        """Presentation of the value; a named conversion fills in what is not set."""
        unit, device_class, precision = self.unit, self.device_class, self.precision
        plausible = None
        if self.convert is not None:
            known = CONVERSIONS[self.convert]
            unit = unit if unit is not None else known.unit
            device_class = device_class if device_class is not None else known.device_class
            precision = precision if precision is not None else known.precision
            plausible = known.range
        return Field(
            self.key,
            self.name,
            unit,
            device_class,
            self.state_class,
            precision,
            self.icon,
            plausible,
        )


class DeclarativeParser(StationParser):
    """A station whose record is a fixed sequence of typed, scaled fields."""

    kind = "fields"

    def __init__(self, specs: Sequence[FieldSpec], derived: Sequence[str] = ()) -> None:
        super().__init__(derived)
        if not specs:
            raise ValueError("a declarative station needs at least one field")
        self.specs = tuple(specs)
        self.record_struct: struct.Struct = struct.Struct(
            "<" + "".join(TYPES[spec.type] for spec in specs)
        )
        self.record_size = self.record_struct.size
        self.value_count = len(specs)
        self.fields = tuple(spec.field() for spec in specs)
        self._converters = tuple((spec.key, spec.converter()) for spec in specs)

    def decode_values(self, raws: tuple[Any, ...]) -> dict[str, float]:
        return {
            key: float(convert(raw))
            for (key, convert), raw in zip(self._converters, raws, strict=True)
        }

    def encode_record(self, values: Mapping[str, float]) -> bytes:
        return self.record_struct.pack(*(spec.raw(values[spec.key]) for spec in self.specs))
