"""Weather Underground: the PWS upload protocol.

One GET of ``updateweatherstation.php`` per observation, with ``ID``,
``PASSWORD`` (the station key), ``dateutc`` (the sample's own time),
``action=updateraw``, ``softwaretype`` and the values (see
:func:`~bridge.sinks.uploads.units.pws_values`). Weather Underground answers
``success`` in the body; a wrong id or key is answered with text
(``INVALIDPASSWORDID|Password or key and/or id are incorrect``), lately with
HTTP 401 as well. Past observations are taken with their ``dateutc``, so every
sample goes up.
"""

from __future__ import annotations

from bridge.sinks.uploads.base import Pace, UploadRefusedError
from bridge.sinks.uploads.http import HttpAnswer, HttpUploadSink, software
from bridge.sinks.uploads.units import Observation, pws_values, utc_text
from wxstation.config import UploadConfig

__all__ = ["DEFAULT_URL", "WundergroundSink", "pws_query"]


def pws_query(upload: UploadConfig, observation: Observation) -> dict[str, str]:
    """One observation of ``upload`` as the PWS protocol's query (PWSweather
    takes the same on its own host)."""
    return {
        "ID": upload.id,
        "PASSWORD": upload.key or "",
        "dateutc": utc_text(observation.time_ms),
        **pws_values(observation),
        "softwaretype": software(),
        "action": "updateraw",
    }


DEFAULT_URL = "https://weatherstation.wunderground.com/weatherstation/updateweatherstation.php"
#: Seconds between uploads: the shortest Weather Underground names anywhere
#: (its rapid-fire updates every 2.5 s); it documents no other limit.
INTERVAL = 2.5
#: What Weather Underground's answer starts with for a wrong id or key.
INVALID = "INVALID"


class WundergroundSink(HttpUploadSink):
    label = "Weather Underground"
    pace = Pace(interval=INTERVAL, backfill=True)
    default_url = DEFAULT_URL

    def query(self, observation: Observation) -> dict[str, str]:
        return pws_query(self.upload, observation)

    def judge(self, answer: HttpAnswer) -> None:
        text = answer.text.strip()
        if answer.status == 200 and text.lower().startswith("success"):
            return
        credentials = text.upper().startswith(INVALID) or answer.status in (401, 403)
        raise UploadRefusedError(answer.words, credentials=credentials)
