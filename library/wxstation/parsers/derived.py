"""Values computed from what a station measured: dew point and absolute humidity.

Both need ``temperature`` (degC) and ``humidity`` (%RH) in the sample; a sample
without them gets no derived value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from wxstation.parsers.fields import Field

__all__ = ["DERIVED", "DerivedValue", "absolute_humidity", "dew_point"]

# Magnus formula coefficients over water (Alduchov and Eskridge, 1996): good to
# 0.35 degC between -45 and 60 degC, which covers any outdoor station.
MAGNUS_B = 17.625
MAGNUS_C = 243.04
# Molar mass of water over the gas constant, g*K/J, for absolute humidity.
WATER_OVER_R = 18.01528 / 8.314462618


def _saturation_hpa(temperature: float) -> float:
    return 6.1094 * math.exp(MAGNUS_B * temperature / (MAGNUS_C + temperature))


def dew_point(temperature: float, humidity: float) -> float | None:
    """Dew point in degC, or None where it is undefined (no humidity)."""
    if humidity <= 0:
        return None
    gamma = math.log(humidity / 100.0) + MAGNUS_B * temperature / (MAGNUS_C + temperature)
    return MAGNUS_C * gamma / (MAGNUS_B - gamma)


def absolute_humidity(temperature: float, humidity: float) -> float:
    """Water vapour density in g/m3."""
    vapour_pa = _saturation_hpa(temperature) * humidity  # hPa * % = Pa
    return WATER_OVER_R * vapour_pa / (temperature + 273.15)


@dataclass(frozen=True, slots=True)
class DerivedValue:
    field: Field
    formula: Callable[[float, float], float | None]

    def compute(self, sample: dict[str, float]) -> float | None:
        if "temperature" not in sample or "humidity" not in sample:
            return None
        return self.formula(sample["temperature"], sample["humidity"])


DERIVED: dict[str, DerivedValue] = {
    "dew_point": DerivedValue(
        Field("dew_point", "Dew point", "°C", "temperature", precision=1), dew_point
    ),
    "absolute_humidity": DerivedValue(
        Field(
            "absolute_humidity", "Absolute humidity", "g/m³", None, precision=1, icon="mdi:water"
        ),
        absolute_humidity,
    ),
}
