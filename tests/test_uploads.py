"""Uploads to the weather networks, against local servers that speak each protocol.

The HTTP networks run against a server that records each query; CWOP against an
APRS-IS stand-in, its packets read back by ``aprslib`` (an APRS parser that is
not ours). The pace of each network is checked on a clock the test moves: a
sink sleeps on it, so no assertion depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import aprslib
import pytest

from bridge import cli
from bridge.errors import ConfigError
from bridge.overview import sink_overviews
from bridge.sim import SimStation, send_packet_async
from bridge.sinks import SinkRejectedError, SinkUnavailableError
from bridge.sinks.uploads import SINKS, explain, upload_sinks
from bridge.sinks.uploads import base as upload_base
from bridge.sinks.uploads.base import (
    CURRENT_MAX_AGE,
    REFUSAL_RECHECK,
    Pace,
    UploadSink,
)
from bridge.sinks.uploads.pwsweather import PwsweatherSink
from bridge.sinks.uploads.wunderground import WundergroundSink
from tests.support.bridge import bridge_config, running_bridge
from tests.support.clock import Clock
from tests.support.servers import http_request
from tests.support.uploads import aprs_is, taken, upload_server
from tests.support.waiting import eventually
from wxstation.config import UploadConfig, parse_config
from wxstation.parsers import make_parser
from wxstation.protocol import Header
from wxstation.samples import Batch, Sample, parse_time

#: The samples' time: 2026-12-07 15:30:00 UTC.
T0 = 1_796_657_400
T0_MS = T0 * 1000
KEY = "s3cret-Key-9f2"
LAT, LON = 55.6761, 12.5683
#: A cold, saturated sample: negative in both Celsius and Fahrenheit, 100 % humidity.
COLD = {"temperature": -20.0, "humidity": 100.0, "dew_point": -20.0, "light": 800.0}
PARSER = make_parser("reference", derived=["dew_point"])


@dataclass
class FakeTime:
    """The sinks' clocks and sleep, moved only by the sinks' sleeping and by the test."""

    now: float = float(T0 + 5)
    slept: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make_batch(samples: list[tuple[int, dict[str, float]]], device_id: int = 1) -> Batch:
    """A decoded packet of ``samples`` (time in ms, values), as the runtime hands it."""
    count = len(samples)
    header = Header(
        bytes_ready=6 * count,
        wake_every_s=3600,
        measure_every_s=120,
        bytes_per_sample=6,
        device_id=device_id,
        sensor_count=3,
    )
    return Batch(
        device_id=device_id,
        station="Garden",
        arrival=samples[-1][0] / 1000 + 2,
        header=header,
        samples=tuple(Sample(time_ms, dict(values)) for time_ms, values in samples),
        announced=count,
        received=count,
        resent=0,
        duplicates=0,
        spacing=120.0,
        clock_factor=1.0,
        calibrated=True,
    )


def sink_for(service: str, fake: FakeTime, **options: Any) -> UploadSink:
    """The sink of one upload of station 1, on the fake clock."""
    upload = UploadConfig(service=service, station=1, **options)
    return SINKS[service](upload, clock=fake.clock, wall=fake.clock, sleep=fake.sleep)


# --- values and times, network by network -----------------------------------------


async def test_wunderground_sends_each_value_in_its_units_with_the_sample_time() -> None:
    """Weather Underground gets one GET per sample with ID, PASSWORD, dateutc (the
    sample's own time, encoded as documented), tempf, humidity, dewptf and, with a
    lux factor, solarradiation; negative Fahrenheit and 100 % come through as they are."""
    fake = FakeTime()
    async with upload_server() as server:
        sink = sink_for("wunderground", fake, id="KXXYYY12", key=KEY, url=server.url)
        sink.upload = replace(sink.upload, lux_to_wm2=0.0079)
        await sink.deliver([make_batch([(T0_MS, COLD)])])
        await sink.stop()
    [request] = taken(server)
    assert request.query == {
        "ID": "KXXYYY12",
        "PASSWORD": KEY,
        "dateutc": "2026-12-07 15:30:00",
        "tempf": "-4.0",
        "humidity": "100",
        "dewptf": "-4.0",
        "solarradiation": "6.3",
        "softwaretype": request.query["softwaretype"],
        "action": "updateraw",
    }
    assert request.query["softwaretype"].startswith("wxstation-")
    assert "dateutc=2026-12-07+15%3A30%3A00" in request.raw_query


async def test_pwsweather_and_wow_send_their_own_parameters() -> None:
    """PWSweather takes the PWS protocol's names with its own key; WOW takes
    siteid and siteAuthenticationKey, and no solar radiation."""
    fake = FakeTime()
    mild = {"temperature": 21.5, "humidity": 48.4, "dew_point": 10.04, "light": 20000.0}
    async with upload_server() as server:
        for service, station_id in (("pwsweather", "PWSSTATION"), ("wow", "123456789")):
            sink = sink_for(service, fake, id=station_id, key=KEY, url=server.url)
            sink.upload = replace(sink.upload, lux_to_wm2=0.0079)
            await sink.deliver([make_batch([(T0_MS, mild)])])
            await sink.stop()
    pws, wow = (request.query for request in taken(server))
    assert pws["ID"] == "PWSSTATION"
    assert pws["PASSWORD"] == KEY
    assert (pws["tempf"], pws["humidity"], pws["dewptf"]) == ("70.7", "48", "50.1")
    assert pws["solarradiation"] == "158.0"
    assert pws["dateutc"] == "2026-12-07 15:30:00"
    assert pws["action"] == "updateraw"
    assert wow["siteid"] == "123456789"
    assert wow["siteAuthenticationKey"] == KEY
    assert (wow["tempf"], wow["humidity"], wow["dewptf"]) == ("70.7", "48", "50.1")
    assert wow["dateutc"] == "2026-12-07 15:30:00"
    assert "solarradiation" not in wow
    assert "ID" not in wow


async def test_windy_sends_celsius_with_the_sample_time_and_the_password_in_a_header() -> None:
    """Windy gets id, time (ISO 8601 UTC), temp and dewpoint in degC and humidity;
    the password travels as a Bearer token, never in the URL."""
    fake = FakeTime()
    async with upload_server() as server:
        sink = sink_for("windy", fake, id="f1d2c3", key=KEY, url=server.url)
        await sink.deliver([make_batch([(T0_MS, COLD)])])
        await sink.stop()
    [request] = taken(server)
    assert request.query == {
        "id": "f1d2c3",
        "time": "2026-12-07T15:30:00Z",
        "temp": "-20.0",
        "humidity": "100",
        "dewpoint": "-20.0",
        "softwaretype": request.query["softwaretype"],
    }
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert KEY not in request.raw_query


async def test_cwop_packet_is_read_back_right_by_an_independent_parser() -> None:
    """CWOP gets the documented login and one weather packet that aprslib reads
    as the station's position, the sample's time, its temperature (negative)
    and 100 % humidity, with no wind claimed."""
    fake = FakeTime()
    async with aprs_is() as server:
        sink = sink_for(
            "cwop", fake, id="CW0001", server=server.address, latitude=LAT, longitude=LON
        )
        sink.upload = replace(sink.upload, lux_to_wm2=0.0079)
        await sink.deliver([make_batch([(T0_MS - 120_000, COLD), (T0_MS, COLD)])])
        await server.idle()
    [session] = server.sessions
    assert session.login.startswith("user CW0001 pass -1 vers wxstation ")
    [packet] = session.packets
    parsed = aprslib.parse(packet)
    assert parsed["from"] == "CW0001"
    assert parsed["raw_timestamp"] == "071530z"  # the newest sample's own time
    assert parsed["latitude"] == pytest.approx(LAT, abs=1 / 6000)
    assert parsed["longitude"] == pytest.approx(LON, abs=1 / 6000)
    assert parsed["symbol"] == "_"
    weather = parsed["weather"]
    assert weather["temperature"] == pytest.approx(-20.0, abs=0.3)
    assert weather["humidity"] == 100
    assert weather["luminosity"] == 6
    assert "wind_speed" not in weather or weather["wind_speed"] is None


# --- pace: rate limits and past observations ---------------------------------------


async def test_backfill_sends_every_sample_in_order_at_the_documented_rate() -> None:
    """An hour's packet of 2-minute samples goes to Weather Underground whole,
    oldest first, each with its own time, never two uploads closer than the
    network's interval; delivering the same batch again sends nothing twice."""
    fake = FakeTime(now=float(T0 + 3600))
    samples = [(T0_MS + i * 120_000, {**COLD, "temperature": -20.0 + i}) for i in range(30)]
    async with upload_server() as server:
        server.clock = fake.clock
        sink = sink_for("wunderground", fake, id="KX", key=KEY, url=server.url)
        batch = make_batch(samples)
        await sink.deliver([batch])
        await sink.deliver([batch])
        await sink.stop()
    sent = taken(server)
    assert [r.query["dateutc"] for r in sent] == [
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t // 1000)) for t, _ in samples
    ]
    gaps = [b.at - a.at for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= WundergroundSink.pace.interval
    # Nothing slept longer than the interval: the sink waits no more than it must.
    assert max(fake.slept) <= WundergroundSink.pace.interval


async def test_backfill_sends_at_most_one_sample_a_minute_of_a_fast_station() -> None:
    """A station sampling every 10 s has one sample a minute sent, the first
    one and then each a minute or more after the last one sent."""
    fake = FakeTime(now=float(T0 + 600))
    samples = [(T0_MS + i * 10_000, COLD) for i in range(19)]
    async with upload_server() as server:
        sink = sink_for("wow", fake, id="1", key=KEY, url=server.url)
        await sink.deliver([make_batch(samples)])
        await sink.stop()
    assert [r.query["dateutc"] for r in taken(server)] == [
        "2026-12-07 15:30:00",
        "2026-12-07 15:31:00",
        "2026-12-07 15:32:00",
        "2026-12-07 15:33:00",
    ]


async def test_cwop_sends_only_the_newest_sample_once_five_minutes_have_passed() -> None:
    """Packets every two minutes: CWOP gets the first, then the newest sample of
    the first packet that comes five minutes or more after the last one sent,
    never anything sooner, and never a sample older than the network's 'now'."""
    fake = FakeTime(now=float(T0))
    async with aprs_is() as server:
        sink = sink_for(
            "cwop", fake, id="CW0001", server=server.address, latitude=LAT, longitude=LON
        )
        sent_at = []
        for minute in range(0, 22, 2):
            fake.now = T0 + minute * 60 + 2
            before = len(server.packets)
            await sink.deliver([make_batch([(T0_MS + minute * 60_000, COLD)])])
            await server.idle()
            if len(server.packets) > before:
                sent_at.append(minute)
        # A backlog's old packet is not sent as the present.
        fake.now += 3600
        await sink.deliver([make_batch([(int(fake.now - CURRENT_MAX_AGE - 60) * 1000, COLD)])])
        await server.idle()
    assert sent_at == [0, 6, 12, 18]
    stamps = [aprslib.parse(packet)["raw_timestamp"] for packet in server.packets]
    assert stamps == ["071530z", "071536z", "071542z", "071548z"]


async def test_windy_paces_like_cwop() -> None:
    """Windy takes one observation every five minutes: a batch sooner than that
    after the last upload is passed over without a request."""
    fake = FakeTime(now=float(T0 + 2))
    async with upload_server() as server:
        sink = sink_for("windy", fake, id="w1", key=KEY, url=server.url)
        await sink.deliver([make_batch([(T0_MS, COLD)])])
        fake.now += 240
        await sink.deliver([make_batch([(T0_MS + 240_000, COLD)])])
        fake.now += 60
        await sink.deliver([make_batch([(T0_MS + 300_000, COLD)])])
        await sink.stop()
    assert [r.query["time"] for r in server.requests] == [
        "2026-12-07T15:30:00Z",
        "2026-12-07T15:35:00Z",
    ]


# --- refusals and outages -------------------------------------------------------------


async def test_a_refused_key_raises_rejected_with_the_answer_and_asks_again_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Weather Underground's text answer to a wrong key makes the batch rejected
    with its words; the batches that follow are refused without asking the
    network until the recheck time, and the problem is logged once."""
    fake = FakeTime()
    answer = "INVALIDPASSWORDID|Password or key and/or id are incorrect"
    async with upload_server() as server:
        server.answer = lambda request: (200, answer + "\n", {})
        sink = sink_for("wunderground", fake, id="KX", key=KEY, url=server.url)
        with caplog.at_level(logging.ERROR, "bridge.sinks.uploads"):
            for minute in range(3):
                with pytest.raises(SinkRejectedError) as refused:
                    await sink.deliver([make_batch([(T0_MS + minute * 60_000, COLD)])])
                assert answer in refused.value.reason
                assert KEY not in refused.value.reason
        assert len(server.requests) == 1
        errors = [r for r in caplog.records if r.name.startswith("bridge.sinks.uploads")]
        assert len(errors) == 1
        assert KEY not in errors[0].getMessage()
        # After the recheck time the network is asked again, and takes the fixed key.
        fake.now += REFUSAL_RECHECK
        server.answer = lambda request: (200, "success\n", {})
        await sink.deliver([make_batch([(T0_MS + 600_000, COLD)])])
        await sink.stop()
    assert len(server.requests) == 2


async def test_http_statuses_are_sorted_into_refused_and_not_now() -> None:
    """PWSweather's 401 is a refusal of the key; a 503 or no server at all is
    'not now', so the runtime keeps the batch and tries again."""
    fake = FakeTime()
    async with upload_server() as server:
        sink = sink_for("pwsweather", fake, id="P", key=KEY, url=server.url)
        server.answer = lambda request: (503, "maintenance", {"Retry-After": "30"})
        with pytest.raises(SinkUnavailableError) as later:
            await sink.deliver([make_batch([(T0_MS, COLD)])])
        assert later.value.retry_after == 30
        server.answer = lambda request: (401, '{"error":"invalid API key"}', {})
        with pytest.raises(SinkRejectedError) as refused:
            await sink.deliver([make_batch([(T0_MS, COLD)])])
        assert "HTTP 401" in refused.value.reason
        assert "invalid API key" in refused.value.reason
        await server.stop()
        fake.now += REFUSAL_RECHECK
        with pytest.raises(SinkUnavailableError) as down:
            await sink.deliver([make_batch([(T0_MS, COLD)])])
        assert KEY not in down.value.reason
        await sink.stop()


async def test_cwop_call_sign_without_passcode_is_refused_with_the_servers_answer() -> None:
    """A call sign the server answers 'unverified' is refused with the
    ``# logresp`` line (its packets would be dropped), and no packet is sent;
    with the passcode the server verifies, the packet goes."""
    fake = FakeTime()
    async with aprs_is({"DL1ABC": "12345"}) as server:
        sink = sink_for(
            "cwop", fake, id="DL1ABC", server=server.address, latitude=LAT, longitude=LON
        )
        with pytest.raises(SinkRejectedError) as refused:
            await sink.deliver([make_batch([(T0_MS, COLD)])])
        assert "logresp DL1ABC unverified" in refused.value.reason
        await server.idle()
        assert server.packets == []
        verified = sink_for(
            "cwop",
            fake,
            id="DL1ABC",
            key="12345",
            server=server.address,
            latitude=LAT,
            longitude=LON,
        )
        await verified.deliver([make_batch([(T0_MS, COLD)])])
        await server.idle()
    assert server.sessions[-1].login.startswith("user DL1ABC pass 12345 ")
    assert len(server.packets) == 1


# --- with the bridge running ------------------------------------------------------------


class QuickPws(PwsweatherSink):
    """PWSweather at a pace a test can wait for (its own pace is tested above)."""

    pace: ClassVar[Pace] = Pace(interval=0.05, backfill=True)


def station_config(tmp_path: Path, uploads: list[dict[str, Any]]) -> Any:
    return bridge_config(
        tmp_path,
        {"stations": {1: {"name": "Garden", "derived": ["dew_point"]}}, "uploads": uploads},
    )


def sim_station(start: float) -> SimStation:
    return SimStation(1, PARSER, start, wake_every_s=180, measure_every_s=60, send_delay=1.0)


async def test_first_upload_goes_within_10_s_of_the_packets_arrival(tmp_path: Path) -> None:
    """With the bridge running, a new packet's newest sample reaches Weather
    Underground within 10 s of its arrival (its interval allows it at once)."""
    async with upload_server() as server:
        config = station_config(
            tmp_path,
            [{"service": "wunderground", "station": 1, "id": "KX", "key": KEY, "url": server.url}],
        )
        async with running_bridge(config) as bridge:
            station = sim_station(time.time() - 181)
            wake = station.wake()
            sent = time.monotonic()
            await send_packet_async("127.0.0.1", bridge.port, wake.packet, 5.0)
            await eventually(lambda: len(taken(server)) >= 1, within=10, what="the upload")
            took = time.monotonic() - sent
    print(f"first upload {took:.2f} s after the packet")
    stored = bridge.query("SELECT count(*) FROM sample_times")
    assert stored[0][0] == 3


async def test_a_network_down_for_a_while_is_caught_up_in_order_without_doubling(
    tmp_path: Path,
) -> None:
    """Packets that arrive while PWSweather is down wait in the database; once it
    is back, the samples go up in order of their time, none twice, up to the
    newest, with no minute of the station's data left out."""
    upload = {"service": "pwsweather", "station": 1, "id": "P", "key": KEY}
    station = sim_station(time.time() - 3600)
    clock = Clock(station.start)
    async with upload_server() as server:
        config = station_config(tmp_path, [{**upload, "url": server.url}])
        sink = QuickPws(config.uploads[0])
        async with running_bridge(config, sinks=[sink], clock=clock) as bridge:
            for number in range(4):
                if number == 1:
                    await server.stop()
                wake = station.wake()
                clock.now = wake.arrival
                await send_packet_async("127.0.0.1", bridge.port, wake.packet, 5.0)
                station.delivered()
                if number == 0:
                    await eventually(lambda: len(taken(server)) == 3, within=10, what="first")
            await eventually(
                lambda: bridge.count("SELECT count(*) FROM sample_times") >= 12,
                within=10,
                what="all samples stored",
            )
            state = bridge.assembly.status.sinks[sink.name].state
            await eventually(lambda: state.down_since is not None, what="PWSweather seen down")
            assert "cannot reach 127.0.0.1" in (state.last_error or "")
            assert KEY not in (state.last_error or "")
            stored = [
                t for (t,) in bridge.query("SELECT time_ms FROM sample_times ORDER BY time_ms")
            ]
            await server.start()

            def uploaded() -> list[int]:
                return [round(parse_time(r.query["dateutc"]) / 1000) * 1000 for r in taken(server)]

            newest = stored[-1] // 1000 * 1000
            await eventually(lambda: uploaded()[-1] == newest, within=30, what="catching up")
            await eventually(lambda: state.down_since is None, what="PWSweather back")
    sent = uploaded()
    assert sent == sorted(set(sent))
    assert set(sent) <= {t // 1000 * 1000 for t in stored}
    assert all(min(abs(t - s) for s in sent) < 60_000 for t in stored)


async def test_a_wrong_key_is_kept_aside_and_shown_without_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key WOW refuses (HTTP 403) keeps the station's batches aside with WOW's
    answer; the log, the page and /metrics show the refusal and never the key.
    The refusal is one problem for Home Assistant's repair issues, said once in
    the log however many batches it refuses, and cleared once WOW takes the
    station's uploads again."""
    caplog.set_level(logging.DEBUG)
    async with upload_server() as server:
        server.answer = lambda request: (403, "Forbidden: bad site authentication key", {})
        config = station_config(
            tmp_path,
            [{"service": "wow", "station": 1, "id": "987", "key": KEY, "url": server.url}],
        )
        async with running_bridge(config) as bridge:
            station = sim_station(time.time() - 370)
            for _ in range(2):
                await send_packet_async("127.0.0.1", bridge.port, station.wake().packet, 5.0)
                station.delivered()
            await eventually(
                lambda: bridge.count("SELECT count(*) FROM rejected") == 2,
                within=15,
                what="both batches kept aside",
            )
            [(sink, reason)] = set(bridge.query("SELECT sink, reason FROM rejected"))
            assert sink == "wow:987"
            assert "HTTP 403" in reason
            assert "bad site authentication key" in reason
            assert bridge.assembly.status.sinks["wow:987"].state.last_error == reason
            assert bridge.web is not None
            base = f"http://127.0.0.1:{bridge.web.port}"
            for path in ("/", "/metrics", "/api/stations"):
                status, body = await asyncio.to_thread(http_request, base + path)
                assert status == 200
                assert KEY.encode() not in body
            _, page = await asyncio.to_thread(http_request, base + "/")
            assert b"wow:987" in page
            assert b"bad site authentication key" in page
            # First on the page, as in Home Assistant's repair issues.
            assert b"To put right" in page
            assert b"Met Office WOW refuses the id or key of station 987" in page
            [problem] = bridge.assembly.problems.current()
            assert problem.key == "upload_refused:wow:987"
            assert "bad site authentication key" in problem.message
            assert KEY not in str(problem.as_dict())
            asked = len(server.requests)
            refusals = [r for r in caplog.records if r.name == "bridge.runtime.delivering"]
            # The key fixed on WOW's site: the next packet asks again and goes up.
            server.answer = lambda request: (200, "", {})
            monkeypatch.setattr(upload_base, "REFUSAL_RECHECK", 0.0)
            await send_packet_async("127.0.0.1", bridge.port, station.wake().packet, 5.0)
            await eventually(
                lambda: not bridge.assembly.problems.current(),
                within=15,
                what="the problem cleared",
            )
    assert asked == 1  # asked once, not for every batch
    assert len(server.requests) > asked
    assert [(r.levelname, "kept aside" in r.getMessage()) for r in refusals] == [
        ("ERROR", True),
        ("DEBUG", True),
    ]
    assert KEY not in reason
    assert caplog.records
    assert all(KEY not in record.getMessage() for record in caplog.records)
    said = [r for r in caplog.records if r.name.startswith("bridge.sinks.uploads")]
    # The upload says the refusal once, and that it is over.
    assert [(r.levelname, "takes uploads again" in r.getMessage()) for r in said] == [
        ("ERROR", False),
        ("INFO", True),
    ]


# --- config ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        ({"service": "weatherlink", "id": "X", "key": "k"}, "uploads -> 0 -> service"),
        ({"service": "cwop", "id": "CW0001"}, "uploads -> 0 -> latitude"),
        ({"service": "cwop", "id": "CW0001", "latitude": 55.0}, "uploads -> 0 -> longitude"),
        (
            {"service": "wunderground", "id": "KX", "key": "k", "station": 7},
            "uploads -> 0 -> station",
        ),
        ({"service": "windy", "id": "w"}, "uploads -> 0 -> key"),
        ({"service": "wow", "id": "1", "key": "k", "url": "ftp://x"}, "uploads -> 0 -> url"),
        (
            {"service": "cwop", "id": "CW0001", "latitude": 95, "longitude": 1},
            "uploads -> 0 -> latitude",
        ),
        ({"service": "wow", "id": "1", "key": "k", "latitude": 5}, "uploads -> 0 -> latitude"),
    ],
)
def test_a_bad_upload_config_names_the_key(upload: dict[str, Any], message: str) -> None:
    """Each mistake in ``uploads`` is an error that names the key to fix."""
    raw = {"stations": {1: None}, "uploads": [{"station": 1, **upload}]}
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    assert message in str(error.value)


def test_the_same_network_station_twice_is_an_error() -> None:
    """Two uploads to one network station would share one progress: refused."""
    one = {"service": "wunderground", "station": 1, "id": "KX", "key": "k"}
    with pytest.raises(ConfigError, match=r"uploads -> 1 -> id"):
        parse_config({"stations": {1: None, 2: None}, "uploads": [one, {**one, "station": 2}]})


def test_upload_keys_are_secrets_and_check_config_explains_each_upload() -> None:
    """The keys are among the config's secrets (what the page scrubs), and
    check-config says what each upload sends and how often."""
    config = parse_config(
        {
            "stations": {1: {"name": "Garden", "derived": ["dew_point"]}, 2: None},
            "uploads": [
                {
                    "service": "wunderground",
                    "station": 1,
                    "id": "KX",
                    "key": KEY,
                    "lux_to_wm2": 0.0079,
                },
                {"service": "cwop", "station": 2, "id": "cw0002", "latitude": 1, "longitude": 2},
            ],
        }
    )
    assert KEY in config.secrets()
    assert [sink.name for sink in upload_sinks(config)] == ["wunderground:KX", "cwop:CW0002"]
    # status and the page list each upload from the start, before it delivered.
    names = [sink.name for sink in sink_overviews(config, 0, {}, [])]
    assert names == ["cwop:CW0002", "wunderground:KX"]
    wu, cwop = (explain(upload, config) for upload in config.uploads)
    assert "Weather Underground KX: Garden (1): temperature, humidity, dew point" in wu
    assert "solar radiation" in wu
    assert "every sample (at most one a minute) with its own time" in wu
    assert "CWOP CW0002" in cwop
    assert "no dew point" in cwop
    assert "at most every 5 min" in cwop
    assert KEY not in wu


def test_the_example_uploads_pass_check_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """config.example.yaml's uploads, once uncommented as it says, are a valid
    config, and check-config explains every one of them."""
    example = (Path(__file__).parent.parent / "config.example.yaml").read_text(encoding="utf-8")
    lines = example.splitlines()
    start = lines.index("# uploads:")
    end = lines.index("", start)
    uncommented = [line.removeprefix("# ") for line in lines[start:end]]
    (tmp_path / "config.yaml").write_text(
        "\n".join([*lines[:start], *uncommented, *lines[end:]]), encoding="utf-8"
    )
    names = re.findall(r"!secret (\w+)", "\n".join(uncommented))
    (tmp_path / "secrets.yaml").write_text(
        "".join(f"{name}: not-a-real-key-{name}\n" for name in names), encoding="utf-8"
    )
    assert cli.main(["check-config", "-c", str(tmp_path / "config.yaml")]) == 0
    out = capsys.readouterr().out
    assert "uploads: 5" in out
    for label in ("Weather Underground KXXYYY12", "PWSweather", "Met Office WOW", "Windy", "CWOP"):
        assert label in out
    assert "not-a-real-key" not in out
