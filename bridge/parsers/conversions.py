"""Named conversions from a raw record value to physical units.

A declarative station names one of these (``convert: si7021_humidity``) instead of
a ``scale`` and ``offset``; the reference station uses them too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CONVERSIONS", "Conversion"]


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


CONVERSIONS: dict[str, Conversion] = {
    "lux": Conversion(lux, raw_lux, "lx", "illuminance", 0),
    "si7021_humidity": Conversion(si7021_humidity, raw_si7021_humidity, "%", "humidity", 1),
    "si7021_temperature": Conversion(
        si7021_temperature, raw_si7021_temperature, "°C", "temperature", 2
    ),
}
