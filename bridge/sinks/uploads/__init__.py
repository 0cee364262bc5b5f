"""Uploads to weather networks: one sink per station and network.

Weather Underground, PWSweather, Met Office WOW, Windy and CWOP, each as its
network documents it (see docs/uploads.md). :mod:`.base` says which samples go
up and when, :mod:`.units` converts them, :mod:`.http` is the client of the
HTTP networks; each network has its module.
"""

from __future__ import annotations

from bridge.sinks.uploads.base import UploadSink
from bridge.sinks.uploads.cwop import CwopSink
from bridge.sinks.uploads.pwsweather import PwsweatherSink
from bridge.sinks.uploads.units import DEW_POINT, HUMIDITY, ILLUMINANCE, TEMPERATURE
from bridge.sinks.uploads.windy import WindySink
from bridge.sinks.uploads.wow import WowSink
from bridge.sinks.uploads.wunderground import WundergroundSink
from wxstation.config import Config, UploadConfig

__all__ = ["SINKS", "explain", "upload_sink", "upload_sinks"]

#: The sink of each ``service`` an upload may name.
SINKS: dict[str, type[UploadSink]] = {
    "wunderground": WundergroundSink,
    "pwsweather": PwsweatherSink,
    "wow": WowSink,
    "windy": WindySink,
    "cwop": CwopSink,
}


def upload_sink(upload: UploadConfig) -> UploadSink:
    """The sink of one configured upload."""
    return SINKS[upload.service](upload)


def upload_sinks(config: Config) -> list[UploadSink]:
    """The sinks of the config's ``uploads``."""
    return [upload_sink(upload) for upload in config.uploads]


def explain(upload: UploadConfig, config: Config) -> str:
    """One line on what an upload sends, and how often, for ``check-config``."""
    sink = SINKS[upload.service]
    station = config.stations[upload.station]
    keys = {field.key for field in station.parser.all_fields}
    sends = [
        what
        for key, what in (
            (TEMPERATURE, "temperature"),
            (HUMIDITY, "humidity"),
            (DEW_POINT, "dew point"),
        )
        if key in keys
    ]
    if DEW_POINT not in keys and {TEMPERATURE, HUMIDITY} <= keys:
        sends.append("no dew point (add derived: [dew_point] to the station)")
    if upload.lux_to_wm2 is not None and ILLUMINANCE in keys and sink.takes_solar:
        sends.append(f"solar radiation as {upload.lux_to_wm2:g} W/m² per lux")
    pace = sink.pace
    how = (
        f"every sample (at most one a minute) with its own time, one upload per {pace.interval:g} s"
        if pace.backfill
        else f"the newest sample with its own time, at most every {pace.interval / 60:g} min"
    )
    return (
        f"{sink.label} {upload.id}: {station.name} ({upload.station}): "
        f"{', '.join(sends) or 'nothing the network takes'}; {how}"
    )
