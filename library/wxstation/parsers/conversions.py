"""Named conversions from a raw record value to physical units.

A declarative station names one of these (``convert: si7021_humidity``) instead of
a ``scale`` and ``offset``; the reference station uses them too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "CONVERSIONS",
    "SI7021_HUMIDITY_RANGE",
    "SI7021_TEMPERATURE_RANGE",
    "TSL2561_RANGE",
    "Conversion",
]

#: The sensors' measurement ranges from their datasheets: a value outside one
#: is a fault (a bit error, a sensor that lost power), not weather.
#: TSL2561: 0.1 to 40,000 lux.
TSL2561_RANGE = (0.0, 40000.0)
#: SI7021: relative humidity 0 to 100 %RH (the conversion clamps to it, as the
#: datasheet asks), temperature -40 to +125 degC.
SI7021_HUMIDITY_RANGE = (0.0, 100.0)
SI7021_TEMPERATURE_RANGE = (-40.0, 125.0)


def lux(raw: float) -> float:
    """TSL2561: the ATtiny already computed lux and truncated it to an integer."""
    return float(raw)


def si7021_humidity(raw: float) -> float:
    """SI7021 relative humidity, clamped to 0..100 %RH as its datasheet says."""
    return min(100.0, max(0.0, 125.0 * raw / 65536.0 - 6.0))


def si7021_temperature(raw: float) -> float:
    """SI7021 temperature in degC."""
    return 175.72 * raw / 65536.0 - 46.85


def _si7021_raw(value: float) -> int:
    """The sensor's 16-bit word with its two status bits cleared, as the firmware sends it."""
    return max(0, min(0xFFFC, round(value))) & 0xFFFC


def raw_lux(value: float) -> int:
    return max(0, min(0xFFFF, int(value)))


def raw_si7021_humidity(value: float) -> int:
    return _si7021_raw((value + 6.0) * 65536.0 / 125.0)


def raw_si7021_temperature(value: float) -> int:
    return _si7021_raw((value + 46.85) * 65536.0 / 175.72)


@dataclass(frozen=True, slots=True)
class Conversion:
    """A conversion, its inverse (for the simulator) and how to present the result."""

    function: Callable[[float], float]
    inverse: Callable[[float], int]
    unit: str
    device_class: str
    precision: int
    #: The sensor's measurement range, the default plausible range of the value.
    range: tuple[float, float] | None = None


CONVERSIONS: dict[str, Conversion] = {
    "lux": Conversion(lux, raw_lux, "lx", "illuminance", 0, TSL2561_RANGE),
    "si7021_humidity": Conversion(
        si7021_humidity, raw_si7021_humidity, "%", "humidity", 1, SI7021_HUMIDITY_RANGE
    ),
    "si7021_temperature": Conversion(
        si7021_temperature, raw_si7021_temperature, "°C", "temperature", 2, SI7021_TEMPERATURE_RANGE
    ),
}
