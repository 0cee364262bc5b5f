"""Met Office WOW: its automatic upload (``automaticreading``).

One GET per observation with ``siteid``, ``siteAuthenticationKey`` (the site's
authentication key, a PIN chosen on WOW), ``dateutc`` (the sample's own time),
``softwaretype`` and the values in WOW's names and units (degF, %, the PWS
protocol's ``tempf``, ``humidity``, ``dewptf``; WOW takes no solar radiation).
WOW answers with HTTP statuses: 200 takes it, 401 and 403 refuse the site id or
key, 429 asks to slow down. Each observation carries its own date, so every
sample goes up, at :data:`GENTLE_INTERVAL`.
"""

from __future__ import annotations

from bridge.sinks.uploads.base import Pace
from bridge.sinks.uploads.http import GENTLE_INTERVAL, HttpUploadSink, software
from bridge.sinks.uploads.units import Observation, pws_values, utc_text

__all__ = ["DEFAULT_URL", "WowSink"]

DEFAULT_URL = "https://wow.metoffice.gov.uk/automaticreading"


class WowSink(HttpUploadSink):
    label = "Met Office WOW"
    pace = Pace(interval=GENTLE_INTERVAL, backfill=True)
    default_url = DEFAULT_URL
    takes_solar = False

    def query(self, observation: Observation) -> dict[str, str]:
        return {
            "siteid": self.upload.id,
            "siteAuthenticationKey": self.upload.key or "",
            "dateutc": utc_text(observation.time_ms),
            **pws_values(observation, solar=self.takes_solar),
            "softwaretype": software(),
        }
