"""The running bridge over real sockets: receiving, storing, keeping aside, restarting."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import operator
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bridge.logs import LoopExceptions
from bridge.runtime import decoder as decoder_module
from bridge.runtime import memory as memory_module
from bridge.runtime.decode_log import DecodeLog
from bridge.runtime.decoder import Decoder
from bridge.runtime.memory import RecentBatches
from bridge.runtime.status import RuntimeEvents
from bridge.runtime.store import Store
from bridge.sim import SimStation, run_fleet, send_packet
from bridge.spool import Spool
from bridge.stages import StageClock
from tests.support.bridge import (
    bridge_config,
    bridge_process,
    cli,
    running_bridge,
    write_config,
)
from tests.support.ledger import SAMPLE_COUNT
from tests.support.servers import InfluxDB1, Mosquitto, free_port
from tests.support.sinks import GatedSink
from tests.support.vectors import load_vectors
from tests.support.waiting import eventually, wait_until
from wxstation import receiving as receiver_module
from wxstation.config import parse_config
from wxstation.packets import Received
from wxstation.parsers import FieldSpec, ReferenceParser, make_parser

PARSER = ReferenceParser()
ROOT = Path(__file__).parent.parent


def packet(device_id: int = 1, start: float = 1_790_000_000.0, seed: int = 0) -> bytes:
    return SimStation(device_id, PARSER, start, seed=seed).wake().packet


async def test_many_concurrent_stations_all_stored(tmp_path: Path) -> None:
    """Test that a fleet of stations sending at once gets every sample stored."""
    async with running_bridge(bridge_config(tmp_path)) as bridge:
        report = await run_fleet(
            "127.0.0.1", bridge.port, {}, stations=60, rate=0, packets=240, seed=1
        )
        assert report.failures == 0
        await eventually(
            lambda: bridge.count(SAMPLE_COUNT) == report.samples_sent,
            what="all samples stored",
        )
        assert bridge.count("SELECT count(*) FROM packets WHERE state = 'done'") == 240


async def test_packet_written_one_byte_at_a_time(tmp_path: Path) -> None:
    """Test that a packet split into single-byte writes decodes whole."""
    data = packet()
    async with running_bridge(bridge_config(tmp_path)) as bridge:
        await asyncio.to_thread(
            send_packet, "127.0.0.1", bridge.port, data, chunk=1, chunk_delay=0.001
        )
        await eventually(lambda: bridge.count(SAMPLE_COUNT) == 30)
        (stored,) = bridge.query("SELECT data FROM packets")
        assert stored[0] == data


async def test_bad_connections_are_closed_and_good_stations_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that idle, slow, oversized and garbage connections are closed, kept
    apart from station packets with a reason and counted for their address,
    while a good station is served at the same time."""
    monkeypatch.setattr(receiver_module, "CONNECTION_DEADLINE", 2.0)
    async with running_bridge(bridge_config(tmp_path)) as bridge:
        port = bridge.port

        def idle() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                return sock.recv(10)  # b"" once the bridge gives up on the silence

        def slow() -> float:
            began = time.monotonic()
            data = packet(seed=5)
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                try:
                    for byte in data:
                        sock.sendall(bytes([byte]))
                        time.sleep(0.5)  # under the read timeout, but never done
                except OSError:
                    pass
            return time.monotonic() - began

        def flood() -> None:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
                contextlib.suppress(OSError),
            ):
                sock.sendall(bytes(range(256)) * 40)

        idle_task = asyncio.create_task(asyncio.to_thread(idle))
        slow_task = asyncio.create_task(asyncio.to_thread(slow))
        await asyncio.to_thread(flood)
        await asyncio.to_thread(send_packet, "127.0.0.1", port, b"GET / HTTP/1.0\r\n\r\n")
        good = packet(device_id=2, seed=9)
        await asyncio.to_thread(send_packet, "127.0.0.1", port, good)
        await eventually(
            lambda: bridge.count(SAMPLE_COUNT + " WHERE device_id = 2") == 30,
            what="the good station's samples",
        )
        assert await asyncio.wait_for(idle_task, 10) == b""
        assert await asyncio.wait_for(slow_task, 40) < 30
        await eventually(
            lambda: bridge.count("SELECT count(*) FROM noise_kept") == 3, what="kept noise"
        )
        assert bridge.query("SELECT data FROM packets") == [(good,)]
        kept = dict(bridge.query("SELECT data, reason FROM noise_kept"))
        # The flood, the HTTP request and the slow trickle; the idle one sent nothing.
        assert "bytes_ready 17735 is more than" in kept[b"GET / HTTP/1.0\r\n\r\n"]
        (slow_reason,) = [r for d, r in kept.items() if d and packet(seed=5).startswith(d)]
        assert "fewer than 9 header bytes" in slow_reason
        assert any("a station sends at most 359" in reason for reason in kept.values())
        assert bridge.query("SELECT source, connections, refused FROM noise_sources") == [
            ("127.0.0.1", 4, 0)
        ]


async def test_a_slow_sink_holds_up_decoding_and_nothing_is_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that decoded batches wait in memory for a working sink that is behind:
    once memory holds ``RECENT_BATCHES`` of them, packets wait committed, and
    every batch reaches both sinks from memory, none read back."""
    monkeypatch.setattr(memory_module, "RECENT_BATCHES", 4)
    slow, fast = GatedSink("slow"), GatedSink("fast")
    slow.gate.clear()
    async with running_bridge(bridge_config(tmp_path), [slow, fast]) as bridge:
        for n in range(12):
            send_packet("127.0.0.1", bridge.port, packet(1 + n, seed=n))
        await eventually(lambda: bridge.count("SELECT count(*) FROM packets") == 12)
        await eventually(lambda: len(fast.arrivals) == 4, what="the first batches delivered")
        await asyncio.sleep(0.5)
        assert bridge.count("SELECT count(*) FROM packets WHERE state = 'new'") == 8
        assert len(fast.arrivals) == 4
        slow.gate.set()
        await eventually(
            lambda: len(slow.arrivals) == len(fast.arrivals) == 12, what="every batch delivered"
        )
        assert bridge.assembly.stages.calls["read_back"] == 0


async def test_a_sink_that_is_down_holds_up_nothing_and_reads_back_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that memory does not wait for a sink whose service is down: the other
    sink gets every batch, and the one that was down reads its batches back from
    the database once it is back."""
    monkeypatch.setattr(memory_module, "RECENT_BATCHES", 4)
    down, fast = GatedSink("down"), GatedSink("fast")
    down.down = True
    async with running_bridge(bridge_config(tmp_path), [down, fast]) as bridge:
        for n in range(12):
            send_packet("127.0.0.1", bridge.port, packet(1 + n, seed=n))
        await eventually(lambda: len(fast.arrivals) == 12, what="every batch to the working sink")
        assert bridge.count("SELECT count(*) FROM packets WHERE state = 'done'") == 12
        down.down = False
        await eventually(lambda: len(down.arrivals) == 12, "the batches once it is back", 15)
        assert sorted(down.arrivals) == sorted(fast.arrivals)
        assert bridge.assembly.stages.calls["read_back"] > 0


async def test_unknown_station_kept_then_reprocessed(tmp_path: Path) -> None:
    """Test that a packet from an unconfigured station is kept aside and decoded by
    reprocess once the station is configured, with the same stamps as live."""
    fields = [
        {"key": "temperature", "type": "i16", "scale": 0.01},
        {"key": "humidity", "type": "u16", "scale": 0.01},
    ]
    config_file = write_config(
        tmp_path / "config.yaml",
        {
            "listen": {"host": "127.0.0.1", "port": 5001},
            "storage": {"path": str(tmp_path / "wx.db")},
            "unknown_stations": {"action": "keep"},
        },
    )
    parser = make_parser(fields=[FieldSpec(**spec) for spec in fields])
    station = SimStation(9, parser, 1_790_000_000.0)
    wake = station.wake()
    capture = tmp_path / "capture.jsonl"
    capture.write_text(
        json.dumps(
            {"received_at": wake.arrival, "peer": "127.0.0.1:40000", "data": wake.packet.hex()}
        )
        + "\n"
    )
    result = cli("ingest", str(capture), "-c", str(config_file))
    assert result.returncode == 0, result.stderr
    assert "decoded 0 packets, 1 kept aside" in result.stdout
    exported = cli("export", "-c", str(config_file))
    assert exported.stdout == ""

    config_file.write_text(
        config_file.read_text()
        + "stations:\n  9:\n    name: Shed\n    fields: "
        + json.dumps(fields)
        + "\n"
    )
    result = cli("reprocess", "-c", str(config_file))
    assert result.returncode == 0, result.stderr
    assert "1 kept-aside packets queued" in result.stdout
    assert "decoded 1 packets, 0 kept aside" in result.stdout
    lines = [json.loads(line) for line in cli("export", "-c", str(config_file)).stdout.splitlines()]
    assert len(lines) == 30
    assert {line["station"] for line in lines} == {"Shed"}
    assert set(lines[0]) == {"device_id", "station", "time", "temperature", "humidity"}


def capture_line(arrival: float, data: bytes, peer: str = "192.168.1.50:40000") -> str:
    return json.dumps({"received_at": arrival, "peer": peer, "data": data.hex()}) + "\n"


@pytest.mark.parametrize("sequence", load_vectors("timing.json"), ids=lambda s: s["name"])
def test_ingest_timing_vectors_then_export(tmp_path: Path, sequence: dict[str, Any]) -> None:
    """Test that ingesting a vector sequence, one packet per run so the clock must be
    read back from the database each time, exports the expected stamps."""
    config_file = write_config(tmp_path / "config.yaml", {"storage": {"path": "wx.db"}})
    expected = []
    for number, entry in enumerate(sequence["packets"]):
        capture = tmp_path / f"capture{number}.jsonl"
        capture.write_text(capture_line(entry["arrival"], bytes.fromhex(entry["hex"])))
        result = cli("ingest", str(capture), "-c", str(config_file))
        assert result.returncode == 0, result.stderr
        expected.extend(entry["stamps"])
    lines = cli("export", "-c", str(config_file)).stdout.splitlines()
    times = [datetime.fromisoformat(json.loads(line)["time"]).timestamp() for line in lines]
    assert times == pytest.approx(expected, abs=1e-3)


def test_export_raw_round_trips_through_ingest(tmp_path: Path) -> None:
    """Test that export --raw writes what ingest reads, and a second database
    built from it exports the same samples."""
    first = write_config(tmp_path / "a.yaml", {"storage": {"path": "a.db"}})
    second = write_config(tmp_path / "b.yaml", {"storage": {"path": "b.db"}})
    station = SimStation(1, PARSER, 1_790_000_000.0, clock_factor=1.01)
    capture = tmp_path / "capture.jsonl"
    with capture.open("w") as out:
        for _ in range(3):
            wake = station.wake()
            station.delivered()
            out.write(capture_line(wake.arrival, wake.packet))
    assert cli("ingest", str(capture), "-c", str(first)).returncode == 0
    raw = tmp_path / "raw.jsonl"
    raw.write_text(cli("export", "--raw", "-c", str(first)).stdout)
    assert cli("ingest", str(raw), "-c", str(second)).returncode == 0
    samples_a = cli("export", "-c", str(first), "--format", "csv").stdout
    samples_b = cli("export", "-c", str(second), "--format", "csv").stdout
    assert samples_a == samples_b
    assert samples_a.count("\n") == 1 + 90
    assert samples_a.splitlines()[0] == "device_id,station,time,humidity,light,temperature"


def test_export_filters_by_station_and_time(tmp_path: Path) -> None:
    config_file = write_config(tmp_path / "c.yaml", {"storage": {"path": "c.db"}})
    capture = tmp_path / "capture.jsonl"
    capture.write_text(
        capture_line(1_790_000_000.0, packet(device_id=1))
        + capture_line(1_790_000_100.0, packet(device_id=2))
    )
    assert cli("ingest", str(capture), "-c", str(config_file)).returncode == 0
    only_two = cli("export", "-c", str(config_file), "--station", "2").stdout.splitlines()
    assert len(only_two) == 30
    assert {json.loads(line)["device_id"] for line in only_two} == {2}
    every = cli("export", "-c", str(config_file), "--station", "1").stdout.splitlines()
    times = [json.loads(line)["time"] for line in every]
    since, until = times[25], times[28]
    recent = cli("export", "-c", str(config_file), "--station", "1", "--since", since)
    assert [json.loads(line)["time"] for line in recent.stdout.splitlines()] == times[25:]
    unix = str(datetime.fromisoformat(until).timestamp())
    window = cli(
        "export", "-c", str(config_file), "--station", "1", "--since", since, "--until", unix
    )
    assert [json.loads(line)["time"] for line in window.stdout.splitlines()] == times[25:28]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            {"stations": {1: {"name": "Garden", "address": "10.9.9.9"}}},
            "must send from 10.9.9.9, this came from 127.0.0.1",
        ),
        ({"listen": {"allowed_networks": ["192.168.0.0/16"]}}, "is not in listen.allowed_networks"),
    ],
    ids=["station-address", "allowed-networks"],
)
async def test_a_packet_from_an_address_the_config_refuses_is_kept_aside(
    tmp_path: Path, raw: dict[str, Any], reason: str
) -> None:
    """Test that a packet from outside listen.allowed_networks, or claiming a station
    pinned to another address, is kept aside with the reason and decoded into nothing."""
    async with running_bridge(bridge_config(tmp_path, raw)) as bridge:
        await asyncio.to_thread(send_packet, "127.0.0.1", bridge.port, packet())
        await eventually(
            lambda: bridge.count("SELECT count(*) FROM packets WHERE state = 'kept'") == 1
        )
        ((kept_reason,),) = bridge.query("SELECT reason FROM packets")
        assert reason in kept_reason
        assert bridge.count(SAMPLE_COUNT) == 0


async def test_full_spool_stops_accepting_then_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that at its size cap the bridge refuses connections (stations keep their
    samples) instead of dropping data, and accepts again once there is room."""
    monkeypatch.setattr("bridge.runtime.housekeeping.ROOM_CHECK_INTERVAL", 0.1)
    config = bridge_config(tmp_path)
    async with running_bridge(config) as bridge:
        spool = await bridge.store.call(lambda spool: spool)
        spool.max_size = 1  # every byte is over the cap now
        await asyncio.to_thread(send_packet, "127.0.0.1", bridge.port, packet(seed=1))
        await eventually(lambda: bridge.receiver.paused is not None, what="pause")
        assert "at its cap" in (bridge.receiver.paused or "")
        with pytest.raises(ConnectionRefusedError):
            await asyncio.to_thread(send_packet, "127.0.0.1", bridge.port, packet(seed=2))
        spool.max_size = 10**12
        await eventually(lambda: bridge.receiver.paused is None, what="resume")
        await asyncio.to_thread(send_packet, "127.0.0.1", bridge.port, packet(seed=3))
        await eventually(lambda: bridge.count(SAMPLE_COUNT) == 60)


def test_kill_9_under_load_loses_nothing_committed(tmp_path: Path) -> None:
    """Test that killing the bridge with SIGKILL while a fleet sends, then starting it
    again, leaves every committed packet decoded exactly once."""
    port = free_port()
    config_file = write_config(
        tmp_path / "config.yaml",
        {"listen": {"host": "127.0.0.1", "port": port}, "storage": {"path": "wx.db"}},
    )
    fleet = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridge.sim",
            "fleet",
            "--port",
            str(port),
            "--stations",
            "40",
            "--rate",
            "200",
            "--packets",
            "1200",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    with bridge_process(config_file, tmp_path / "bridge.log") as bridge:
        for _ in range(3):
            bridge.start()
            time.sleep(0.8)
            bridge.kill()
        bridge.start()
        fleet.wait(60)
        assert bridge.terminate() == 0
    db = sqlite3.connect(tmp_path / "wx.db")
    states = dict(db.execute("SELECT state, count(*) FROM packets GROUP BY state").fetchall())
    assert set(states) == {"done"}, states
    assert db.execute("SELECT count(*) FROM batches").fetchone()[0] == states["done"]
    duplicates = db.execute(
        "SELECT count(*) FROM (SELECT packet_id FROM batches "
        "GROUP BY packet_id HAVING count(*) > 1)"
    ).fetchone()[0]
    assert duplicates == 0
    per_packet = db.execute(
        "SELECT count(*) FROM batches b JOIN packets p ON p.id = b.packet_id "
        "WHERE (SELECT coalesce(sum(count), 0) FROM readings s WHERE s.seq = b.seq) "
        "!= length(p.data) / 6 - 1"
    ).fetchone()[0]
    assert per_packet == 0  # every stored packet's 9 + 6k bytes gave its k samples
    assert states["done"] > 100


def test_run_reports_a_taken_port(tmp_path: Path) -> None:
    """Test that a port in use gives a clear message and exit code 3."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config_file = write_config(
            tmp_path / "config.yaml",
            {"listen": {"host": "127.0.0.1", "port": port}, "storage": {"path": "wx.db"}},
        )
        result = cli("run", "-c", str(config_file))
    assert result.returncode == 3
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "another program uses it" in result.stderr


def test_run_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    """Test that SIGTERM finishes what is in hand and exits 0 with a summary."""
    port = free_port()
    config_file = write_config(
        tmp_path / "config.yaml",
        {"listen": {"host": "127.0.0.1", "port": port}, "storage": {"path": "wx.db"}},
    )
    with bridge_process(config_file, tmp_path / "bridge.log") as bridge:
        bridge.start()
        send_packet("127.0.0.1", port, packet())
        wait_until(
            lambda: "30 samples" in (tmp_path / "bridge.log").read_text(), "the packet decoded", 10
        )
        assert bridge.terminate() == 0
    log = (tmp_path / "bridge.log").read_text()
    assert "stopped; 1 packets decoded, 0 kept aside, 0 waiting" in log


def test_stops_within_systemds_limit_with_both_sinks_hanging(tmp_path: Path) -> None:
    """Test that SIGTERM while InfluxDB and the MQTT broker both hang (frozen
    with SIGSTOP after the bridge connected: connections are taken, nothing
    answers) still ends the bridge, exit 0, before the unit's ``TimeoutStopSec``
    runs out, with every packet committed and decoded."""
    unit = (ROOT / "deploy" / "wxstation-bridge.service").read_text()
    (limit,) = [
        int(line.split("=")[1]) for line in unit.splitlines() if line.startswith("TimeoutStopSec=")
    ]
    port = free_port()
    log_file = tmp_path / "bridge.log"
    with InfluxDB1() as influx, Mosquitto() as broker:
        influx.create_database("wx")
        config_file = write_config(
            tmp_path / "config.yaml",
            {
                "listen": {"host": "127.0.0.1", "port": port},
                "storage": {"path": "wx.db"},
                "influxdb": {"url": influx.url, "api": 1, "database": "wx"},
                "mqtt": {"host": broker.host, "port": broker.port},
            },
        )
        with bridge_process(config_file, log_file) as bridge:
            bridge.start()
            wait_until(lambda: "MQTT: connected" in log_file.read_text(), "the broker", 20)
            with influx.hung(), broker.hung():
                for device_id in range(1, 11):
                    send_packet("127.0.0.1", port, packet(device_id=device_id))
                time.sleep(1)  # the sinks are now waiting on their services
                began = time.monotonic()
                assert bridge.terminate(timeout=limit + 60) == 0
                took = time.monotonic() - began
    log = log_file.read_text()
    assert took < limit, f"stopping took {took:.1f} s, systemd kills after {limit} s\n{log}"
    assert "shutdown took" in log
    assert "stopped; 10 packets decoded, 0 kept aside, 0 waiting" in log


OUT_OF_FILES = """
import asyncio, logging, resource, sys
from wxstation.samples import Batch
from bridge.logs import LoopExceptions

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

async def main() -> None:
    asyncio.get_running_loop().set_exception_handler(LoopExceptions())
    held = []

    async def hold(reader, writer):
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(3)
    print("held", len(held), flush=True)

asyncio.run(main())
"""


def test_out_of_file_descriptors_while_accepting_is_a_warning() -> None:
    """Test the loop handler with a real server that runs out of file descriptors
    while connections keep coming: one clear warning that says what to do, no
    traceback, one line however often the loop fails, and the server keeps the
    connections it could take."""
    child = subprocess.Popen(
        [sys.executable, "-c", OUT_OF_FILES],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    port = int(child.stdout.readline())
    clients = []
    try:
        for _ in range(80):
            clients.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        out, err = child.communicate(timeout=30)
    finally:
        for client in clients:
            client.close()
    assert child.returncode == 0, err
    assert "Traceback" not in err
    # The loop fails to take the connections beyond the limit again and again:
    # one line says so.
    assert err.count("out of file descriptors accepting connections") == 1, err
    assert "LimitNOFILE" in err
    assert 0 < int(out.split()[-1]) < 80


def test_watching_a_closed_socket_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Test the loop handler: a socket closed before the loop watches it (the MQTT
    client's reconnect race) logs one warning line; other errors keep the default."""
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(LoopExceptions())
    sock = socket.socket()
    fileno = sock.fileno()
    sock.close()
    try:
        loop.call_soon(loop.add_writer, fileno, lambda: None)
        loop.call_soon(operator.truediv, 1, 0)
        loop.run_until_complete(asyncio.sleep(0.01))
    finally:
        loop.close()
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "closed before the event loop could watch it" in warnings[0].getMessage()
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "truediv" in errors[0].getMessage()


async def test_a_database_that_cannot_store_decoded_packets_is_said_once_a_minute(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that the decoder, retrying while the database refuses its writes (here
    SQLite's own read-only refusal), logs one error line for many tries, and
    says when decoded packets are stored again; then the packets are decoded."""
    monkeypatch.setattr(decoder_module, "FULL_RETRY_INTERVAL", 0.01)
    sim = SimStation(1, ReferenceParser(), 1_790_000_000.0)
    wake = sim.wake()
    with Spool(tmp_path / "wx.db") as spool:
        spool.packets.add([Received(wake.packet, wake.arrival, "192.0.2.1:4000")])
        store = Store(spool, StageClock())
        try:
            decoder = Decoder(
                parse_config({}),
                store,
                RecentBatches([]),
                on_batches=lambda: None,
                events=RuntimeEvents(),
                stages=StageClock(),
                decode_log=DecodeLog(),
            )
            await decoder.start()
            await store.call(lambda s: s.db.execute("PRAGMA query_only=1"))
            with caplog.at_level(logging.INFO, logger="bridge.runtime.decoder"):
                decoding = asyncio.create_task(decoder._decode_all())
                await asyncio.sleep(0.5)
                await store.call(lambda s: s.db.execute("PRAGMA query_only=0"))
                await asyncio.wait_for(decoding, 10)
            lines = [r for r in caplog.records if r.name == "bridge.runtime.decoder"]
            assert [r.levelname for r in lines] == ["ERROR", "INFO"], lines
            assert "cannot store decoded packets" in lines[0].getMessage()
            assert lines[1].getMessage() == "decoded packets are stored again"
            assert await store.counts() == {"done": 1}
        finally:
            store.close()
