"""InfluxDB sink: every sample as a point with its own millisecond timestamp.

Two ways in, chosen by ``influxdb.api``:

- ``2``: InfluxDB's v2 write API (``/api/v2/write``) through ``influxdb-client``,
  for InfluxDB 2.x and 3.x, InfluxDB 1.8+ (its compatibility endpoint) and
  anything else that speaks it (VictoriaMetrics, Telegraf's listener).
- ``1``: the 1.x ``/write`` API with ``db``, ``rp`` and Basic auth, over plain
  HTTP, because ``influxdb-client`` cannot talk to a server older than 1.8.

Schema, ``layout: default``: one point per sample in ``measurement`` (``weather``)
with tags ``station`` and ``device_id`` and one float field per value; plus one
point per packet in ``<measurement>_health`` (same tags, the fields of
:meth:`~wxstation.samples.Batch.health`, stamped with the packet's arrival).
``layout: legacy`` writes what the old server wrote and nothing else: one point per
value, measurement named after the quantity, tag ``place`` (the station's name),
field ``value``. Every field is written as a float, so a field never changes type.
Timestamps come from the spool, so writing a batch again lands on the same points.

What happens when InfluxDB says no:

- No answer (refused, reset, timed out), HTTP 5xx, 408 or 429: the database is
  down or busy. :class:`SinkUnavailableError`, with InfluxDB's ``Retry-After`` when
  it sent one; the runtime keeps the samples in the spool and tries again.
- HTTP 401, 403 and 404 (bad credentials, no write permission, no such
  database, bucket or org, wrong URL): the config is wrong, and it is wrong for
  every batch alike. Keeping batches aside would set aside everything written
  until someone noticed; instead they count as unavailable, retried every
  :data:`CONFIG_RETRY` seconds, with an ERROR line that says which setting to fix.
  Once it is fixed (creating the database needs no restart) the samples flow,
  oldest first.
- Any other 4xx (400 bad data such as a field type conflict, 413, 422 points
  outside the retention policy): these data will never be accepted.
  :class:`SinkRejectedError` with InfluxDB's own message; the runtime narrows it
  down to the refused batches and keeps exactly those aside.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import functools
import json
import logging
import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol
from urllib.parse import urlencode

import urllib3

from bridge.sinks import Sink, SinkError, SinkRejectedError, SinkUnavailableError
from wxstation.config import Config, InfluxConfig
from wxstation.parsers import make_parser
from wxstation.samples import Batch

__all__ = [
    "InfluxConfigError",
    "InfluxSink",
    "LineProtocolError",
    "batch_lines",
    "classify_response",
    "line",
]

log = logging.getLogger(__name__)

#: Seconds between attempts while the config is wrong (HTTP 401, 403, 404):
#: long enough not to flood InfluxDB's log, short enough that a database
#: created by hand is used within a minute.
CONFIG_RETRY = 60.0
#: Bounds on an honoured ``Retry-After``: at least a second, so a server saying
#: "0" is not hammered; at most ten minutes, so one odd header cannot stall
#: delivery for a day.
MIN_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 600.0
#: Characters of InfluxDB's error text kept in a reason (log line, spool).
REASON_LIMIT = 500
#: HTTP statuses that mean "not now" although they are 4xx.
RETRY_STATUSES = frozenset({408, 425, 429})
#: HTTP statuses that mean the config is wrong for every batch alike.
CONFIG_STATUSES = frozenset({401, 403, 404})

# Characters line protocol escapes with a backslash in each position.
_MEASUREMENT_SPECIAL = ", "
_KEY_SPECIAL = ", ="


class LineProtocolError(ValueError):
    """A name that line protocol cannot carry unambiguously."""


class InfluxConfigError(SinkUnavailableError):
    """InfluxDB refuses every write because of the config (credentials, names, URL)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, CONFIG_RETRY)


@functools.lru_cache(maxsize=4096)
def _escape(text: str, special: str, what: str) -> str:
    # Cached: a bridge writes the same few names (stations, tags, fields) on every
    # point, and checking and escaping them was most of the cost of a line.
    if not text:
        raise LineProtocolError(f"{what} is empty")
    if "\n" in text or "\r" in text:
        raise LineProtocolError(f"{what} {text!r} contains a line break")
    # InfluxDB 1.x keeps a backslash as it is while 2.x and VictoriaMetrics read
    # "\\" as one: only a backslash before an ordinary character means the same
    # everywhere, so one at the end, before another or before a special
    # character is refused.
    if re.search(r"\\(?=[\\" + re.escape(special) + r"]|\Z)", text):
        raise LineProtocolError(
            f"{what} {text!r} has a backslash at its end or before a backslash or "
            f"one of {special!r}, which InfluxDB servers read differently"
        )
    for char in special:
        text = text.replace(char, "\\" + char)
    return text


def _series(measurement: str, tags: Iterable[tuple[str, str]]) -> str:
    """Measurement and sorted tags, escaped: the part every point of a station shares."""
    series = _escape(measurement, _MEASUREMENT_SPECIAL, "measurement")
    for key, value in sorted(tags):
        series += f",{_escape(key, _KEY_SPECIAL, 'tag key')}={_escape(value, _KEY_SPECIAL, key)}"
    return series


@functools.lru_cache(maxsize=1024)
def _field_key(key: str) -> str:
    return _escape(key, _KEY_SPECIAL, "field key")


def _fields(fields: Mapping[str, float]) -> str:
    """The field set, every value as a float; empty when no value is finite."""
    return ",".join(
        [
            f"{_field_key(key)}={float(value)!r}"
            for key, value in fields.items()
            if math.isfinite(value)
        ]
    )


def line(
    measurement: str, tags: Iterable[tuple[str, str]], fields: Mapping[str, float], time_ms: int
) -> str | None:
    """One point in line protocol with a millisecond timestamp; None if it has no field.

    Values are written as floats (line protocol reads a number without an ``i``
    suffix as one); values that are not finite are left out, as InfluxDB cannot
    store them and would refuse the whole request.
    """
    written = _fields(fields)
    if not written:
        return None
    return f"{_series(measurement, tags)} {written} {time_ms}"


def _health_fields(batch: Batch) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in batch.health().items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def batch_lines(batch: Batch, measurement: str, layout: str) -> list[str]:
    """The points of one batch in line protocol; raises :class:`LineProtocolError`."""
    if layout == "legacy":
        place = (("place", batch.station),)
        points = (
            line(key, place, {"value": value}, sample.time_ms)
            for sample in batch.samples
            for key, value in sample.values.items()
        )
        return [point for point in points if point is not None]
    tags = (("station", batch.station), ("device_id", str(batch.device_id)))
    lines = []
    series: str | None = None
    for sample in batch.samples:
        written = _fields(sample.values)
        if written:
            # Every sample of a batch has the same series: escape it once.
            series = series or _series(measurement, tags)
            lines.append(f"{series} {written} {sample.time_ms}")
    health = line(f"{measurement}_health", tags, _health_fields(batch), round(batch.arrival * 1000))
    if health is not None:
        lines.append(health)
    return lines


# --- answers ---------------------------------------------------------------------


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, MIN_RETRY_AFTER), MAX_RETRY_AFTER)


def _message(body: bytes | str | None, fallback: str) -> str:
    """InfluxDB's own words: ``error`` (1.x) or ``message`` (2.x) of a JSON body, else the text."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        text = str(data.get("message") or data.get("error") or text)
    text = " ".join(text.split())
    return (text or fallback)[:REASON_LIMIT]


def classify_response(
    status: int, body: bytes | str | None, retry_after: str | None, influx: InfluxConfig
) -> SinkError:
    """The error for a write InfluxDB answered with ``status`` (not 2xx)."""
    detail = f"HTTP {status}: {_message(body, 'no message')}"
    if status >= 500 or status in RETRY_STATUSES:
        return SinkUnavailableError(detail, _retry_after(retry_after))
    if status in CONFIG_STATUSES:
        return InfluxConfigError(f"{detail}; {_config_hint(status, influx)}")
    return SinkRejectedError(detail)


def _config_hint(status: int, influx: InfluxConfig) -> str:
    if influx.api == 1:
        credentials = "influxdb.username and influxdb.password"
        target = f"database {influx.database!r}" + (
            f" (retention policy {influx.retention_policy!r})" if influx.retention_policy else ""
        )
        create = f'create it with CREATE DATABASE "{influx.database}" or fix influxdb.database'
    else:
        credentials = "influxdb.token"
        target = f"bucket {influx.bucket!r} of org {influx.org!r}"
        create = "create it or fix influxdb.org and influxdb.bucket"
    if status == 401:
        return f"InfluxDB does not accept the credentials: check {credentials}"
    if status == 403:
        return f"these credentials may not write to {target}: grant write access"
    return f"no {target} at {influx.url}: {create}, and check influxdb.url"


# --- writing -------------------------------------------------------------------------


class _Writer(Protocol):
    def write(self, body: bytes) -> None:
        """POST line protocol; raise :class:`SinkError` unless InfluxDB took it all."""

    def close(self) -> None: ...


class _V1Writer:
    """``POST /write?db=..&rp=..&precision=ms`` with Basic auth, for InfluxDB 1.x."""

    def __init__(self, influx: InfluxConfig) -> None:
        self.influx = influx
        query = {"db": influx.database, "precision": "ms"}
        if influx.retention_policy:
            query["rp"] = influx.retention_policy
        self.url = f"{influx.url.rstrip('/')}/write?{urlencode(query)}"
        self.headers = {"Content-Type": "text/plain; charset=utf-8"}
        if influx.username is not None:
            pair = f"{influx.username}:{influx.password or ''}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        self.pool = urllib3.PoolManager(
            num_pools=1,
            maxsize=1,
            cert_reqs="CERT_REQUIRED" if influx.verify_ssl else "CERT_NONE",
            ca_certs=influx.ssl_ca_cert,
            timeout=urllib3.Timeout(connect=influx.timeout, read=influx.timeout),
            retries=False,
        )

    def write(self, body: bytes) -> None:
        try:
            response = self.pool.request("POST", self.url, body=body, headers=self.headers)
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise SinkUnavailableError(f"cannot reach {self.influx.url}: {err}") from err
        if not 200 <= response.status < 300:
            raise classify_response(
                response.status, response.data, response.headers.get("Retry-After"), self.influx
            )

    def close(self) -> None:
        self.pool.clear()


class _V2Writer:
    """``influxdb-client``'s synchronous write API, for InfluxDB 2.x, 3.x and 1.8+."""

    def __init__(self, influx: InfluxConfig) -> None:
        self.influx = influx
        # Without a token, InfluxDB 1.8's v2 endpoint takes "username:password".
        token = influx.token or ""
        if not token and influx.username is not None:
            token = f"{influx.username}:{influx.password or ''}"
        # Imported here, for API 2 alone: the library and what it brings cost
        # about 13 MB of memory that a bridge writing with API 1 does not need.
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.client = InfluxDBClient(
            url=influx.url,
            token=token,
            org=influx.org,
            timeout=round(influx.timeout * 1000),
            verify_ssl=influx.verify_ssl,
            ssl_ca_cert=influx.ssl_ca_cert,
            connection_pool_maxsize=1,
        )
        self.api = self.client.write_api(write_options=SYNCHRONOUS)

    def write(self, body: bytes) -> None:
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        # The library declares its precision constants as plain strings.
        milliseconds: WritePrecision = WritePrecision.MS  # type: ignore[assignment]
        try:
            self.api.write(
                bucket=self.influx.bucket,
                org=self.influx.org,
                record=body,
                write_precision=milliseconds,
            )
        except ApiException as err:
            if not err.status:  # the client's way of saying a TLS handshake failed
                raise SinkUnavailableError(f"cannot reach {self.influx.url}: {err.reason}") from err
            retry_after = err.headers.get("Retry-After") if err.headers else None
            raise classify_response(err.status, err.body, retry_after, self.influx) from err
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise SinkUnavailableError(f"cannot reach {self.influx.url}: {err}") from err

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]


def _points_per_batch(influx: InfluxConfig, config: Config) -> int:
    """The most points one packet of any configured station can become."""
    parsers = [station.parser for station in config.stations.values()]
    if config.unknown_stations.action == "decode":
        parsers.append(make_parser(config.unknown_stations.parser))
    if influx.layout == "legacy":
        return max((p.store_records * len(p.all_fields) for p in parsers), default=1)
    return max((p.store_records for p in parsers), default=0) + 1


def _requests(lines_per_batch: Iterable[list[str]], batch_size: int) -> Iterator[list[str]]:
    """Whole batches' lines in groups of at most ``batch_size`` points (one batch
    may exceed it alone)."""
    group: list[str] = []
    for lines in lines_per_batch:
        if group and len(group) + len(lines) > batch_size:
            yield group
            group = []
        group.extend(lines)
    if group:
        yield group


class InfluxSink(Sink):
    """Writes batches to InfluxDB; see the module's docstring for what and how."""

    name = "influxdb"

    def __init__(self, influx: InfluxConfig, config: Config) -> None:
        self.influx = influx
        self.batch_limit = max(1, influx.batch_size // _points_per_batch(influx, config))
        self._writer: _Writer = _V1Writer(influx) if influx.api == 1 else _V2Writer(influx)
        # Both clients block; one thread of their own keeps them off the event
        # loop and their requests in order.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wxstation-influx")
        self._config_problem: str | None = None
        target = f"database {influx.database}" if influx.api == 1 else f"bucket {influx.bucket}"
        log.info(
            "InfluxDB: %s, API v%d, %s, %s layout", influx.url, influx.api, target, influx.layout
        )

    async def deliver(self, batches: Sequence[Batch]) -> None:
        per_batch = []
        for batch in batches:
            try:
                per_batch.append(batch_lines(batch, self.influx.measurement, self.influx.layout))
            except LineProtocolError as err:
                raise SinkRejectedError(
                    f"{batch.station} ({batch.device_id}) cannot be written to InfluxDB: {err}"
                ) from err
        loop = asyncio.get_running_loop()
        try:
            for group in _requests(per_batch, self.influx.batch_size):
                body = "\n".join(group).encode()
                await loop.run_in_executor(self._executor, self._writer.write, body)
        except SinkUnavailableError as err:
            if isinstance(err, InfluxConfigError) and err.reason != self._config_problem:
                self._config_problem = err.reason
                log.error("InfluxDB refuses every write until its config is fixed: %s", err.reason)
            raise
        if self._config_problem is not None:
            log.info("InfluxDB accepts writes again")
            self._config_problem = None
        await self._gather(batches)

    async def _gather(self, batches: Sequence[Batch]) -> None:
        """After a small write of packets that have just arrived, wait until
        ``flush_interval`` after the newest, so that stations waking together
        go out in one request instead of one request each."""
        if not batches or len(batches) >= self.batch_limit:
            return
        newest = max(batch.arrival for batch in batches)
        wait = min(newest + self.influx.flush_interval - time.time(), self.influx.flush_interval)
        if wait > 0:
            await asyncio.sleep(wait)

    async def stop(self) -> None:
        # Closed on the writer's own thread, so after any write still running.
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._writer.close)
        finally:
            self._executor.shutdown(wait=False)
