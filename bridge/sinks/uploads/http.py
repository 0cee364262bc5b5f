"""The HTTP networks' client: one GET per observation, its answer judged by the network.

Weather Underground, PWSweather, WOW and Windy all take an observation as the
query of a GET. This module sends it and sorts the answer into three kinds:
accepted; not now (no answer, HTTP 5xx, 408, 429: :class:`SinkUnavailableError`,
retried with backoff); refused (:class:`~bridge.sinks.uploads.base.UploadRefusedError`,
with the network's own words). What counts as refused is each network's to say (see its module).
Nothing here ever puts a key in an error: every text passes :func:`redact`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import yarl

from bridge.sinks import SinkUnavailableError
from bridge.sinks.uploads.base import UploadRefusedError, UploadSink
from bridge.sinks.uploads.units import Observation
from wxstation.config import UploadConfig
from wxstation.discovery import bridge_version
from wxstation.problems import redact

__all__ = [
    "CREDENTIAL_STATUSES",
    "GENTLE_INTERVAL",
    "HTTP_TIMEOUT",
    "HttpAnswer",
    "HttpClient",
    "HttpUploadSink",
    "retry_after",
    "software",
]

#: Seconds a network may take to answer one upload: the public networks answer
#: in well under a second, and one that takes longer is treated as down.
HTTP_TIMEOUT = 20.0
#: Characters of a network's answer kept in a reason (log, status, the page).
ANSWER_LIMIT = 300
#: Bounds on an honoured ``Retry-After``: a network saying 0 is not hammered,
#: and one odd header does not stall uploads for a day.
MIN_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 900.0
#: HTTP statuses that mean "not now" although they are 4xx.
RETRY_STATUSES = frozenset({408, 425, 429})
#: HTTP statuses by which the networks refuse an id or key.
CREDENTIAL_STATUSES = frozenset({401, 403})
#: Seconds between uploads to a network that takes past observations but names
#: no rate: an hour's packet of 2-minute samples goes up in under three minutes,
#: a day's backlog in an hour, and the network sees no burst.
GENTLE_INTERVAL = 5.0


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header in delta seconds, bounded; None without one."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return None if seconds is None else min(max(seconds, MIN_RETRY_AFTER), MAX_RETRY_AFTER)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What the network answered: its status and its text, keys already hidden."""

    status: int
    text: str
    retry_after: float | None = None

    @property
    def words(self) -> str:
        """The answer as one short line, for a reason."""
        line = " ".join(self.text.split())[:ANSWER_LIMIT]
        return f"HTTP {self.status}" + (f": {line}" if line else "")


class HttpClient:
    """GETs to one network's endpoint over one aiohttp session."""

    def __init__(self, url: str, secrets: Sequence[str | None]) -> None:
        self.url = url
        self.host = yarl.URL(url).host or url
        self._secrets = tuple(secrets)
        self._session: aiohttp.ClientSession | None = None

    async def get(
        self, query: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> HttpAnswer:
        """Send one upload; raise :class:`SinkUnavailableError` when the network
        cannot be reached or says "not now"."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))
        # Encoded here, as the networks document it (a space as "+", a colon as
        # "%3A"), and passed on as it is.
        url = yarl.URL(f"{self.url}?{urlencode(query)}", encoded=True)
        try:
            async with self._session.get(url, headers=headers, allow_redirects=False) as response:
                text = await response.text(errors="replace")
                answer = HttpAnswer(
                    response.status,
                    redact(text, self._secrets),
                    retry_after(response.headers.get("Retry-After")),
                )
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            detail = redact(str(err), self._secrets) or type(err).__name__
            raise SinkUnavailableError(f"cannot reach {self.host}: {detail}") from None
        if answer.status >= 500 or answer.status in RETRY_STATUSES:
            raise SinkUnavailableError(f"{self.host} answered {answer.words}", answer.retry_after)
        return answer

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def software() -> str:
    """``softwaretype``: which software sends, for the networks' support."""
    return f"wxstation-{bridge_version()}"


class HttpUploadSink(UploadSink):
    """An upload to a network that takes each observation as the query of a GET."""

    #: The network's documented endpoint, unless the upload gives ``url``.
    default_url: str = ""

    def __init__(self, upload: UploadConfig, **kwargs: Any) -> None:
        super().__init__(upload, **kwargs)
        self.client = HttpClient(upload.url or self.default_url, [upload.key])

    @abstractmethod
    def query(self, observation: Observation) -> dict[str, str]:
        """The GET's query for one observation."""

    def headers(self) -> dict[str, str]:
        """Headers of every request (credentials, for a network that takes them there)."""
        return {}

    def judge(self, answer: HttpAnswer) -> None:
        """Raise :class:`~bridge.sinks.uploads.base.UploadRefusedError` unless the
        network took the observation: by default, any 2xx takes it, 401 and 403
        refuse the credentials, any other status this observation."""
        if 200 <= answer.status < 300:
            return
        raise UploadRefusedError(answer.words, credentials=answer.status in CREDENTIAL_STATUSES)

    async def send(self, observation: Observation) -> None:
        self.judge(await self.client.get(self.query(observation), self.headers()))

    async def stop(self) -> None:
        await self.client.close()
