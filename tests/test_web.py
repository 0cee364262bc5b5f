"""The bridge's HTTP side over real sockets: the API, /metrics, /healthz, actions, secrets, load."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import math
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.cli import main as cli_main
from bridge.offline import decode_offline
from bridge.sim import SimStation
from bridge.spool import Spool
from bridge.web import server as web_server
from bridge.web.page import render_main
from bridge.web.snapshot import read_snapshot, thin
from tests.support.bridge import (
    bridge_config,
    bridge_process,
    cli,
    running_bridge,
    write_config,
)
from tests.support.ledger import SAMPLE_COUNT
from tests.support.servers import Mosquitto, free_port
from tests.support.waiting import eventually
from tests.support.web import get, http_client, send, stations, web_url
from wxstation.config import ConfigError, parse_config
from wxstation.packets import Received
from wxstation.parsers import ReferenceParser

ROOT = Path(__file__).parent.parent


def metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by name and labels, as Prometheus' own parser reads it."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_stations_api_shows_each_station_and_its_samples_as_export_does(
    tmp_path: Path,
) -> None:
    """Test that /api/stations lists every station with its newest packet's health
    and values, and /api/stations/<id>/samples gives the rows ``export`` prints."""
    raw = {"stations": {1: {"name": "Garden"}, 2: {"name": "Roof"}, 3: {"name": "Shed"}}}
    config = bridge_config(tmp_path, raw)
    fleet = stations(1, 2, 3)
    async with running_bridge(config) as bridge, http_client() as http:
        for _ in range(2):
            for station in fleet:
                await send(bridge.port, station.wake().packet)
        await eventually(lambda: bridge.count("SELECT count(*) FROM batches") == 6)
        status, body = await get(http, web_url(bridge, "/api/stations"))
        assert status == 200
        listed = {s["device_id"]: s for s in json.loads(body)["stations"]}
        assert sorted(listed) == [1, 2, 3]
        garden = listed[1]
        assert garden["name"] == "Garden"
        assert garden["available"] is True
        assert garden["missed_wake_ups"] == 0
        assert garden["samples"] == 10  # a wake-up every 600 s, a sample every 60 s
        assert garden["interval_s"] == pytest.approx(60, rel=0.05)
        assert garden["wake_every_s"] == 600
        assert set(garden["latest"]) >= {"temperature", "humidity", "light"}

        config_file = write_config(
            tmp_path / "config.yaml", {"storage": {"path": str(config.storage.path)}}
        )
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert cli_main(["export", "-c", str(config_file), "--station", "2"]) == 0
        exported = [json.loads(line) for line in out.getvalue().splitlines()]
        status, body = await get(http, web_url(bridge, "/api/stations/2/samples"))
        assert status == 200
        assert json.loads(body) == exported
        assert len(exported) == 20

        middle = exported[10]["time"]
        status, body = await get(
            http, web_url(bridge, f"/api/stations/2/samples?since={middle}&until=9999999999")
        )
        assert json.loads(body) == exported[10:]

        status, body = await get(http, web_url(bridge, "/api/stations/2/samples?since=yesterday"))
        assert status == 400
        assert "since: not an RFC 3339 time or unix seconds: 'yesterday'" in body
        status, body = await get(http, web_url(bridge, "/api/stations/9/samples"))
        assert status == 404
        assert "no station with device id 9" in body


async def test_metrics_count_what_the_stations_sent(tmp_path: Path) -> None:
    """Test that /metrics, read by prometheus-client's parser, counts the packets,
    samples, connections and kept-aside packets of what was sent."""
    raw = {"stations": {1: {}, 2: {}}, "unknown_stations": {"action": "keep"}}
    async with running_bridge(bridge_config(tmp_path, raw)) as bridge, http_client() as http:
        fleet = stations(1, 2)
        sent_samples = 0
        for _ in range(3):
            for station in fleet:
                wake = station.wake()
                sent_samples += len(wake.taken)
                await send(bridge.port, wake.packet)
                station.delivered()
        await send(bridge.port, stations(7)[0].wake().packet)  # no such station: kept aside
        await eventually(
            lambda: bridge.count("SELECT count(*) FROM packets WHERE state='new'") == 0
        )
        await eventually(lambda: bridge.count("SELECT count(*) FROM packets") == 7)
        # The metrics read the database at most every SNAPSHOT_MAX_AGE.
        await asyncio.sleep(web_server.SNAPSHOT_MAX_AGE)
        status, body = await get(http, web_url(bridge, "/metrics"))
        assert status == 200
        scraped = metrics(body)

    assert scraped[("wxstation_packets_received_total", ())] == 7
    assert scraped[("wxstation_packets_decoded_total", ())] == 6
    assert scraped[("wxstation_packets_kept_aside_total", (("reason", "refused"),))] == 1
    assert scraped[("wxstation_samples_stored_total", ())] == sent_samples
    assert scraped[("wxstation_connections_total", (("outcome", "served"),))] == 7
    assert scraped[("wxstation_connections_total", (("outcome", "refused"),))] == 0
    assert scraped[("wxstation_decode_latency_seconds_count", ())] == 6
    assert scraped[("wxstation_database_packets", (("state", "done"),))] == 6
    assert scraped[("wxstation_database_packets", (("state", "kept"),))] == 1
    assert scraped[("wxstation_listening", ())] == 1
    for device in ("1", "2"):
        labels = (("device_id", device), ("station", f"Station {device}"))
        assert time.time() - scraped[("wxstation_station_last_seen_timestamp_seconds", labels)] < 60
        assert ("wxstation_station_clock_error_percent", labels) in scraped
        assert scraped[("wxstation_station_available", labels)] == 1


async def test_health_is_200_while_listening_and_the_database_takes_packets(
    tmp_path: Path,
) -> None:
    """Test that /healthz says ok normally, and 503 with the reason once the
    receiver stops listening; /livez, what a watchdog that restarts asks, says
    the same when no cause the bridge knows of explains it."""
    async with running_bridge(bridge_config(tmp_path)) as bridge, http_client() as http:
        status, body = await get(http, web_url(bridge, "/healthz"))
        assert status == 200
        assert (
            body
            == f"ok: listening for stations on port {bridge.port}, the database takes packets\n"
        )
        status, body = await get(http, web_url(bridge, "/livez"))
        assert (status, body) == (200, "alive\n")
        await bridge.receiver.pause("stopped by hand")
        status, body = await get(http, web_url(bridge, "/healthz"))
        assert status == 503
        assert body == "unhealthy: not listening for stations: stopped by hand\n"
        status, body = await get(http, web_url(bridge, "/livez"))
        assert status == 503
        assert body == "a restart would help: not listening for stations: stopped by hand\n"
        await bridge.receiver.resume()
        status, _ = await get(http, web_url(bridge, "/healthz"))
        assert status == 200


@pytest.mark.parametrize(
    ("storage", "reason"),
    [
        (
            {"max_size_mb": 0.01},
            r"the database is [\d.]+ MB, at its cap \(storage.max_size_mb\), and raw packets "
            "and undelivered samples alone fill it",
        ),
        ({"min_free_mb": 10**9}, r"only \d+ MB free on the disk of .* \(storage.min_free_mb\)"),
    ],
)
async def test_health_is_503_with_the_reason_when_the_database_takes_no_packets(
    tmp_path: Path, storage: dict[str, float], reason: str
) -> None:
    """Test that /healthz answers 503 and says why when the database is at its
    cap or its disk is full: the bridge does not take packets then."""
    config = bridge_config(tmp_path, {"storage": storage})
    async with running_bridge(config) as bridge, http_client() as http:
        status, body = await get(http, web_url(bridge, "/healthz"))
        page_status, page = await get(http, web_url(bridge, "/"))
    assert status == 503
    assert re.fullmatch(f"unhealthy: the database does not take packets: {reason}\n", body)
    assert page_status == 200
    assert "not receiving" in page


async def test_nothing_served_shows_a_secret_of_the_config(tmp_path: Path) -> None:
    """Test that no page, API answer or metric shows a token, password or URL
    credential of the config, even in a sink's error that quotes them."""
    secrets = {
        "influx_token": "influx-token-Zq8s1Xv4",
        "influx_password": 'influx-pass-Ab3<&>"x',
        "mqtt_password": "mqtt-pass-Kk29wQ",
        "http_token": "http-token-0123456789abcdef",
        "url_password": "url-pass-Yy77",
    }
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: both sinks fail and keep their errors
    raw = {
        "influxdb": {
            "url": f"http://admin:{secrets['url_password']}@127.0.0.1:{port}",
            "token": secrets["influx_token"],
            "password": secrets["influx_password"],
            "timeout": 1,
        },
        "mqtt": {"host": "127.0.0.1", "port": port, "password": secrets["mqtt_password"]},
        "http": {"token": secrets["http_token"]},
    }
    config = bridge_config(tmp_path, raw)
    config = replace(config, http=replace(config.http, port=0))
    async with (
        running_bridge(config) as bridge,
        http_client() as http,
    ):
        await send(bridge.port, stations(1)[0].wake().packet)
        await eventually(
            lambda: all(s.state.last_error for s in bridge.assembly.status.sinks.values()),
            within=20,
            what="both sinks failed",
        )
        await asyncio.sleep(web_server.SNAPSHOT_MAX_AGE)
        bodies = []
        for path in ("/", "/api/stations", "/api/stations/1/samples", "/metrics", "/healthz"):
            status, body = await get(http, web_url(bridge, path))
            assert status == 200, path
            bodies.append(body)
        influx_error = bridge.assembly.status.sinks["influxdb"].state.last_error
    served = "\n".join(bodies)
    assert "influxdb" in served
    assert "mqtt" in served
    for secret in secrets.values():
        assert secret not in served
        assert json.dumps(secret)[1:-1] not in served
    # The sink's own error does quote the URL's password, and the page shows the
    # error with the password taken out.
    assert influx_error is not None
    if secrets["url_password"] in influx_error:
        assert "[redacted]" in served


async def test_actions_need_the_token_when_one_is_set(tmp_path: Path) -> None:
    """Test that with http.token a POST without it or with a wrong one is refused
    (401), and one with it is taken."""
    config = bridge_config(tmp_path, {"http": {"token": "a-token-of-sixteen-or-more"}})
    config = replace(config, http=replace(config.http, port=0))
    async with running_bridge(config) as bridge, http_client() as http:
        url = web_url(bridge, "/api/reprocess")
        for headers in ({}, {"Authorization": "Bearer wrong-token-of-sixteen"}):
            async with http.post(url, json={}, headers=headers) as response:
                assert response.status == 401
                assert "needs the bridge's http.token" in (await response.json())["error"]
        good = {"Authorization": "Bearer a-token-of-sixteen-or-more"}
        async with http.post(url, json={}, headers=good) as response:
            assert response.status == 200
            assert await response.json() == {"queued": 0}


async def test_actions_without_a_token_come_from_this_machine_and_its_own_page(
    tmp_path: Path,
) -> None:
    """Test that without a token a POST from localhost is taken, one that another
    site's page makes (its Origin) is refused, and one from another host is refused."""
    config = bridge_config(tmp_path)
    async with running_bridge(config) as bridge, http_client() as http:
        url = web_url(bridge, "/api/reprocess")
        async with http.post(url, json={}) as response:
            assert response.status == 200
        evil = {"Origin": "http://attacker.example"}
        async with http.post(url, json={}, headers=evil) as response:
            assert response.status == 403
            assert "not from another site" in (await response.json())["error"]
        async with http.post(url, data="not json") as response:
            assert response.status == 400

    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback")
    config = replace(config, http=replace(config.http, host="0.0.0.0"))
    async with running_bridge(config) as bridge, http_client() as http:
        assert bridge.web is not None
        url = f"http://{address}:{bridge.web.port}/api/reprocess"
        async with http.post(url, json={}) as response:
            assert response.status == 403
            assert "from the bridge's machine only" in (await response.json())["error"]


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: only the route is looked up
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


async def test_the_action_decodes_kept_aside_packets_again(tmp_path: Path) -> None:
    """Test that POST /api/reprocess queues the kept-aside packets and the running
    bridge decodes them, with its config."""
    keep = bridge_config(tmp_path, {"unknown_stations": {"action": "keep"}})
    station = stations(5)[0]
    async with running_bridge(keep) as bridge:
        await send(bridge.port, station.wake().packet)
        await eventually(lambda: bridge.count("SELECT count(*) FROM packets WHERE state='kept'"))
    decode = bridge_config(tmp_path, {"stations": {5: {"name": "Attic"}}})
    async with running_bridge(decode) as bridge, http_client() as http:
        assert bridge.count("SELECT count(*) FROM packets WHERE state='kept'") == 1
        async with http.post(web_url(bridge, "/api/reprocess"), json={"device_id": 5}) as response:
            assert await response.json() == {"queued": 1}
        await eventually(
            lambda: bridge.count(SAMPLE_COUNT + " WHERE station = 'Attic'") == 10,
            what="the kept packet decoded",
        )


async def test_slow_clients_and_a_request_storm_do_not_hold_up_the_stations(
    tmp_path: Path,
) -> None:
    """Test that while HTTP clients hang mid-request (as many as the server serves
    at once, and hundreds more it closes) and others ask for every endpoint as
    fast as they can, every station's packet is decoded."""
    config = bridge_config(tmp_path, {"stations": {d: {} for d in range(1, 21)}})
    fleet = stations(*range(1, 21))
    clients = 8
    async with running_bridge(config) as bridge:
        assert bridge.web is not None
        port = bridge.web.port
        hanging: list[asyncio.StreamWriter] = []
        for _ in range(web_server.MAX_CONNECTIONS - clients):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the rest
            hanging.append(writer)
        await asyncio.sleep(0.2)
        stop = asyncio.Event()
        answered = refused = 0

        async def storm() -> None:
            nonlocal answered
            paths = ["/", "/metrics", "/api/stations", "/api/stations/3/samples", "/healthz"]
            async with http_client() as http:
                while not stop.is_set():
                    for path in paths:
                        status, _ = await get(http, web_url(bridge, path))
                        assert status == 200, path
                        answered += 1

        async def beyond_the_limit() -> None:
            nonlocal refused
            while not stop.is_set():
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
                with contextlib.suppress(ConnectionResetError):
                    assert await asyncio.wait_for(reader.read(), 5) == b""
                refused += 1
                writer.close()

        storms = [asyncio.create_task(storm()) for _ in range(clients)]
        await asyncio.sleep(0.5)  # the storm's clients hold the rest of the connections
        storms += [asyncio.create_task(beyond_the_limit()) for _ in range(20)]
        started = time.monotonic()
        try:
            for _ in range(3):
                for station in fleet:
                    await send(bridge.port, station.wake().packet)
            await eventually(
                lambda: bridge.count("SELECT count(*) FROM batches") == 60,
                within=30,
                what="every packet decoded",
            )
            took = time.monotonic() - started
        finally:
            stop.set()
            await asyncio.gather(*storms)
            for writer in hanging:
                writer.close()
        assert bridge.receiver.connections == 60
        assert bridge.count("SELECT count(*) FROM packets WHERE state != 'done'") == 0
        assert answered > 0
        assert refused > 0
        print(
            f"60 packets decoded in {took:.2f} s beside {answered} HTTP answers and "
            f"{refused} connections closed beyond the limit"
        )


async def test_hanging_connections_are_closed_after_their_lifetime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that a connection that never finishes its request is closed after
    CONNECTION_LIFETIME, and one beyond MAX_CONNECTIONS at once."""
    monkeypatch.setattr(web_server, "CONNECTION_LIFETIME", 1.0)
    monkeypatch.setattr(web_server, "MAX_CONNECTIONS", 4)
    async with running_bridge(bridge_config(tmp_path)) as bridge:
        assert bridge.web is not None
        readers = []
        for _ in range(4):
            reader, writer = await asyncio.open_connection("127.0.0.1", bridge.web.port)
            writer.write(b"GET / HTTP/1.1\r\n")
            readers.append(reader)
        await asyncio.sleep(0.2)
        extra, _ = await asyncio.open_connection("127.0.0.1", bridge.web.port)
        assert await asyncio.wait_for(extra.read(), 2) == b""  # closed at once
        for reader in readers:
            with contextlib.suppress(ConnectionResetError):
                assert await asyncio.wait_for(reader.read(), 5) == b""
        async with http_client() as http:
            status, _ = await get(http, web_url(bridge, "/healthz"))
        assert status == 200


def test_the_http_section_is_checked() -> None:
    """Test that the http section's defaults are the documented ones and a bad
    value names its key."""
    http = parse_config({}).http
    assert (http.enabled, http.host, http.port, http.token) == (True, "127.0.0.1", 5002, None)
    with pytest.raises(ConfigError, match=r"http -> token: at least 16 characters"):
        parse_config({"http": {"token": "short"}})
    with pytest.raises(ConfigError, match=r"http -> port"):
        parse_config({"http": {"port": 70000}})
    assert parse_config({"http": {"enabled": False}}).http.enabled is False


async def test_a_bridge_without_its_page_serves_nothing(tmp_path: Path) -> None:
    """Test that http.enabled: false runs the bridge with no HTTP server."""
    config = bridge_config(tmp_path, {"http": {"enabled": False}})
    async with running_bridge(config) as bridge:
        assert bridge.web is None
        await send(bridge.port, stations(1)[0].wake().packet)
        await eventually(lambda: bridge.count("SELECT count(*) FROM batches") == 1)


def test_the_demo_prints_its_page_and_shows_three_stations(tmp_path: Path) -> None:
    """Test that ``run --demo`` says where its page is, and the page's API lists
    the three simulated stations with their samples."""
    config = write_config(
        tmp_path / "config.yaml",
        {"listen": {"host": "127.0.0.1", "port": free_port()}, "storage": {"path": "wx.db"}},
    )
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "run", "--demo", "-c", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        found = None
        while found is None and time.monotonic() < deadline:
            found = re.search(r"status page: (http://127\.0\.0\.1:\d+/)", log.read_text())
            time.sleep(0.1)
        assert found, log.read_text()
        listed: list[dict[str, object]] = []
        while time.monotonic() < deadline and len(listed) < 3:
            with contextlib.suppress(OSError):
                url = found.group(1) + "api/stations"
                with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
                    listed = [s for s in json.load(response)["stations"] if s["samples"]]
            time.sleep(0.3)
        assert sorted(s["name"] for s in listed) == ["Station 1", "Station 2", "Station 3"]
    finally:
        process.terminate()
        process.wait(30)


def test_the_health_command_asks_the_running_bridge(tmp_path: Path) -> None:
    """Test that ``wxstation-bridge health`` (Docker's and systemd's check) exits 0
    while the bridge is healthy, and 1 with the reason when it is not or when no
    bridge answers."""
    raw = {
        "listen": {"host": "127.0.0.1", "port": free_port()},
        "http": {"port": free_port()},
        "storage": {"path": "wx.db"},
    }
    config = write_config(tmp_path / "config.yaml", raw)
    with bridge_process(config, tmp_path / "bridge.log") as bridge:
        bridge.start()
        result = cli("health", "-c", str(config))
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("ok: listening for stations on port")
        assert bridge.terminate() == 0
    result = cli("health", "-c", str(config))
    assert result.returncode == 1
    assert f"no bridge answers at http://127.0.0.1:{raw['http']['port']}/healthz" in result.stderr

    config = write_config(
        tmp_path / "config.yaml", {**raw, "storage": {"path": "wx.db", "max_size_mb": 0.01}}
    )
    with bridge_process(config, tmp_path / "bridge.log") as bridge:
        bridge.start()
        result = cli("health", "-c", str(config))
    assert result.returncode == 1
    assert "unhealthy: the database does not take packets: the database is" in result.stderr


@pytest.mark.servers
async def test_the_page_and_metrics_show_each_sink(tmp_path: Path) -> None:
    """Test that the page and /metrics show each sink's state: MQTT connected and
    delivering with no backlog; InfluxDB, which cannot be reached, unavailable
    with its error and backlog, and the batch it refused kept aside with its reason."""
    with Mosquitto() as broker:
        raw = {
            "stations": {1: {"name": "Garden\\"}, 2: {"name": "Roof"}},
            "mqtt": {"host": broker.host, "port": broker.port},
            "influxdb": {"url": f"http://127.0.0.1:{free_port()}", "timeout": 1},
        }
        config = bridge_config(tmp_path, raw)
        async with (
            running_bridge(config) as bridge,
            http_client() as http,
        ):
            states = {name: s.state for name, s in bridge.assembly.status.sinks.items()}
            garden, roof = stations(1, 2)
            # A name line protocol cannot carry: InfluxDB's sink refuses it for good.
            await send(bridge.port, garden.wake().packet)
            await eventually(lambda: bridge.count("SELECT count(*) FROM rejected") == 1)
            await send(bridge.port, roof.wake().packet)
            await eventually(
                lambda: (
                    states["influxdb"].down_since is not None
                    and bridge.count(
                        "SELECT coalesce(max(seq), 0) FROM sink_progress WHERE sink = 'mqtt'"
                    )
                    == 2
                ),
                within=20,
                what="MQTT delivered both, InfluxDB down",
            )
            await asyncio.sleep(web_server.SNAPSHOT_MAX_AGE)
            _, page = await get(http, web_url(bridge, "/"))
            _, body = await get(http, web_url(bridge, "/metrics"))
    sinks = dict(re.findall(r'<tr class="sink" data-sink="(\w+)">(.*?)</tr>', page))
    assert "delivering" in sinks["mqtt"]
    assert "<br>connected" in sinks["mqtt"]
    assert "unavailable" in sinks["influxdb"]
    assert "cannot reach" in sinks["influxdb"]
    assert re.search(r"1x [^<]*Garden", sinks["influxdb"])

    scraped = metrics(body)

    def sink(name: str, metric: str) -> float:
        return scraped[(metric, (("sink", name),))]

    assert sink("mqtt", "wxstation_sink_batches_delivered_total") == 2
    assert sink("mqtt", "wxstation_delivery_latency_seconds_count") == 2
    assert sink("mqtt", "wxstation_sink_backlog_batches") == 0
    assert sink("mqtt", "wxstation_sink_up") == 1
    assert sink("influxdb", "wxstation_sink_batches_delivered_total") == 0
    assert sink("influxdb", "wxstation_sink_batches_refused_total") >= 1
    assert sink("influxdb", "wxstation_sink_refused_batches") == 1
    assert sink("influxdb", "wxstation_sink_retries_total") >= 1
    assert sink("influxdb", "wxstation_sink_backlog_batches") == 1
    assert sink("influxdb", "wxstation_sink_up") == 0


def test_plots_take_means_over_the_time_the_station_was_heard() -> None:
    """Test that a plotted line is the mean of each stretch of time, from the
    station's first sample in the plotted hours (not squeezed into the right
    end), and leaves out values that cannot be drawn."""
    rows = [
        (1, "Garden", 1_000_000 + i * 1000, {"t": float(i), "bad": math.nan}) for i in range(100)
    ]
    series = thin(rows, since_ms=0, until_ms=1_100_000, points=10)
    assert series.since_ms == 1_000_000
    assert series.count == 100
    assert "bad" not in series.lines
    line = series.lines["t"]
    assert len(line) == 10
    assert line[0] == (1_004_500, 4.5)  # the mean of samples 0..9 and of their times
    assert line[-1] == (1_094_500, 94.5)
    assert thin([], 0, 1000).lines == {}


def test_the_page_shows_the_database_against_its_cap(tmp_path: Path) -> None:
    """Test that the page's storage section says where the database stands
    against its cap, warns at the cap, and lists per station what gave way."""
    config = bridge_config(tmp_path)
    start = 1_790_000_000.0
    sim = SimStation(1, ReferenceParser(), start)
    items = []
    for _ in range(72):
        wake = sim.wake()
        sim.delivered()
        items.append(Received(wake.packet, wake.arrival, "192.0.2.1:4000"))
    now = items[-1].received_at
    with Spool(config.storage.path) as spool:
        spool.packets.add(items)
        decode_offline(spool, config)
        spool.max_size = 100_000  # far below: all but the last two days give way
        assert spool.history.give_way([], now) is not None
        snapshot = read_snapshot(spool, config, now)
    main = render_main(snapshot, config, {}, None, 5001, now)
    section = main[main.index("<h2>Storage</h2>") :]
    assert "of its 0 MB cap" in section
    assert "at its cap: delivered decoded history gives way" in section
    assert '<p class="warning">the database is at its cap' in section
    (removed,) = snapshot.removed
    assert removed.packets > 0
    assert f"<li>{removed}</li>" in section
