"""The InfluxDB sink: line protocol, error handling, and real servers end to end.

Real servers: InfluxDB 1.6 (Debian) through the 1.x ``/write`` API, and
VictoriaMetrics (Debian) through the v2 write API with ``influxdb-client``. The
error handling is tested against a small real HTTP server that answers as told.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.runtime.assembly import Assembly
from bridge.runtime.status import RuntimeEvents
from bridge.runtime.store import Store
from bridge.sim import SimStation, run_fleet
from bridge.sinks import SinkRejectedError, SinkUnavailableError
from bridge.sinks import influx as influx_module
from bridge.sinks.influx import (
    InfluxConfigError,
    InfluxSink,
    LineProtocolError,
    batch_lines,
    line,
)
from bridge.spool import Spool
from bridge.stages import StageClock
from tests.support.bridge import bridge_config, running_bridge
from tests.support.ledger import READINGS, readings_samples
from tests.support.servers import InfluxDB1, VictoriaMetrics, free_port
from tests.support.waiting import eventually
from wxstation.config import Config, parse_config
from wxstation.packets import Received
from wxstation.parsers import make_parser
from wxstation.samples import Batch, make_batch
from wxstation.timing import StationClock

PARSER = make_parser("reference")
GRAFANA = Path(__file__).resolve().parent.parent / "grafana"
DAY = 86400.0
PEER = "127.0.0.1:50000"
#: Two stations, one with a name that needs escaping in line protocol.
STATIONS = {1: {"name": "Garden"}, 2: {"name": "Shed, north=2"}}


def influx_config(url: str, **options: Any) -> Config:
    return parse_config(
        {"stations": STATIONS, "influxdb": {"url": url, "flush_interval": 0.05, **options}}
    )


def sink_for(config: Config) -> InfluxSink:
    assert config.influxdb is not None
    return InfluxSink(config.influxdb, config)


def station_wakes(device_id: int, count: int, start: float, seed: int = 0) -> list[Received]:
    """What a station delivers on ``count`` wake-ups in a row, as the receiver stores it."""
    station = SimStation(device_id, PARSER, start, seed=seed, clock_factor=1.02)
    received = []
    for _ in range(count):
        wake = station.wake()
        station.delivered()
        received.append(Received(wake.packet, wake.arrival, PEER))
    return received


def batches_of(device_id: int, name: str, count: int, start: float) -> list[Batch]:
    clock = StationClock()
    batches = []
    for item in station_wakes(device_id, count, start):
        batch, clock = make_batch(name, PARSER, clock, item.data, item.received_at)
        batches.append(batch)
    return batches


def expected_points(batches: list[Batch]) -> dict[tuple[str, int], dict[str, float]]:
    return {(b.station, s.time_ms): s.values for b in batches for s in b.samples}


# --- a real HTTP server that answers as told ----------------------------------------


@dataclass
class Reply:
    status: int = 204
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str


class FakeInflux:
    """An HTTP server on a free loopback port: answers each POST with the next
    queued :class:`Reply` (204 when none is left) and records what it was sent."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[Request] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                url = urllib.parse.urlsplit(self.path)
                fake.requests.append(
                    Request(
                        url.path,
                        dict(urllib.parse.parse_qsl(url.query)),
                        dict(self.headers.items()),
                        body.decode(),
                    )
                )
                reply = fake.replies.pop(0) if fake.replies else Reply()
                time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads ``requests`` instead."""

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                """A client that gave up (timeout test) is expected, not an error."""

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeInflux]:
    server = FakeInflux()
    yield server
    server.close()


@contextlib.asynccontextmanager
async def open_sink(config: Config) -> AsyncIterator[InfluxSink]:
    sink = sink_for(config)
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()


# --- line protocol --------------------------------------------------------------


def test_api_1_does_without_the_v2_client_library() -> None:
    """A bridge writing with API 1 never imports ``influxdb-client`` (about 13 MB
    of memory); API 2 does, when its sink is built. In a fresh interpreter, so
    that no other test's imports count."""
    program = (
        "import sys\n"
        "from wxstation.config import parse_config\n"
        "from bridge.sinks.influx import InfluxSink\n"
        "for api in (1, 2):\n"
        "    config = parse_config({'influxdb': {'url': 'http://127.0.0.1:9', 'api': api}})\n"
        "    InfluxSink(config.influxdb, config)\n"
        "    print(api, 'influxdb_client' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split("\n")[:2] == ["1 False", "2 True"]


def test_line_escapes_names() -> None:
    """Test that commas, spaces and equals signs in names are escaped where line
    protocol needs it, tags are sorted and every value is written as a float."""
    text = line(
        "my weather,x=1",
        [("station", "Shed, north=2"), ("device_id", "2")],
        {"wind speed": 3, "a=b,c": 2.5},
        1_790_000_000_123,
    )
    assert text == (
        r"my\ weather\,x=1,device_id=2,station=Shed\,\ north\=2 "
        r"wind\ speed=3.0,a\=b\,c=2.5 1790000000123"
    )


def test_line_keeps_full_float_precision_and_drops_non_finite() -> None:
    """Test that floats round-trip exactly, and NaN and infinity are left out."""
    text = line("w", [("s", "a")], {"x": 0.1 + 0.2, "y": 1e-05, "z": float("nan")}, 5)
    assert text == "w,s=a x=0.30000000000000004,y=1e-05 5"
    assert line("w", [("s", "a")], {"x": float("inf")}, 5) is None


@pytest.mark.parametrize("name", ["ends\\", "two\\\\in a row", "before\\,comma", "line\nbreak", ""])
def test_line_refuses_names_servers_read_differently(name: str) -> None:
    """Test that names InfluxDB 1.x and 2.x would store differently are refused."""
    with pytest.raises(LineProtocolError):
        line("w", [("station", name)], {"x": 1.0}, 1)


def test_lone_backslash_is_kept() -> None:
    """Test that a backslash before an ordinary character is written as it is."""
    assert line("w", [("station", "a\\b")], {"x": 1.0}, 1) == "w,station=a\\b x=1.0 1"


def test_default_and_legacy_layouts() -> None:
    """Test the points of one batch: a point per sample plus health (default), or
    a point per value in a measurement per quantity tagged place (legacy)."""
    (batch,) = batches_of(1, "Garden", 1, 1_790_000_000.0)
    first = batch.samples[0]
    default = batch_lines(batch, "weather", "default")
    assert len(default) == len(batch.samples) + 1
    assert default[0] == (
        f"weather,device_id=1,station=Garden light={first.values['light']!r},"
        f"humidity={first.values['humidity']!r},"
        f"temperature={first.values['temperature']!r} {first.time_ms}"
    )
    assert default[-1] == (
        "weather_health,device_id=1,station=Garden samples=30.0,announced=30.0,"
        f"received=30.0,resent=0.0,interval={round(batch.spacing, 3)!r},clock_error=0.0,"
        f"wake_every=3600.0,measure_every=120.0,out_of_range=0.0,id_clashes=0.0 "
        f"{round(batch.arrival * 1000)}"
    )
    legacy = batch_lines(batch, "weather", "legacy")
    assert len(legacy) == 3 * len(batch.samples)
    assert legacy[:3] == [
        f"{key},place=Garden value={first.values[key]!r} {first.time_ms}"
        for key in ("light", "humidity", "temperature")
    ]


def test_batch_limit_follows_batch_size() -> None:
    """Test that one delivery holds at most batch_size points of full packets."""
    default = influx_config("http://127.0.0.1:1", batch_size=5000)
    legacy = influx_config("http://127.0.0.1:1", batch_size=5000, layout="legacy")
    assert sink_for(default).batch_limit == 5000 // (58 + 1)
    assert sink_for(legacy).batch_limit == 5000 // (58 * 3)


# --- requests and answers, against a real HTTP server ------------------------------


async def test_v1_request(fake: FakeInflux) -> None:
    """Test the 1.x write: /write with db, rp and ms precision, Basic auth, and
    requests of whole batches up to batch_size points."""
    config = influx_config(
        fake.url + "/influx/",
        api=1,
        database="wx",
        retention_policy="year",
        username="bridge",
        password="s3cret",  # noqa: S106  (the test server's, checked below)
        batch_size=62,  # two packets of 30 samples and a health point each
    )
    batches = batches_of(1, "Garden", 3, 1_790_000_000.0)
    async with open_sink(config) as sink:
        await sink.deliver(batches)
    assert [r.path for r in fake.requests] == ["/influx/write"] * 2
    assert fake.requests[0].query == {"db": "wx", "rp": "year", "precision": "ms"}
    assert fake.requests[0].headers["Authorization"] == "Basic YnJpZGdlOnMzY3JldA=="
    lines = [batch_lines(b, "weather", "default") for b in batches]
    sent = [r.body.split("\n") for r in fake.requests]
    assert sent == [lines[0] + lines[1], lines[2]]


async def test_v2_request(fake: FakeInflux) -> None:
    """Test the v2 write through influxdb-client: org, bucket, ms precision, token."""
    config = influx_config(
        fake.url,
        api=2,
        token="t0k",  # noqa: S106  (the test server's)
        org="home",
        bucket="wx",
    )
    batches = batches_of(1, "Garden", 2, 1_790_000_000.0)
    async with open_sink(config) as sink:
        await sink.deliver(batches)
    (request,) = fake.requests
    assert request.path == "/api/v2/write"
    assert request.query == {"org": "home", "bucket": "wx", "precision": "ms"}
    assert request.headers["Authorization"] == "Token t0k"
    assert request.body.split("\n") == [
        point for b in batches for point in batch_lines(b, "weather", "default")
    ]


@pytest.mark.parametrize("api", [1, 2])
@pytest.mark.parametrize(
    ("reply", "retry_after"),
    [
        (Reply(429, b'{"code":"too many requests"}', {"Retry-After": "7"}), 7.0),
        (Reply(503, b"", {"Retry-After": "in 30 s as an HTTP date"}), 30.0),
        (Reply(500, b'{"error":"timeout"}'), None),
        (Reply(502, b"<html>Bad Gateway</html>"), None),
        (Reply(503, b"", {"Retry-After": "0"}), influx_module.MIN_RETRY_AFTER),
    ],
)
async def test_busy_or_down_is_unavailable(
    fake: FakeInflux, api: int, reply: Reply, retry_after: float | None
) -> None:
    """Test that 5xx and 429 are retryable, honouring Retry-After (seconds or date)."""
    if "HTTP date" in reply.headers.get("Retry-After", ""):
        reply.headers["Retry-After"] = formatdate(time.time() + 30, usegmt=True)
    fake.replies.append(reply)
    async with open_sink(influx_config(fake.url, api=api)) as sink:
        with pytest.raises(SinkUnavailableError) as caught:
            await sink.deliver(batches_of(1, "Garden", 1, 1_790_000_000.0))
    assert caught.type is SinkUnavailableError
    assert caught.value.reason.startswith(f"HTTP {reply.status}")
    if retry_after is None:
        assert caught.value.retry_after is None
    else:
        assert caught.value.retry_after == pytest.approx(retry_after, abs=2)


@pytest.mark.parametrize("api", [1, 2])
@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            Reply(400, b'{"error":"partial write: field type conflict: input field..."}'),
            "HTTP 400: partial write: field type conflict: input field...",
        ),
        (
            Reply(422, b'{"code":"unprocessable entity","message":"points beyond retention"}'),
            "HTTP 422: points beyond retention",
        ),
        (Reply(413, b"request too large"), "HTTP 413: request too large"),
    ],
)
async def test_bad_data_is_rejected_with_influxdb_message(
    fake: FakeInflux, api: int, reply: Reply, message: str
) -> None:
    """Test that a refusal of the data itself is permanent and carries InfluxDB's words."""
    fake.replies.append(reply)
    async with open_sink(influx_config(fake.url, api=api)) as sink:
        with pytest.raises(SinkRejectedError) as caught:
            await sink.deliver(batches_of(1, "Garden", 1, 1_790_000_000.0))
    assert caught.value.reason == message


@pytest.mark.parametrize(
    ("api", "status", "hint"),
    [
        (1, 401, "check influxdb.username and influxdb.password"),
        (2, 401, "check influxdb.token"),
        (2, 403, "may not write to bucket 'wxstation' of org 'wxstation'"),
        (1, 404, 'create it with CREATE DATABASE "wxstation"'),
    ],
)
async def test_config_problem_waits_and_says_what_to_fix(
    fake: FakeInflux, caplog: pytest.LogCaptureFixture, api: int, status: int, hint: str
) -> None:
    """Test that 401/403/404 keep nothing aside: retried slowly, one ERROR line
    naming the setting, and a line when writes are accepted again."""
    fake.replies += [Reply(status, b'{"message":"nope"}')] * 2
    batches = batches_of(1, "Garden", 1, 1_790_000_000.0)
    caplog.set_level(logging.INFO, logger=influx_module.__name__)
    async with open_sink(influx_config(fake.url, api=api)) as sink:
        for _ in range(2):
            with pytest.raises(InfluxConfigError) as caught:
                await sink.deliver(batches)
            assert hint in caught.value.reason
            assert caught.value.retry_after == influx_module.CONFIG_RETRY
        await sink.deliver(batches)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert hint in errors[0].getMessage()
    assert caplog.records[-1].getMessage() == "InfluxDB accepts writes again"


@pytest.mark.parametrize("api", [1, 2])
async def test_no_answer_is_unavailable(fake: FakeInflux, api: int) -> None:
    """Test that a refused connection and a timeout are retryable."""
    closed = influx_config(f"http://127.0.0.1:{free_port()}", api=api)
    batches = batches_of(1, "Garden", 1, 1_790_000_000.0)
    async with open_sink(closed) as sink:
        with pytest.raises(SinkUnavailableError, match="cannot reach"):
            await sink.deliver(batches)
    fake.replies.append(Reply(delay=1.0))
    async with open_sink(influx_config(fake.url, api=api, timeout=0.2)) as sink:
        with pytest.raises(SinkUnavailableError, match="cannot reach"):
            await sink.deliver(batches)


async def test_unwritable_station_name_is_rejected(fake: FakeInflux) -> None:
    """Test that a batch whose name line protocol cannot carry is refused, not sent."""
    (batch,) = batches_of(1, "Garden\\", 1, 1_790_000_000.0)
    async with open_sink(influx_config(fake.url)) as sink:
        with pytest.raises(SinkRejectedError, match="Garden"):
            await sink.deliver([batch])
    assert fake.requests == []


async def test_flush_interval_gathers_packets_that_just_arrived(fake: FakeInflux) -> None:
    """Test that after writing a packet that has just arrived the sink waits up to
    flush_interval (so a burst goes out together), and not for old packets."""
    old = batches_of(1, "Garden", 1, 1_790_000_000.0)
    fresh = [replace(old[0], arrival=time.time())]
    async with open_sink(influx_config(fake.url, flush_interval=0.5)) as sink:
        began = time.monotonic()
        await sink.deliver(old)
        assert time.monotonic() - began < 0.3
        await sink.deliver(fresh)
        assert 0.2 < time.monotonic() - began < 1.0


# --- real servers ----------------------------------------------------------------------


@pytest.fixture
def influxdb() -> Iterator[InfluxDB1]:
    with InfluxDB1() as server:
        server.create_database("wx")
        yield server


@pytest.fixture
def victoria() -> Iterator[VictoriaMetrics]:
    with VictoriaMetrics() as server:
        yield server


@contextlib.asynccontextmanager
async def pipeline(config: Config, tmp_path: Path) -> AsyncIterator[tuple[Assembly, Spool]]:
    """The bridge's real runtime, not listening, with one InfluxDB sink and a
    spool in ``tmp_path``: packets are put to its committer directly."""
    with Spool(tmp_path / "wx.db") as spool:
        store = Store(spool, StageClock())
        running = Assembly(
            config,
            store,
            [sink_for(config)],
            events=RuntimeEvents(),
            stages=store.stages,
            clock=time.time,
        )
        await running.start()
        try:
            yield running, spool
        finally:
            await running.stop(5.0)
            store.close()


async def delivered(running: Assembly, packets: int) -> None:
    """Wait until ``packets`` packets are decoded (or kept aside) and the
    sink's progress reaches the newest stored batch."""
    store = running.store

    async def done() -> bool:
        counts = await store.counts()
        if counts.get("done", 0) + counts.get("kept", 0) < packets:
            return False
        return await store.progress("influxdb") == await store.last_seq()

    await eventually(done, "the sink to catch up", 20)


def influx_points(server: InfluxDB1) -> list[dict[str, Any]]:
    return server.query('SELECT * FROM "weather" GROUP BY "station", "device_id"', "wx")


def stored_samples(spool: Spool) -> dict[tuple[str, int], dict[str, float]]:
    return {(station, time_ms): values for _, station, time_ms, values in spool.export.samples()}


def assert_exactly_once(server: InfluxDB1, stored: dict[tuple[str, int], dict[str, float]]) -> None:
    """Every stored sample is in InfluxDB once, at its millisecond, with its values."""
    rows = influx_points(server)
    assert len(rows) == len(stored)
    found = {
        (row["station"], row["time"]): {k: row[k] for k in ("light", "humidity", "temperature")}
        for row in rows
    }
    assert found == stored


async def test_influxdb1_every_sample_once_at_its_millisecond(
    influxdb: InfluxDB1, tmp_path: Path
) -> None:
    """Test that through the pipeline and the 1.x API every sample lands once, with
    its exact timestamp and values, as float fields, plus a health point per packet;
    and that delivering everything again changes nothing."""
    config = influx_config(influxdb.url, api=1, database="wx")
    start = influxdb.now() - 5 * DAY
    async with pipeline(config, tmp_path) as (running, spool):
        for item in [*station_wakes(1, 6, start), *station_wakes(2, 6, start + 100, seed=1)]:
            running.committer.put(item)
        await delivered(running, 12)
        stored = stored_samples(spool)
        batches = [batch for _, batch in spool.samples.batches(after=0, limit=100)]
    assert len(stored) == 12 * 30
    assert {station for station, _ in stored} == {"Garden", "Shed, north=2"}
    assert_exactly_once(influxdb, stored)
    fields = influxdb.query("SHOW FIELD KEYS", "wx")
    assert {row["fieldType"] for row in fields} == {"float"}
    health = influxdb.query('SELECT * FROM "weather_health" GROUP BY "station"', "wx")
    assert sorted((r["station"], r["time"]) for r in health) == sorted(
        (b.station, round(b.arrival * 1000)) for b in batches
    )
    assert {r["samples"] for r in health} == {30.0}

    async with open_sink(config) as sink:
        await sink.deliver(batches)
    assert_exactly_once(influxdb, stored)


async def test_influxdb1_legacy_layout(influxdb: InfluxDB1) -> None:
    """Test that the legacy layout writes the old server's schema: a measurement
    per quantity, tag place, float field value, and nothing else."""
    batches = batches_of(1, "Garden", 2, influxdb.now() - DAY)
    async with open_sink(
        influx_config(influxdb.url, api=1, database="wx", layout="legacy")
    ) as sink:
        await sink.deliver(batches)
    measurements = {row["name"] for row in influxdb.query("SHOW MEASUREMENTS", "wx")}
    assert measurements == {"light", "humidity", "temperature"}
    assert {row["tagKey"] for row in influxdb.query("SHOW TAG KEYS", "wx")} == {"place"}
    assert {(r["fieldKey"], r["fieldType"]) for r in influxdb.query("SHOW FIELD KEYS", "wx")} == {
        ("value", "float")
    }
    rows = influxdb.query('SELECT "value" FROM "temperature" WHERE "place" = \'Garden\'', "wx")
    assert {r["time"]: r["value"] for r in rows} == {
        s.time_ms: s.values["temperature"] for b in batches for s in b.samples
    }


async def test_influxdb1_rejected_batch_kept_aside(influxdb: InfluxDB1, tmp_path: Path) -> None:
    """Test that a batch InfluxDB refuses for good (field type conflict) is kept
    aside with InfluxDB's message, the batches around it and after it are
    written, and the sink moves on instead of retrying it."""
    config = influx_config(influxdb.url, api=1, database="wx")
    station = SimStation(1, PARSER, influxdb.now() - 60 * DAY, seed=3)
    wakes = []
    for _ in range(3):
        wake = station.wake()
        station.delivered()
        wakes.append(wake)
        station.skip(14 * 24)  # two weeks apart: each packet in its own shard group
        station.delivered()
    # A string "temperature" in the middle packet's shard makes its floats conflict.
    conflict_ms = round(wakes[1].taken[10] * 1000)
    influxdb.write(f'weather,station=other temperature="warm" {conflict_ms}', "wx")
    async with pipeline(config, tmp_path) as (running, spool):
        for wake in wakes:
            running.committer.put(Received(wake.packet, wake.arrival, PEER))
        await delivered(running, len(wakes))
        first_rejected = spool.progress.rejected()
        later = station.wake()
        running.committer.put(Received(later.packet, later.arrival, PEER))
        await delivered(running, len(wakes) + 1)
        assert spool.progress.rejected() == first_rejected
        batches = dict(spool.samples.batches(after=0, limit=10))
    ((sink_name, seq, reason),) = first_rejected
    assert sink_name == "influxdb"
    assert seq == 2
    assert "field type conflict" in reason
    assert reason.startswith("HTTP 400: partial write")
    found = {
        (row["time"], row["temperature"])
        for row in influx_points(influxdb)
        if row["station"] == "Garden"
    }
    assert len(batches) == 4
    for number in (1, 3, 4):
        for sample in batches[number].samples:
            assert (sample.time_ms, sample.values["temperature"]) in found


async def test_influxdb1_missing_database_waits_then_flows(
    influxdb: InfluxDB1, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that writing to a database that does not exist yet keeps nothing
    aside, and once it is created everything is written."""
    monkeypatch.setattr(influx_module, "CONFIG_RETRY", 0.3)
    config = influx_config(influxdb.url, api=1, database="later")
    async with pipeline(config, tmp_path) as (running, spool):
        for item in station_wakes(1, 3, influxdb.now() - DAY):
            running.committer.put(item)
        await asyncio.sleep(0.5)
        assert await running.store.progress("influxdb") == 0
        influxdb.create_database("later")
        await delivered(running, 3)
        assert spool.progress.rejected() == []
        count = sum(1 for _ in spool.export.samples())
    rows = influxdb.query('SELECT count("temperature") FROM "weather"', "later")
    assert rows[0]["count"] == count == 90


async def test_influxdb1_outage_mid_stream(
    influxdb: InfluxDB1, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Test the whole bridge with stations sending while InfluxDB is stopped and
    started again: afterwards every stored sample is in InfluxDB exactly once."""
    caplog.set_level(logging.WARNING, logger="bridge.runtime")
    raw = {
        "stations": STATIONS,
        "influxdb": {"url": influxdb.url, "api": 1, "database": "wx", "flush_interval": 0.2},
    }
    config = bridge_config(tmp_path, raw)
    async with running_bridge(config, sinks=[sink_for(config)]) as bridge:
        fleet = asyncio.create_task(
            run_fleet(
                "127.0.0.1",
                bridge.port,
                {},
                stations=10,
                rate=2.0,
                packets=16,
                wake_every_s=5,
                measure_every_s=1,
            )
        )
        await asyncio.sleep(2.5)
        await asyncio.to_thread(influxdb.stop)
        await asyncio.sleep(2.5)
        await asyncio.to_thread(influxdb.start)
        report = await fleet
        assert report.failures == 0

        def caught_up() -> bool:
            last = bridge.count("SELECT coalesce(max(seq), 0) FROM batches")
            progress = bridge.query("SELECT seq FROM sink_progress WHERE sink = 'influxdb'")
            return last == 16 and bool(progress) and progress[0][0] == last

        await eventually(caught_up, within=30, what="InfluxDB caught up")
        stored = {
            (station, time_ms): values
            for _, station, time_ms, values in readings_samples(bridge.query(READINGS))
        }
        assert bridge.count("SELECT count(*) FROM rejected") == 0
    assert len(stored) == report.samples_sent
    assert any("influxdb unavailable" in r.getMessage() for r in caplog.records)
    assert_exactly_once(influxdb, stored)


def victoria_points(server: VictoriaMetrics) -> dict[tuple[str, str, str, int], float]:
    points: dict[tuple[str, str, str, int], float] = {}
    for name, labels, time_ms, value in server.samples():
        key = (name, labels["station"], labels["device_id"], time_ms)
        assert key not in points, f"{key} twice"
        points[key] = value
    return points


def victoria_expected(batches: list[Batch]) -> dict[tuple[str, str, str, int], float]:
    expected = {}
    for batch in batches:
        device = str(batch.device_id)
        for sample in batch.samples:
            for key, value in sample.values.items():
                expected[(f"weather_{key}", batch.station, device, sample.time_ms)] = value
        arrival_ms = round(batch.arrival * 1000)
        for key, value in batch.health().items():
            if key != "last_seen":
                expected[(f"weather_health_{key}", batch.station, device, arrival_ms)] = value
    return expected


async def test_victoria_metrics_v2_api_with_outage(victoria: VictoriaMetrics) -> None:
    """Test the v2 API through influxdb-client against VictoriaMetrics: every
    sample and health value exported once with its timestamp and value, also
    when the server was down in between."""
    start = victoria.now() - DAY
    batches = batches_of(1, "Garden", 4, start) + batches_of(2, "Shed, north=2", 4, start + 50)
    first, second = batches[::2], batches[1::2]
    config = influx_config(
        victoria.url,
        api=2,
        token="any",  # noqa: S106  (VictoriaMetrics ignores it)
        org="home",
        bucket="wx",
    )
    async with open_sink(config) as sink:
        await sink.deliver(first)
        await asyncio.to_thread(victoria.stop)
        with pytest.raises(SinkUnavailableError, match="cannot reach"):
            await sink.deliver(second)
        await asyncio.to_thread(victoria.start)
        await sink.deliver(second)
    found = victoria_points(victoria)
    expected = victoria_expected(batches)
    assert found.keys() == expected.keys()
    # VictoriaMetrics keeps about 12 significant digits of a float.
    assert found == {key: pytest.approx(value, rel=1e-11) for key, value in expected.items()}


# --- the Grafana bundle -----------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    return json.loads((GRAFANA / "dashboards" / "wxstation.json").read_text(encoding="utf-8"))


def test_grafana_bundle_fits_together() -> None:
    """Test that the provisioning files parse and the dashboard's queries use the
    provisioned datasource and the dashboards folder the provider reads."""
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "wxstation.yaml").read_text(encoding="utf-8")
    )
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "wxstation.yaml").read_text(encoding="utf-8")
    )
    (source,) = datasources["datasources"]
    assert (source["type"], source["uid"]) == ("influxdb", "wxstation-influxdb")
    assert providers["providers"][0]["options"]["path"].endswith("/wxstation")
    board = dashboard()
    used = {
        target["datasource"]["uid"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
    }
    assert used == {"wxstation-influxdb"}
    assert len({panel["id"] for panel in board["panels"]}) == len(board["panels"])


async def test_grafana_dashboard_queries_answer(influxdb: InfluxDB1) -> None:
    """Test that every InfluxQL query of the dashboard, with Grafana's variables
    filled in as Grafana does, runs on InfluxDB 1.6 against what the sink wrote
    and finds data for both stations."""
    start = influxdb.now() - DAY
    batches = batches_of(1, "Garden", 3, start) + batches_of(2, "Shed, north=2", 3, start)
    async with open_sink(influx_config(influxdb.url, api=1, database="wx")) as sink:
        await sink.deliver(batches)
    since = min(s.time_ms for b in batches for s in b.samples)
    until = max(round(b.arrival * 1000) for b in batches)
    board = dashboard()
    queries = [v["query"] for v in board["templating"]["list"] if v["type"] == "query"]
    queries += [t["query"] for p in board["panels"] for t in p.get("targets", [])]
    assert len(queries) == 8
    for query in queries:
        filled = (
            query.replace("$timeFilter", f"time >= {since}ms AND time <= {until}ms")
            .replace("$__interval", "10m")
            .replace("${measurement}", "weather")
            .replace("$measurement", "weather")
            .replace("$station", "(Garden|Shed, north=2)")
        )
        assert "$" not in filled.replace("$/", "/")  # the regex's own end anchor stays
        series = influxdb.query_series(filled, "wx")
        if query.startswith("SHOW"):
            assert [value for _, value in series[0]["values"]] == ["Garden", "Shed, north=2"]
        else:
            assert {s["tags"]["station"] for s in series} == {"Garden", "Shed, north=2"}, query
