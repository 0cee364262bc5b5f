"""The reference station: TSL2561 light and SI7021 humidity and temperature."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from wxstation.parsers.base import StationParser
from wxstation.parsers.conversions import (
    SI7021_HUMIDITY_RANGE,
    SI7021_TEMPERATURE_RANGE,
    TSL2561_RANGE,
    lux,
    raw_lux,
    raw_si7021_humidity,
    raw_si7021_temperature,
    si7021_humidity,
    si7021_temperature,
)
from wxstation.parsers.fields import Field

__all__ = ["ReferenceParser"]

RECORD = struct.Struct("<HHH")


class ReferenceParser(StationParser):
    """Three u16 values per 6-byte record: lux, humidity raw, temperature raw."""

    kind = "reference"
    record_size = RECORD.size
    value_count = 3
    fields = (
        Field("light", "Light", "lx", "illuminance", precision=0, range=TSL2561_RANGE),
        Field("humidity", "Humidity", "%", "humidity", precision=1, range=SI7021_HUMIDITY_RANGE),
        Field(
            "temperature",
            "Temperature",
            "°C",
            "temperature",
            precision=2,
            range=SI7021_TEMPERATURE_RANGE,
        ),
    )

    record_struct = RECORD

    def decode_values(self, raw: tuple[Any, ...]) -> dict[str, float]:
        light, humidity, temperature = raw
        return {
            "light": lux(light),
            "humidity": si7021_humidity(humidity),
            "temperature": si7021_temperature(temperature),
        }

    def encode_record(self, values: Mapping[str, float]) -> bytes:
        return RECORD.pack(
            raw_lux(values["light"]),
            raw_si7021_humidity(values["humidity"]),
            raw_si7021_temperature(values["temperature"]),
        )
