"""PWSweather: its ``submitwx`` API, Weather Underground's PWS protocol on its own host.

One GET of ``pwsupdate.pwsweather.com/api/v1/submitwx`` per observation with
``ID``, ``PASSWORD`` (the station's API key from PWSweather's dashboard),
``dateutc``, ``action=updateraw``, ``softwaretype`` and the values in the PWS
protocol's names and units. PWSweather answers with HTTP statuses: 2xx takes
the observation, 401 and 403 refuse the key. Each observation carries its own
``dateutc``, so every sample goes up, at :data:`GENTLE_INTERVAL`.
"""

from __future__ import annotations

from bridge.sinks.uploads.base import Pace
from bridge.sinks.uploads.http import GENTLE_INTERVAL, HttpUploadSink, software
from bridge.sinks.uploads.units import Observation, pws_values, utc_text

__all__ = ["DEFAULT_URL", "PwsweatherSink"]

DEFAULT_URL = "https://pwsupdate.pwsweather.com/api/v1/submitwx"


class PwsweatherSink(HttpUploadSink):
    label = "PWSweather"
    pace = Pace(interval=GENTLE_INTERVAL, backfill=True)
    default_url = DEFAULT_URL

    def query(self, observation: Observation) -> dict[str, str]:
        return {
            "ID": self.upload.id,
            "PASSWORD": self.upload.key or "",
            "dateutc": utc_text(observation.time_ms),
            **pws_values(observation),
            "softwaretype": software(),
            "action": "updateraw",
        }
