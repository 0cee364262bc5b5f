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
from bridge.sinks.uploads.http import GENTLE_INTERVAL, HttpUploadSink
from bridge.sinks.uploads.units import Observation
from bridge.sinks.uploads.wunderground import pws_query

__all__ = ["DEFAULT_URL", "PwsweatherSink"]

DEFAULT_URL = "https://pwsupdate.pwsweather.com/api/v1/submitwx"


class PwsweatherSink(HttpUploadSink):
    label = "PWSweather"
    pace = Pace(interval=GENTLE_INTERVAL, backfill=True)
    default_url = DEFAULT_URL

    def query(self, observation: Observation) -> dict[str, str]:
        return pws_query(self.upload, observation)
