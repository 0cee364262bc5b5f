"""The bridge's problems: the model, its words without secrets, and the MQTT sink's
retained list against a real Mosquitto (what the Home Assistant integration reads)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.sim import SimStation
from bridge.sinks.mqtt import MqttSink
from bridge.sinks.uploads.base import UploadRefusedError
from bridge.sinks.uploads.wunderground import WundergroundSink
from tests.support.bridge import bridge_config
from tests.support.mqtt import Watcher, retained, running_sink
from tests.support.servers import Mosquitto
from tests.support.uploads import Recorded, upload_server
from tests.support.waiting import eventually
from wxstation.config import Config, UploadConfig
from wxstation.discovery import Topics
from wxstation.parsers import ReferenceParser
from wxstation.payloads import encode, problems_payload
from wxstation.problems import (
    DISK_READ_ONLY,
    HIDDEN,
    UPLOAD_REFUSED,
    Problem,
    ProblemFormatError,
    Problems,
    disk_damaged,
    disk_io_error,
    disk_read_only,
    read_problems,
    upload_key,
    upload_refused,
)
from wxstation.samples import make_batch
from wxstation.timing import StationClock

TOPIC = Topics().problems
#: 2026-12-07 15:30:00 UTC.
T0 = 1_796_657_400.0
KEY = "s3cret-Key-9f2"


def upload(key: str = KEY, url: str | None = None) -> UploadConfig:
    return UploadConfig(service="wunderground", station=1, id="KXXYYY12", key=key, url=url)


def make_config(broker: Mosquitto, tmp_path: Path) -> Config:
    return bridge_config(tmp_path, {"mqtt": {"host": broker.host, "port": broker.port}})


def read_only(since: float = T0) -> Problem:
    return disk_read_only("/var/lib/wxstation/wx.db", "[Errno 30] Read-only file system", since)


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    with Mosquitto() as server:
        yield server


# --- the model -------------------------------------------------------------------------


def test_a_problem_raised_again_keeps_its_since_and_takes_the_new_words() -> None:
    """Raising a held problem changes the set only when its words change, and it
    keeps the moment it began; clearing says whether it was held."""
    problems = Problems()
    assert problems.raise_problem(read_only(T0))
    assert not problems.raise_problem(read_only(T0 + 60))
    other = disk_read_only("/var/lib/wxstation/wx.db", "[Errno 5] Input/output error", T0 + 90)
    assert problems.raise_problem(other)
    [held] = problems.current()
    assert held.since == T0
    assert held.message == other.message
    assert DISK_READ_ONLY in problems
    assert problems.clear(DISK_READ_ONLY)
    assert not problems.clear(DISK_READ_ONLY)
    assert len(problems) == 0


def test_the_set_lists_the_oldest_problem_first() -> None:
    """Every problem held, one per key, the oldest first."""
    problems = Problems()
    problems.raise_problem(read_only(T0 + 10))
    problems.raise_problem(disk_damaged("/d/wx.db", "malformed", "/d/wx.db.damaged", T0))
    problems.raise_problem(disk_io_error("/d/wx.db", "[Errno 5] Input/output error", T0 + 5))
    assert [p.key for p in problems] == ["disk_damaged", "disk_io_error", "disk_read_only"]


def test_a_published_problem_reads_back_as_it_was() -> None:
    """What the MQTT sink publishes (``problems_payload``) reads back into the same
    problems, with the time at millisecond precision."""
    problems = [read_only(T0 + 0.25), disk_damaged("/d/wx.db", "malformed", "/d/x", T0)]
    payload = problems_payload(problems)
    assert payload[0]["key"] == "disk_damaged"
    assert payload[1]["since"] == "2026-12-07T15:30:00.250Z"
    assert read_problems(payload) == sorted(problems, key=lambda p: p.since)
    assert read_problems([]) == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"key": "x"}, "not a JSON list"),
        (["x"], "not a JSON object"),
        ([{"key": "x"}], "no 'kind' text"),
        ([{**read_only().as_dict(), "since": "yesterday"}], "'since' is not a time"),
    ],
)
def test_a_malformed_list_is_refused_with_the_reason(payload: object, reason: str) -> None:
    """A list that is not the bridge's problems raises an error that says what is wrong."""
    with pytest.raises(ProblemFormatError, match=reason):
        read_problems(payload)


# --- no secret in the words ------------------------------------------------------------


def test_an_upload_problem_never_holds_the_key_whatever_the_answer_echoed() -> None:
    """The network's answer goes into the problem without the upload's key, as it is
    and as a URL quotes it; the key names the upload by network and station id."""
    key = "p@ss word/1"
    answer = f"refused ID=KXXYYY12&PASSWORD=p%40ss+word%2F1 (password {key})"
    problem = upload_refused(upload(key), "Weather Underground", answer, T0, credentials=True)
    assert problem.key == upload_key(upload(key)) == "upload_refused:wunderground:KXXYYY12"
    assert problem.kind == UPLOAD_REFUSED
    text = encode(problems_payload([problem])).decode()
    assert key not in text
    assert "p%40ss+word%2F1" not in text
    assert f"PASSWORD={HIDDEN}" in problem.message
    assert "KXXYYY12" in problem.title
    # An observation refused (not the key) is the same upload's problem, in other words.
    other = upload_refused(upload(key), "Weather Underground", answer, T0, credentials=False)
    assert other.key == problem.key
    assert "refused an observation" in other.title
    assert key not in encode(problems_payload([other])).decode()


async def test_a_real_refusal_becomes_a_problem_without_the_key() -> None:
    """Weather Underground refusing a wrong key, with an answer that echoes the
    request, becomes the upload's problem: the network's words, what to do, and
    the key nowhere."""

    def echo(request: Recorded) -> tuple[int, str, dict[str, str]]:
        return 401, f"INVALIDPASSWORDID for {request.query}", {}

    async with upload_server() as server:
        server.answer = echo
        sink = WundergroundSink(upload(url=server.url))
        sim = SimStation(1, ReferenceParser(), T0 - 3600)
        batch, _ = make_batch("Garden", ReferenceParser(), StationClock(), sim.wake().packet, T0)
        with pytest.raises(UploadRefusedError) as refused:
            await sink.deliver([batch])
        await sink.stop()
    assert KEY in server.requests[0].query.values()
    err = refused.value
    problem = upload_refused(sink.upload, sink.label, err.reason, T0, credentials=err.credentials)
    assert "INVALIDPASSWORDID" in problem.message
    assert "uploads: id and key" in problem.action
    assert KEY not in encode(problems_payload([problem])).decode()


# --- published over MQTT ---------------------------------------------------------------


@pytest.mark.servers
async def test_the_problems_are_retained_and_an_empty_list_clears_them(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """The sink publishes the whole set retained on ``<base>/bridge/problems``: at
    its connection (``[]`` before any report, replacing a list a previous run
    left), again only when it changed, ``[]`` once none holds, and the newest set
    when a report comes while the one before is still being sent."""
    watcher = Watcher(broker, TOPIC)
    try:
        watcher.publish(TOPIC, encode(problems_payload([read_only(T0 - 100)])), retain=True)
        async with running_sink(make_config(broker, tmp_path)) as sink:
            kept = await retained(broker, TOPIC)
            assert kept[TOPIC].json() == []
            problems = Problems()
            problems.raise_problem(read_only())
            sink.report_problems(problems.current())
            sink.report_problems(problems.current())
            await eventually(lambda: _last(watcher) == problems_payload([read_only()]), "one")
            await asyncio.sleep(0.5)
            assert [m.json() for m in watcher.on(TOPIC)].count(_last(watcher)) == 1
            # Cleared while the raise is being sent: the broker ends with the truth.
            problems.raise_problem(disk_io_error("/d/wx.db", "EIO", T0 + 1))
            sink.report_problems(problems.current())
            await asyncio.sleep(0)
            problems.clear("disk_io_error")
            problems.clear(DISK_READ_ONLY)
            sink.report_problems(problems.current())
            await eventually(lambda: _last(watcher) == [], "the empty list")
        kept = await retained(broker, TOPIC)
        assert kept[TOPIC].json() == []
    finally:
        watcher.close()


@pytest.mark.servers
async def test_the_problems_are_published_again_after_the_broker_forgot_them(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """A set reported before the connection goes out with it, and a broker that
    lost its retained messages gets the set again at the reconnection."""
    config = make_config(broker, tmp_path)
    assert config.mqtt is not None
    refused = upload_refused(upload(), "Weather Underground", "INVALID", T0, credentials=True)
    payload = problems_payload([refused])
    sink = MqttSink(config.mqtt, config)
    sink.report_problems([refused])
    await sink.start()
    try:
        await eventually(lambda: _retained_is(broker, payload), "the problems", 15)
        await asyncio.to_thread(broker.restart)
        await eventually(lambda: _retained_is(broker, payload), "the problems again", 30)
    finally:
        await sink.stop()


def _last(watcher: Watcher) -> object:
    seen = watcher.last(TOPIC)
    return None if seen is None else seen.json()


async def _retained_is(broker: Mosquitto, payload: object) -> bool:
    kept = await retained(broker, TOPIC)
    return TOPIC in kept and kept[TOPIC].json() == payload
