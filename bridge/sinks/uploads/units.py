"""What goes up: a station's samples as observations, in the units the networks want.

The bridge keeps SI units (degC, %RH, lux). The networks take degF (Weather
Underground, PWSweather, WOW, CWOP) or degC (Windy); none takes lux. Dew point is
the station's own derived value (``derived: [dew_point]``), never computed here,
so a network shows what the bridge shows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from wxstation.samples import Batch

__all__ = [
    "DEW_POINT",
    "HUMIDITY",
    "ILLUMINANCE",
    "TEMPERATURE",
    "Observation",
    "fahrenheit",
    "observations",
    "pws_values",
    "utc_text",
]

#: The sample keys the uploads read: the reference station's, and the derived dew point.
TEMPERATURE = "temperature"
HUMIDITY = "humidity"
DEW_POINT = "dew_point"
ILLUMINANCE = "light"


def fahrenheit(celsius: float) -> float:
    """Degrees Fahrenheit of a Celsius temperature."""
    return celsius * 9.0 / 5.0 + 32.0


def utc_text(time_ms: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` in UTC: the ``dateutc`` the HTTP networks take."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time_ms // 1000))


@dataclass(frozen=True, slots=True)
class Observation:
    """One sample of the uploaded station, with what the networks can take of it."""

    time_ms: int
    temperature: float | None = None
    humidity: float | None = None
    dew_point: float | None = None
    #: W/m², only where the upload gives a lux-to-W/m² factor.
    solar: float | None = None

    @property
    def empty(self) -> bool:
        return (self.temperature, self.humidity, self.dew_point, self.solar) == (None,) * 4


def observations(
    batches: Iterable[Batch], device_id: int, lux_to_wm2: float | None
) -> list[Observation]:
    """The samples of one station in these batches that carry a value a network
    takes, oldest first."""
    found = []
    for batch in batches:
        if batch.device_id != device_id:
            continue
        for sample in batch.samples:
            values = sample.values
            light = values.get(ILLUMINANCE)
            one = Observation(
                sample.time_ms,
                values.get(TEMPERATURE),
                values.get(HUMIDITY),
                values.get(DEW_POINT),
                light * lux_to_wm2 if light is not None and lux_to_wm2 is not None else None,
            )
            if not one.empty:
                found.append(one)
    found.sort(key=lambda one: one.time_ms)
    return found


def pws_values(observation: Observation, *, solar: bool = True) -> dict[str, str]:
    """The values in the names and units of Weather Underground's PWS protocol,
    which PWSweather and WOW share: degF with one decimal, humidity as a whole
    percent, and solar radiation in W/m² where the network takes it."""
    values = {}
    if observation.temperature is not None:
        values["tempf"] = f"{fahrenheit(observation.temperature):.1f}"
    if observation.humidity is not None:
        values["humidity"] = f"{observation.humidity:.0f}"
    if observation.dew_point is not None:
        values["dewptf"] = f"{fahrenheit(observation.dew_point):.1f}"
    if solar and observation.solar is not None:
        values["solarradiation"] = f"{observation.solar:.1f}"
    return values
