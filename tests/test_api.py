"""The library's public surface: the integration uses nothing else from outside
Home Assistant and Python, and its listener decodes as the bridge does."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import logging
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import wxstation
from bridge.sim import SimStation, send_packet_async
from tests.support.clock import Clock
from tests.support.waiting import eventually
from wxstation import (
    Config,
    DecodeResult,
    ListenConfig,
    StationClock,
    StationConfig,
    StationListener,
    UnknownStations,
    noise,
    receiving,
)
from wxstation.parsers import ReferenceParser
from wxstation.samples import make_batch

INTEGRATION = Path(__file__).parent.parent / "custom_components"
ARRIVAL = 1_790_000_000.0
LOOPBACK = ListenConfig(host="127.0.0.1", port=0)
#: A host on the LAN that is not a station (Linux routes all of 127/8 to loopback).
STRANGER = "127.0.0.2"


#: Home Assistant's schema library, in which its config flows are written: voluptuous,
#: or probatio, which replaces it from 2026 on (custom_components/wxstation/compat.py).
HA_SCHEMA = ("voluptuous", "probatio")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """The line and module of every absolute import in the file at ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        found += [(node.lineno, m) for m in modules]
    return found


def outside_the_boundary(path: Path) -> list[tuple[int, str]]:
    """Imports in ``path`` of anything but the standard library, Home Assistant
    (with its schema library) and ``wxstation`` itself (not its modules:
    ``wxstation.config`` is outside)."""
    return [
        (line, module)
        for line, module in imported_modules(path)
        if not (
            module.split(".")[0] in sys.stdlib_module_names
            or module == "homeassistant"
            or module.startswith("homeassistant.")
            or module in HA_SCHEMA
            or module == "wxstation"
        )
    ]


def test_the_integration_imports_only_the_library_home_assistant_and_python() -> None:
    """Test that the modules under custom_components import nothing but the
    standard library, Home Assistant and the library's public surface: not the
    bridge, not a module of the library, not another package."""
    files = sorted(INTEGRATION.rglob("*.py"))
    assert files, f"no integration under {INTEGRATION}"
    elsewhere = [
        f"{path.relative_to(INTEGRATION)}:{line}: {module}"
        for path in files
        for line, module in outside_the_boundary(path)
    ]
    assert elsewhere == []
    assert any(m == "wxstation" for path in files for _, m in imported_modules(path))


def test_the_import_check_sees_every_form(tmp_path: Path) -> None:
    """Test that the check above finds ``import bridge.x``, ``from wxstation.x import``,
    ``from bridge import x`` and another package, and lets the standard library,
    Home Assistant, ``wxstation`` and relative imports through."""
    module = tmp_path / "module.py"
    module.write_text(
        "import bridge.spool\nfrom wxstation.config import Config\nfrom bridge import api\n"
        "from .bridge import x\nimport aiomqtt\nimport logging.handlers\n"
        "from homeassistant.core import HomeAssistant\nfrom wxstation import Batch\n"
        "import wxstation\n",
        encoding="utf-8",
    )
    assert outside_the_boundary(module) == [
        (1, "bridge.spool"),
        (2, "wxstation.config"),
        (3, "bridge"),
        (5, "aiomqtt"),
    ]


def test_everything_listed_is_there() -> None:
    """Test that every name in wxstation's __all__ exists, and that it has a docstring."""
    assert "Home Assistant" in (wxstation.__doc__ or "")
    assert [name for name in wxstation.__all__ if not hasattr(wxstation, name)] == []


async def send(port: int, data: bytes) -> None:
    """One station connection to the listener on ``port``."""
    await send_packet_async("127.0.0.1", port, data, 5)


async def send_from(source: str, port: int, data: bytes) -> None:
    """One connection from ``source`` to the listener on ``port``; a refused
    one (closed unread, so reset) is no error here."""
    connect = functools.partial(asyncio.open_connection, local_addr=(source, 0))
    with contextlib.suppress(OSError):
        await send_packet_async("127.0.0.1", port, data, 5, connect)


class Handed:
    """An ``on_packet`` that queues what the listener hands over."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[DecodeResult] = asyncio.Queue()

    def __call__(self, result: DecodeResult) -> None:
        self.queue.put_nowait(result)

    async def next(self) -> DecodeResult:
        return await asyncio.wait_for(self.queue.get(), 5)


def station_config(*stations: int, unknown: str = "keep") -> Config:
    return Config(
        listen=LOOPBACK,
        stations={
            device: StationConfig(device, f"Station {device}", ReferenceParser())
            for device in stations
        },
        unknown_stations=UnknownStations(unknown),
    )


async def test_listener_decodes_as_the_bridge_does() -> None:
    """Test that a packet sent to the listener is handed over as the batch the
    bridge's own decoding gives for the same bytes, arrival and clock, numbered
    from next_id, with the station's clock advanced; once stopped, it refuses."""
    handed = Handed()
    clocks: dict[int, StationClock] = {}
    listener = StationListener(
        station_config(3), handed, clocks=clocks, next_id=41, clock=Clock(ARRIVAL)
    )
    await listener.start()
    try:
        assert listener.port != 0
        packet = SimStation(3, ReferenceParser(), ARRIVAL - 3600).wake().packet
        await send(listener.port, packet)
        result = await handed.next()
    finally:
        await listener.stop()
    expected, after = make_batch("Station 3", ReferenceParser(), StationClock(), packet, ARRIVAL)
    assert result.kept is None
    assert result.batch == expected
    assert (result.packet.id, result.packet.device_id, result.packet.data) == (41, 3, packet)
    assert result.packet.received_at == ARRIVAL
    assert listener.next_id == 42
    assert clocks == {3: after}
    assert listener.connections == 1
    with pytest.raises(ConnectionRefusedError):
        await send(listener.port, packet)


async def test_listener_keeps_aside_and_decodes_again() -> None:
    """Test that a packet of a station the config does not know is handed over
    kept aside with the bridge's reason, and decodes once the config knows it;
    bytes that are no packet are kept aside too, with no device."""
    handed = Handed()
    listener = StationListener(station_config(), handed, clock=Clock(ARRIVAL))
    await listener.start()
    try:
        packet = SimStation(9, ReferenceParser(), ARRIVAL - 3600).wake().packet
        await send(listener.port, packet)
        unknown = await handed.next()
        await send(listener.port, b"hello")
        garbage = await handed.next()
    finally:
        await listener.stop()
    assert unknown.batch is None
    assert unknown.kept is not None
    assert unknown.kept.startswith("device 9 is not configured (unknown_stations: keep)")
    assert unknown.packet.device_id == 9
    assert garbage.batch is None
    assert garbage.kept == "fewer than 9 header bytes: only 5 arrived (byte 5)"
    assert garbage.packet.device_id is None

    listener.config = station_config(9)
    again = listener.decode(replace(unknown.packet, state="kept", reason=unknown.kept))
    assert again.batch is not None
    assert again.batch.device_id == 9
    assert 9 in listener.clocks


async def test_a_failing_handler_is_logged_and_the_listener_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Test that an error in on_packet is logged with the packet and does not
    stop the listener from handing over the next packet."""
    handed = Handed()

    def handler(result: DecodeResult) -> None:
        handed(result)
        if result.packet.id == 1:
            raise RuntimeError("the embedder's bug")

    listener = StationListener(station_config(3), handler, clock=Clock(ARRIVAL))
    await listener.start()
    try:
        station = SimStation(3, ReferenceParser(), ARRIVAL - 3600)
        seen = []
        for _ in range(2):
            await send(listener.port, station.wake().packet)
            station.delivered()
            seen.append((await handed.next()).packet.id)
    finally:
        await listener.stop()
    assert seen == [1, 2]
    (failed,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failed.getMessage().startswith("the handler of packet 1 from 127.0.0.1:")
    assert failed.exc_info is not None
    assert str(failed.exc_info[1]) == "the embedder's bug"


def noise_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == noise.__name__ and r.levelno == logging.WARNING and text in r.getMessage()
    ]


async def test_a_source_of_garbage_is_refused_and_a_station_still_arrives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Test the bridge's rules for traffic that is not a station's: of a host
    sending garbage again and again, the window's few connections are handed
    over kept aside, the rest only counted, and once it sent READ_PER_WINDOW
    of them its connections are closed unread; one warning of each kind. A
    station's packet from another address still arrives, and the host is
    served again once the window is over."""
    handed = Handed()
    clock = Clock(ARRIVAL)
    listener = StationListener(station_config(3), handed, clock=clock)
    extra = 10
    await listener.start()
    try:
        with caplog.at_level(logging.WARNING):
            for _ in range(noise.READ_PER_WINDOW + extra):
                await send_from(STRANGER, listener.port, b"GET / HTTP/1.1\r\n\r\n")
            await eventually(
                lambda: listener.connections + listener.refused == noise.READ_PER_WINDOW + extra,
                "every connection of the host served or refused",
            )
            packet = SimStation(3, ReferenceParser(), ARRIVAL - 3600).wake().packet
            await send(listener.port, packet)
            results = [await handed.next() for _ in range(noise.KEPT_PER_WINDOW + 1)]
        assert handed.queue.empty()
        assert listener.refused >= extra
        *garbage, station = results
        assert {r.packet.peer.split(":")[0] for r in garbage} == {STRANGER}
        assert all(r.batch is None and r.kept for r in garbage)
        assert station.batch is not None
        assert station.batch.device_id == 3
        (counted,) = noise_lines(caplog, "sent what is not a station's packet")
        assert counted.startswith(f"{STRANGER}:")
        assert "wxstation-bridge" not in counted
        (refused,) = noise_lines(caplog, "closed unread until")
        assert refused.startswith(f"{STRANGER}: {noise.READ_PER_WINDOW} connections")

        clock.now += noise.WINDOW
        await send_from(STRANGER, listener.port, b"hello")
        again = await handed.next()
    finally:
        await listener.stop()
    assert again.packet.peer.startswith(f"{STRANGER}:")
    assert again.kept == "fewer than 9 header bytes: only 5 arrived (byte 5)"


async def test_a_station_address_is_never_refused() -> None:
    """Test that an address a station's packet came from is a station's: garbage
    from it beyond READ_PER_WINDOW is read and counted, never refused, and its
    station's next packet arrives."""
    handed = Handed()
    listener = StationListener(station_config(3), handed, clock=Clock(ARRIVAL))
    station = SimStation(3, ReferenceParser(), ARRIVAL - 3600)
    garbage = noise.READ_PER_WINDOW + 10
    await listener.start()
    try:
        await send(listener.port, station.wake().packet)
        assert (await handed.next()).batch is not None
        station.delivered()
        for _ in range(garbage):
            await send(listener.port, b"\xff" * 64)
        await send(listener.port, station.wake().packet)
        results = [await handed.next() for _ in range(noise.KEPT_PER_WINDOW + 1)]
        await eventually(lambda: listener.connections == garbage + 2, "every connection served")
    finally:
        await listener.stop()
    assert listener.refused == 0
    assert [r.batch is not None for r in results] == [False] * noise.KEPT_PER_WINDOW + [True]
    assert handed.queue.empty()


async def test_silent_connections_of_one_host_leave_slots_for_stations() -> None:
    """Test per-source slots: a host holding more silent connections open than
    listen.max_connections gets a few of them served at once, and a station's
    packet from another address is handed over long before they time out."""
    handed = Handed()
    listen = replace(LOOPBACK, max_connections=receiving.SLOTS_PER_SOURCE + 2, read_timeout=60)
    config = replace(station_config(3), listen=listen)
    listener = StationListener(config, handed, clock=Clock(ARRIVAL))
    await listener.start()
    silent = []
    try:
        for _ in range(listen.max_connections + 5):
            silent.append(
                await asyncio.open_connection("127.0.0.1", listener.port, local_addr=(STRANGER, 0))
            )
        await eventually(
            lambda: listener.connections == receiving.SLOTS_PER_SOURCE, "the host's slots taken"
        )
        await send(listener.port, SimStation(3, ReferenceParser(), ARRIVAL - 3600).wake().packet)
        result = await handed.next()
        assert listener.connections == receiving.SLOTS_PER_SOURCE + 1
    finally:
        for _, writer in silent:
            writer.close()
        await listener.stop()
    assert result.batch is not None
