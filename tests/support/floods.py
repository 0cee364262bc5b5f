"""Floods of traffic that is not a station's, against the bridge as a real process.

One function per flood, each run at a :class:`FloodSize`: :data:`CI` in
tests/test_flood.py (a few seconds each), :data:`FULL` in the fault suite.
Stations (``python -m bridge.sim fleet``) send from 127.0.0.1, the flood
(``python -m bench.flood``) from 127.0.0.2 and 127.0.0.3: Linux routes all of
127/8 to the loopback interface. Each returns the counts it judged by, for the
fault suite's line.

:func:`listener_flood` floods the embedders' :class:`~wxstation.StationListener`
in the caller's own event loop instead, and measures how late that loop runs
(:class:`LoopLag`): the Home Assistant integration's direct port lives in Home
Assistant's loop, with everything else in the house.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.sim import SimStation, send_packet
from tests.support.bridge import bridge_process, cli, write_config
from tests.support.ledger import SAMPLE_COUNT, ledger
from tests.support.servers import free_port
from tests.support.waiting import wait_until
from wxstation import Config, DecodeResult, ListenConfig, StationConfig, StationListener
from wxstation.parsers import ReferenceParser

MB = 1024 * 1024
FLOOD_SOURCE = "127.0.0.2"
SECOND_SOURCE = "127.0.0.3"


@dataclass(frozen=True, slots=True)
class FloodSize:
    #: storage.max_size_mb: a flood sends at least ten times this.
    max_size_mb: float
    #: Flood connections, and bytes each writes.
    connections: int
    size: int
    #: The fleet: stations, packets in all, packets per second. Their data
    #: (about 7 kB a packet of 30 samples) fits well within the cap: this is
    #: about floods, not about stations filling the database.
    stations: int
    packets: int
    rate: float
    #: Slow connections, how long they trickle, and listen.max_connections then.
    slow: int
    slow_seconds: float
    max_connections: int


CI = FloodSize(
    max_size_mb=2,
    connections=1500,
    size=16384,
    stations=20,
    packets=120,
    rate=60,
    slow=60,
    slow_seconds=5,
    max_connections=16,
)
FULL = FloodSize(
    max_size_mb=8,
    connections=25_000,
    size=4096,
    stations=40,
    packets=600,
    rate=60,
    slow=600,
    slow_seconds=30,
    max_connections=256,
)


@dataclass
class Run:
    """What a flood run saw."""

    db: Path
    log: Path
    #: The stations' report, and the samples they sent in all.
    fleet: dict[str, Any]
    samples_sent: int
    floods: list[dict[str, Any]]
    #: The largest the database's files were on disk.
    largest: int
    status: str

    def noisy(self, source: str) -> tuple[int, int]:
        """(connections read, closed unread) of ``source`` as ``status`` shows them."""
        found = re.search(
            rf"^  {re.escape(source)}: (\d+) connections .*?, (\d+) closed unread",
            self.status,
            re.MULTILINE,
        )
        assert found, self.status
        return int(found[1]), int(found[2])

    def line(self, name: str) -> str:
        counts = ledger(self.db)
        sent = sum(flood["bytes_written"] for flood in self.floods)
        return (
            f"\nfaults: {name}: stations sent {self.samples_sent} samples "
            f"({self.fleet['failures']} packets refused), stored or kept aside as conflicts "
            f"{counts.samples_and_conflicts}; "
            f"flood {sum(f['connections'] for f in self.floods)} "
            f"connections, {sent / MB:.1f} MB; database at most {self.largest / MB:.2f} MB"
        )


def config(tmp_path: Path, port: int, size: FloodSize, **sections: Any) -> Path:
    raw: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port, "max_connections": size.max_connections},
        "storage": {"path": "wx.db", "max_size_mb": size.max_size_mb},
    }
    raw.update(sections)
    return write_config(tmp_path / "config.yaml", raw)


def known_stations(size: FloodSize) -> dict[str, Any]:
    """The fleet's stations listed, and any other device id kept aside."""
    return {
        "stations": {
            device: {"name": f"Station {device}"} for device in range(1, size.stations + 1)
        },
        "unknown_stations": {"action": "keep"},
    }


def _start(module: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True
    )


def fleet(port: int, size: FloodSize) -> subprocess.Popen[str]:
    return _start(
        "bridge.sim",
        "fleet",
        "--port",
        str(port),
        "--stations",
        str(size.stations),
        "--rate",
        str(size.rate),
        "--packets",
        str(size.packets),
    )


def flood(port: int, mode: str, *args: str, source: str = FLOOD_SOURCE) -> subprocess.Popen[str]:
    process = _start("bench.flood", mode, "--port", str(port), "--source", source, *args)
    assert process.stdout is not None
    assert "flooding" in process.stdout.readline()
    return process


def report(process: subprocess.Popen[str], within: float = 300) -> dict[str, Any]:
    out, _ = process.communicate(timeout=within)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


@contextmanager
def largest_database(db: Path) -> Iterator[list[int]]:
    """Watch the database's files (database and write-ahead log) on disk; the
    largest size seen is in the list once the block ends."""
    largest = [0]
    done = threading.Event()

    def watch() -> None:
        # time.sleep, not a timed Event.wait: under faketime (scripts/test's
        # shifted clock) the timed wait does not wake, and nothing was watched.
        while not done.is_set():
            size = 0
            for path in (db, db.with_name(db.name + "-wal")):
                with suppress(FileNotFoundError):
                    size += path.stat().st_size
            largest[0] = max(largest[0], size)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield largest
    finally:
        done.set()
        watcher.join()


def status(config_file: Path) -> str:
    result = cli("status", "-c", str(config_file))
    assert result.returncode == 0, result.stderr
    return result.stdout


def station_packet(device_id: int = 1) -> bytes:
    return SimStation(device_id, ReferenceParser(), time.time() - 3600, seed=99).wake().packet


def samples(db: Path) -> int:
    """Samples decoded and kept: stored, or kept aside as conflicts (see
    :attr:`tests.support.ledger.Ledger.samples_and_conflicts`). Two counts, not the whole
    ledger: polled, a long read would hold the write-ahead log from being reset."""
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return sum(
            int(reader.execute(query).fetchone()[0])
            for query in (SAMPLE_COUNT, "SELECT count(*) FROM conflicts")
        )
    finally:
        reader.close()


def _settle(db: Path, expected: int) -> None:
    wait_until(lambda: samples(db) == expected, "every station sample", 60)


def garbage_flood(tmp_path: Path, size: FloodSize) -> Run:
    """Garbage from 127.0.0.2, ten times the cap and more, while the fleet sends;
    then one more station packet."""
    port = free_port()
    config_file = config(tmp_path, port, size)
    db, log = tmp_path / "wx.db", tmp_path / "bridge.log"
    with bridge_process(config_file, log) as bridge, largest_database(db) as largest:
        bridge.start()
        stations = fleet(port, size)
        flooder = flood(
            port, "garbage", "--connections", str(size.connections), "--size", str(size.size)
        )
        floods = [report(flooder)]
        sent = report(stations)
        send_packet("127.0.0.1", port, station_packet(), timeout=5)
        expected = sent["samples_sent"] + 30
        _settle(db, expected)
        time.sleep(2.5)  # the counts are written with each look at the room left
        assert bridge.terminate() == 0
    return Run(db, log, sent, expected, floods, largest[0], status(config_file))


def header_flood(tmp_path: Path, size: FloodSize) -> Run:
    """Plausible headers of device ids the config does not know: well-formed
    packets from 127.0.0.2, and headers followed by more than they announce
    from 127.0.0.3, while the fleet (every station listed) sends."""
    port = free_port()
    config_file = config(tmp_path, port, size, **known_stations(size))
    db, log = tmp_path / "wx.db", tmp_path / "bridge.log"
    connections = str(size.connections // 2)
    with bridge_process(config_file, log) as bridge, largest_database(db) as largest:
        bridge.start()
        stations = fleet(port, size)
        whole = flood(port, "headers", "--connections", connections, "--size", "60")
        longer = flood(
            port,
            "headers",
            "--connections",
            connections,
            "--size",
            str(size.size),
            source=SECOND_SOURCE,
        )
        floods = [report(whole), report(longer)]
        sent = report(stations)
        send_packet("127.0.0.1", port, station_packet(), timeout=5)
        expected = sent["samples_sent"] + 30
        _settle(db, expected)
        time.sleep(2.5)
        assert bridge.terminate() == 0
    return Run(db, log, sent, expected, floods, largest[0], status(config_file))


def slow_flood(tmp_path: Path, size: FloodSize) -> tuple[Run, float]:
    """Slow connections from 127.0.0.2, more than listen.max_connections, each
    trickling a plausible header; meanwhile stations send one packet after
    another. Also returns the seconds until every station's samples were
    stored, counted from the first packet."""
    port = free_port()
    config_file = config(tmp_path, port, size, **known_stations(size))
    db, log = tmp_path / "wx.db", tmp_path / "bridge.log"
    packets = [station_packet(1 + number % size.stations) for number in range(size.stations)]
    with bridge_process(config_file, log) as bridge, largest_database(db) as largest:
        bridge.start()
        slow = flood(
            port,
            "slow",
            "--connections",
            str(size.slow),
            "--interval",
            "0.5",
            "--seconds",
            str(size.slow_seconds),
        )
        time.sleep(1.0)  # every slow connection is open and trickling
        began = time.monotonic()
        for data in packets:
            send_packet("127.0.0.1", port, data, timeout=5)
        _settle(db, 30 * len(packets))
        served = time.monotonic() - began
        floods = [report(slow)]
        time.sleep(2.5)
        assert bridge.terminate() == 0
    sent = {"packets_sent": len(packets), "samples_sent": 30 * len(packets), "failures": 0}
    run = Run(db, log, sent, 30 * len(packets), floods, largest[0], status(config_file))
    return run, served


def assert_stations_unharmed(run: Run, size: FloodSize) -> None:
    """Every station sample stored, the bridge listening throughout, the database
    within its cap, and no traceback."""
    counts = ledger(run.db)
    assert run.fleet["failures"] == 0
    assert counts.samples_and_conflicts == run.samples_sent
    text = run.log.read_text(errors="replace")
    assert "not accepting packets" not in text
    assert "Traceback" not in text
    assert 0 < run.largest <= size.max_size_mb * MB
    assert "127.0.0.1" not in run.status  # the stations' address is no noisy one


def stored_from(db: Path, host: str) -> list[tuple[str, str]]:
    """(state, reason) of the packets stored from ``host``."""
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = reader.execute(
            "SELECT state, coalesce(reason, '') FROM packets WHERE peer LIKE ?", (f"{host}:%",)
        ).fetchall()
    finally:
        reader.close()
    return [(str(state), str(reason)) for state, reason in rows]


#: Seconds between two ticks of the loop-lag timer: fine enough to see a stall
#: of a few tens of milliseconds, coarse enough to cost the loop nothing.
LAG_TICK = 0.005


class LoopLag:
    """How late a repeating timer on the running loop fires: the longest the
    loop was held by other work at a stretch, as everything else on it feels."""

    def __init__(self) -> None:
        #: The latest a tick fired after it was due, in seconds; ticks fired.
        self.worst = 0.0
        self.ticks = 0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._schedule(loop, loop.time())

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()

    def _schedule(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        due = now + LAG_TICK
        self._handle = loop.call_at(due, self._tick, loop, due)

    def _tick(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        now = loop.time()
        self.worst = max(self.worst, now - due)
        self.ticks += 1
        self._schedule(loop, now)


@dataclass(frozen=True, slots=True)
class ListenerFlood:
    """Garbage connections of ``size`` bytes each (``concurrency`` at a time) and
    silent ones held open, against one listener."""

    garbage: int
    size: int
    concurrency: int
    silent: int


#: The flood a LAN host can send Home Assistant's direct port: thousands of
#: connections of garbage, and a hundred that connect and say nothing.
HOME_ASSISTANT_FLOOD = ListenerFlood(garbage=3000, size=4096, concurrency=100, silent=100)
#: Seconds the flood runs before the station sends: every kind of connection
#: is arriving by then.
STATION_AFTER = 0.5
#: Seconds the station's packet, and the whole flood, may take at the most:
#: a hung run fails instead of waiting for ever.
PATIENCE = 60.0


@dataclass
class ListenerRun:
    """What a flood on a listener did to its loop and to the station's packet."""

    #: The longest the loop was held at a stretch, and the ticks measured.
    lag: float
    ticks: int
    #: CPU seconds the loop's thread spent while the flood lasted.
    cpu: float
    #: Seconds from the station's connection to its decoded packet, and the packet.
    station_after: float
    station: DecodeResult
    #: Packets handed to the embedder (of the garbage, its source's few in a
    #: window, to be kept aside), connections the listener served, and those it
    #: closed unread (their source refused).
    handed: int
    connections: int
    refused: int
    floods: list[dict[str, Any]]

    def line(self) -> str:
        return (
            f"\nlistener flood: loop lag at most {self.lag * 1000:.0f} ms ({self.ticks} ticks), "
            f"loop CPU {self.cpu * 1e6 / max(self.connections + self.refused, 1):.0f} µs "
            "a connection; "
            f"station decoded {self.station_after:.2f} s after it connected; "
            f"{self.connections} connections served, {self.refused} closed unread, "
            f"{self.handed} packets handed over"
        )


async def listener_flood(size: ListenerFlood = HOME_ASSISTANT_FLOOD) -> ListenerRun:
    """Flood a :class:`StationListener` running in this loop from two other
    processes (garbage from 127.0.0.2, silent connections from 127.0.0.3),
    send a station's packet from 127.0.0.1 while it lasts, and measure the loop."""
    loop = asyncio.get_running_loop()
    station: asyncio.Future[tuple[float, DecodeResult]] = loop.create_future()
    handed = 0

    def on_packet(result: DecodeResult) -> None:
        nonlocal handed
        handed += 1
        if result.batch is not None and not station.done():
            station.set_result((time.monotonic(), result))

    config = Config(
        listen=ListenConfig(host="127.0.0.1", port=0),
        stations={1: StationConfig(1, "Garden", ReferenceParser())},
    )
    listener = StationListener(config, on_packet)
    await listener.start()
    lag = LoopLag()
    lag.start()
    began = time.thread_time()
    try:
        port = listener.port
        silent = await asyncio.to_thread(
            flood,
            port,
            "silent",
            *("--connections", str(size.silent), "--seconds", str(PATIENCE)),
            source=SECOND_SOURCE,
        )
        garbage = await asyncio.to_thread(
            flood,
            port,
            "garbage",
            *("--connections", str(size.garbage), "--size", str(size.size)),
            *("--concurrency", str(size.concurrency)),
        )
        await asyncio.sleep(STATION_AFTER)
        sent = time.monotonic()
        await asyncio.to_thread(send_packet, "127.0.0.1", port, station_packet(), timeout=PATIENCE)
        arrived, result = await asyncio.wait_for(station, PATIENCE)
        reports = [
            await asyncio.to_thread(report, garbage, PATIENCE),
            await asyncio.to_thread(report, silent, PATIENCE),
        ]
    finally:
        cpu = time.thread_time() - began
        lag.stop()
        await listener.stop()
    return ListenerRun(
        lag.worst,
        lag.ticks,
        cpu,
        arrived - sent,
        result,
        handed,
        listener.connections,
        listener.refused,
        reports,
    )
