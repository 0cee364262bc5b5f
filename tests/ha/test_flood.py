"""A flood on the direct port, inside Home Assistant: its loop, which runs
everything in the house, stays responsive, and the station still gets through.

The flood is what a LAN host can send: thousands of connections of garbage and
a hundred that connect and say nothing. It is sent from a thread of this
process with blocking sockets, so that it does not take turns of the loop it
is measured on (it does contend for the interpreter's lock, as Home
Assistant's own threads do); the station sends from the loop, as a packet of
its own. The silent connections stay open while the garbage is sent, then
close. The loop is measured as Home Assistant runs it, without the asyncio
debug mode its test harness turns on.
"""

from __future__ import annotations

import asyncio
import errno
import math
import resource
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant

from bridge.sim import send_packet_async
from tests.support.floods import FLOOD_SOURCE, HOME_ASSISTANT_FLOOD, SECOND_SOURCE, LoopLag
from wxstation import noise
from wxstation.parsers import ReferenceParser
from wxstation.samples import make_batch
from wxstation.timing import StationClock

from .common import SEND_TIMEOUT, setup_entry, station, tcp_entry, until

pytestmark = pytest.mark.usefixtures("socket_enabled")

#: The flood a LAN host can send (tests/support/floods.py), which stalled Home
#: Assistant 2025.4.4's loop for seconds before the listener bounded its
#: accepts: 3,000 connections of 4 KB of garbage, and 100 silent ones.
GARBAGE = HOME_ASSISTANT_FLOOD.garbage
GARBAGE_SIZE = HOME_ASSISTANT_FLOOD.size
SILENT = HOME_ASSISTANT_FLOOD.silent
#: Garbage connections open at once: a burst the listener's backlog (and this
#: process's descriptors, two a connection on loopback) takes in one go.
BATCH = 500
#: Descriptors left for Home Assistant and the test beside the flood's.
FD_HEADROOM = 1024
#: The most the loop may be held at a stretch while the port is flooded.
MAX_LAG = 0.25
#: Seconds a flood connection may take to connect or write before the
#: flooder gives up on it: a hung listener fails the test instead of hanging it.
CONNECT_TIMEOUT = 10.0
#: Seconds the flood runs before the station sends: the garbage is arriving.
STATION_AFTER = 0.2
#: Seconds the station's values may take to be states, flood or not.
STATION_WITHIN = 5.0
#: Seconds until every flood connection was served or closed unread, after the
#: flooder closed its silent ones.
SETTLE_WITHIN = 60.0


@dataclass
class FloodReport:
    """What the flooder did: connections made, bytes the kernel took, errors by kind."""

    connections: int = 0
    bytes_written: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def failed(self, err: OSError) -> None:
        name = errno.errorcode.get(err.errno or 0, type(err).__name__)
        self.errors[name] = self.errors.get(name, 0) + 1


def flood(port: int, garbage_from: str, report: FloodReport) -> None:
    """Hold :data:`SILENT` connections open from :data:`SECOND_SOURCE` while
    sending :data:`GARBAGE` connections of garbage from ``garbage_from``,
    :data:`BATCH` open at once. Blocking; run in a thread."""
    garbage = bytes(range(256)) * (GARBAGE_SIZE // 256)
    silent = _connections(port, SECOND_SOURCE, SILENT, report)
    try:
        for start in range(0, GARBAGE, BATCH):
            batch = _connections(port, garbage_from, min(BATCH, GARBAGE - start), report)
            try:
                for sock in batch:
                    _send(sock, garbage, report)
            finally:
                _close(batch)
    finally:
        _close(silent)


def _connections(port: int, source: str, count: int, report: FloodReport) -> list[socket.socket]:
    """``count`` blocking connections to the listener on ``port`` from
    ``source``, open at once; those that could not be made are counted."""
    opened = []
    for _ in range(count):
        try:
            opened.append(
                socket.create_connection(
                    ("127.0.0.1", port), timeout=CONNECT_TIMEOUT, source_address=(source, 0)
                )
            )
        except OSError as err:
            report.failed(err)
    report.connections += len(opened)
    return opened


def _close(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def _send(sock: socket.socket, data: bytes, report: FloodReport) -> None:
    """Write ``data`` and say so: a listener that refuses the source closes
    the connection unread, which resets it."""
    try:
        sock.sendall(data)
        report.bytes_written += len(data)
        sock.shutdown(socket.SHUT_WR)
    except OSError as err:
        report.failed(err)


@contextmanager
def file_limit(needed: int) -> Iterator[None]:
    """At least ``needed`` descriptors for this process while the block runs
    (the soft limit raised if it must be, within the hard one), as before after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.fail(f"the flood needs {needed} descriptors; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextmanager
def loop_as_in_use(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """The loop without asyncio's debug mode while the block runs, as Home
    Assistant runs it in use. Its test harness turns debug mode on, which records
    the stack of every callback scheduled: some 100 µs each here, several
    callbacks a connection, which would be measured as the listener's cost."""
    debug = loop.get_debug()
    loop.set_debug(False)
    try:
        yield
    finally:
        loop.set_debug(debug)


def newest_values(packet: bytes) -> dict[str, float]:
    """The newest sample's values a station's packet gives, whenever it arrived."""
    batch, _ = make_batch("Station 1", ReferenceParser(), StationClock(), packet, time.time())
    return batch.samples[-1].values


def states_show(hass: HomeAssistant, values: dict[str, float]) -> bool:
    """True when station 1's entities show ``values``."""
    for key, value in values.items():
        state = hass.states.get(f"sensor.station_1_{key}")
        if state is None or state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
            return False
        if not math.isclose(float(state.state), value, rel_tol=1e-9):
            return False
    return True


#: Where the garbage comes from: a host that is not a station (refused once it
#: sent a window's worth), or the station's own address (a station's, never
#: refused: every connection is read).
FROM_ANOTHER_HOST = FLOOD_SOURCE
FROM_THE_STATION = "127.0.0.1"


@pytest.mark.parametrize(
    "garbage_from", [FROM_ANOTHER_HOST, FROM_THE_STATION], ids=["another-host", "station-address"]
)
async def test_a_flood_on_the_direct_port_leaves_the_loop_free_and_the_station_through(
    hass: HomeAssistant, garbage_from: str
) -> None:
    """While a thread floods the direct port with 3,000 connections of 4 KB of
    garbage and 100 silent ones (from another address), Home Assistant's loop,
    timed by a repeating timer, is never held more than MAX_LAG, and a station's
    packet sent meanwhile from 127.0.0.1 becomes its entities' states within a
    few seconds. Garbage from another host is refused once it sent a window's
    worth; from the station's own address (after its first packet) every
    connection is read. Of the garbage, its source's few are kept aside. The
    figures are printed."""
    entry = tcp_entry()
    await setup_entry(hass, entry)
    source = entry.runtime_data.source
    listener = source.listener
    assert listener is not None
    sim = station(1)
    packets = []
    if garbage_from == FROM_THE_STATION:
        first = sim.wake().packet
        await send_packet_async("127.0.0.1", source.port, first, SEND_TIMEOUT)
        await until(hass, lambda: states_show(hass, newest_values(first)), "the first packet")
        sim.delivered()
        packets.append(first)
    packet = sim.wake().packet
    packets.append(packet)
    expected = newest_values(packet)
    assert not states_show(hass, expected)
    report = FloodReport()
    lag = LoopLag()
    with file_limit(2 * (BATCH + SILENT) + FD_HEADROOM), loop_as_in_use(hass.loop):
        lag.start()
        try:
            flooding = asyncio.ensure_future(
                asyncio.to_thread(flood, source.port, garbage_from, report)
            )
            await asyncio.sleep(STATION_AFTER)
            sent = time.monotonic()
            await send_packet_async("127.0.0.1", source.port, packet, SEND_TIMEOUT)
            await until(hass, lambda: states_show(hass, expected), "the states", STATION_WITHIN)
            station_after = time.monotonic() - sent
            during = not flooding.done()
            await flooding
        finally:
            lag.stop()
    print(
        f"\nflood from {garbage_from} on the direct port: loop lag at most "
        f"{lag.worst * 1000:.0f} ms ({lag.ticks} ticks); the station's states "
        f"{station_after:.2f} s after it sent ({'during' if during else 'after'} the flood); "
        f"flood: {report}"
    )
    assert lag.ticks > 0
    assert lag.worst <= MAX_LAG
    assert report.connections == GARBAGE + SILENT

    everything = GARBAGE + SILENT + len(packets)
    await until(
        hass,
        lambda: listener.connections + listener.refused == everything,
        "every flood connection served or closed unread",
        SETTLE_WITHIN,
    )
    print(f"listener: {listener.connections} connections served, {listener.refused} refused")
    if garbage_from == FROM_THE_STATION:
        assert listener.connections >= GARBAGE + len(packets)  # all of it read
    else:
        assert listener.refused > GARBAGE / 2
    # The station's packets, and the garbage's few kept aside for a person to see.
    assert source.handled == noise.KEPT_PER_WINDOW + len(packets)
