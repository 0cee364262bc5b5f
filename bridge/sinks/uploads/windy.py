"""Windy: the Stations API v2 (``/api/v2/observation/update``).

One GET per observation with ``id`` (the station id Windy shows), ``time``
(the sample's own time, ISO 8601 in UTC), ``softwaretype`` and the values in
SI units (``temp`` and ``dewpoint`` in degC, ``humidity`` in %; no solar
radiation, which the API does not name). The station
password goes in an ``Authorization: Bearer`` header, never in the URL. Windy
answers with HTTP statuses: 2xx takes it, 401 and 403 refuse the password, 429
says it came sooner than five minutes after the last one. Windy takes one
observation per station every five minutes: the newest sample goes up when
five minutes have passed since the last upload.
"""

from __future__ import annotations

import time

from bridge.sinks.uploads.base import CURRENT_MAX_AGE, Pace
from bridge.sinks.uploads.http import HttpUploadSink, software
from bridge.sinks.uploads.units import Observation

__all__ = ["DEFAULT_URL", "WindySink"]

DEFAULT_URL = "https://stations.windy.com/api/v2/observation/update"
#: Seconds between uploads: Windy refuses (HTTP 429) an update that comes
#: sooner than five minutes after the station's last.
INTERVAL = 300.0


class WindySink(HttpUploadSink):
    label = "Windy"
    pace = Pace(interval=INTERVAL, backfill=False, max_age=CURRENT_MAX_AGE)
    default_url = DEFAULT_URL
    #: The API reference names no solar radiation parameter.
    takes_solar = False

    def query(self, observation: Observation) -> dict[str, str]:
        query = {
            "id": self.upload.id,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(observation.time_ms // 1000)),
        }
        if observation.temperature is not None:
            query["temp"] = f"{observation.temperature:.1f}"
        if observation.humidity is not None:
            query["humidity"] = f"{observation.humidity:.0f}"
        if observation.dew_point is not None:
            query["dewpoint"] = f"{observation.dew_point:.1f}"
        query["softwaretype"] = software()
        return query

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.upload.key or ''}"}
