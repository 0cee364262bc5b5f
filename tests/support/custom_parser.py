"""A user's own station parser, as the config can name it by import path."""

from __future__ import annotations

import struct
from collections.abc import Mapping

from wxstation.parsers import Field, StationParser


class ShedParser(StationParser):
    """One i16 temperature in tenths of a degree per 2-byte record."""

    kind = "shed"
    record_size = 2
    value_count = 1
    fields = (Field("temperature", unit="°C", device_class="temperature", precision=1),)

    def decode_record(self, record: bytes) -> dict[str, float]:
        (raw,) = struct.unpack("<h", record)
        return {"temperature": raw / 10}

    def encode_record(self, values: Mapping[str, float]) -> bytes:
        return struct.pack("<h", round(values["temperature"] * 10))
