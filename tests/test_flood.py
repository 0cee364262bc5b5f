"""Floods of traffic that is not a station's, at a size that fits CI (tests/support/floods.py).

The same floods run at full size in the fault suite (tests/test_faults.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bridge.sim import send_packet
from bridge.spool import Spool
from tests.support import floods
from tests.support.bridge import bridge_config, running_bridge
from tests.support.floods import CI, FLOOD_SOURCE, MB, SECOND_SOURCE
from tests.support.ledger import SAMPLE_COUNT
from tests.support.waiting import eventually
from wxstation import noise
from wxstation.packets import Received


def test_garbage_flood_ten_times_the_cap_leaves_every_station_sample(tmp_path: Path) -> None:
    """Test that garbage from one address, more than ten times the database's
    cap, while a fleet sends from another, leaves every station sample stored,
    the bridge listening throughout and after, the database within its cap, and
    the flood's totals in status."""
    run = floods.garbage_flood(tmp_path, CI)
    (flood,) = run.floods
    assert flood["bytes_written"] >= 10 * CI.max_size_mb * MB
    floods.assert_stations_unharmed(run, CI)
    read, refused = run.noisy(FLOOD_SOURCE)
    assert read + refused == CI.connections
    assert refused > CI.connections / 2  # slowed: most were closed unread
    assert "closed unread until" in run.log.read_text()


def test_plausible_headers_of_unknown_devices_are_bounded(tmp_path: Path) -> None:
    """Test that plausible headers with device ids the config does not know, as
    well-formed packets and followed by more than they announce, are counted
    and kept within the window's few, while every station sample is stored."""
    run = floods.header_flood(tmp_path, CI)
    floods.assert_stations_unharmed(run, CI)
    for source in (FLOOD_SOURCE, SECOND_SOURCE):
        read, refused = run.noisy(source)
        assert read + refused == CI.connections // 2
    stored = floods.stored_from(run.db, FLOOD_SOURCE)
    # The well-formed ones: the window's first few stored whole and kept aside
    # for reprocess; the longer ones: none stored as packets.
    assert len(stored) == noise.KEPT_PER_WINDOW
    assert all("is not configured" in reason for _, reason in stored)
    assert floods.stored_from(run.db, SECOND_SOURCE) == []


def test_slow_connections_do_not_hold_the_stations_slots(tmp_path: Path) -> None:
    """Test that connections trickling bytes from one address, more than
    listen.max_connections, leave the slots for stations: their samples are all
    stored long before the slow connections end."""
    run, served = floods.slow_flood(tmp_path, CI)
    floods.assert_stations_unharmed(run, CI)
    assert served < CI.slow_seconds / 2
    read, refused = run.noisy(FLOOD_SOURCE)
    assert read + refused == CI.slow


async def test_a_station_address_is_a_station_address_after_a_restart(tmp_path: Path) -> None:
    """Test that the addresses stations sent decoded packets from are known as
    stations' from the start, so no host sharing one can get it refused first."""
    config = bridge_config(tmp_path)
    async with running_bridge(config) as bridge:
        assert not bridge.receiver.noise.is_station("127.0.0.1")
        await asyncio.to_thread(send_packet, "127.0.0.1", bridge.port, floods.station_packet())
        await eventually(lambda: bridge.count("SELECT count(*) FROM batches") == 1)
    async with running_bridge(config) as bridge:
        assert bridge.receiver.noise.is_station("127.0.0.1")
        assert not bridge.receiver.noise.is_station("127.0.0.2")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"listen": {"allowed_networks": ["127.0.0.1/32"]}}, "is not in listen.allowed_networks"),
        (
            {"stations": {n: {"address": "127.0.0.1"} for n in range(1, 21)}},
            "must send from 127.0.0.1, this came from 127.0.0.2",
        ),
    ],
    ids=["allowed-networks", "station-address"],
)
async def test_well_formed_packets_the_config_refuses_are_bounded(
    tmp_path: Path, raw: dict[str, Any], reason: str
) -> None:
    """Test that listen.allowed_networks and a station's address are a defence:
    well-formed packets of known stations from another address are kept aside
    within the window's few (for reprocess, should the config be wrong), the
    rest counted and then refused, while the stations' own address is served."""
    config = bridge_config(tmp_path, raw)
    async with running_bridge(config) as bridge:
        flooder = floods.flood(
            bridge.port, "headers", "--connections", "300", "--size", "60", "--devices", "1-20"
        )
        await asyncio.to_thread(send_packet, "127.0.0.1", bridge.port, floods.station_packet())
        flood = await asyncio.to_thread(floods.report, flooder)
        assert flood["connections"] == 300
        tracker = bridge.receiver.noise
        assert tracker is not None
        # The flooder is done once the kernel took its connections; the bridge
        # reads them from its backlog in its own time.
        await eventually(lambda: tracker.refuses(FLOOD_SOURCE), "the flood's address refused")
        await eventually(lambda: bridge.count(SAMPLE_COUNT) == 30)
        # The flood's packets are decoded in their turn, maybe after the station's.
        await eventually(
            lambda: all(
                state != "new" for state, _ in floods.stored_from(config.storage.path, FLOOD_SOURCE)
            ),
            what="the flood's kept packets decoded",
        )
        outside = floods.stored_from(config.storage.path, FLOOD_SOURCE)
        assert len(outside) == noise.KEPT_PER_WINDOW
        assert all(reason in kept_reason for _, kept_reason in outside), outside
        assert tracker.refuses(FLOOD_SOURCE)
        assert not tracker.refuses("127.0.0.1")


async def test_a_database_filled_by_garbage_gives_it_back_and_listens(tmp_path: Path) -> None:
    """Test that a database over its cap with garbage kept aside (as bridges
    before this one stored every connection) does not keep the bridge from
    listening: the garbage's room is given back and stations are served."""
    config = bridge_config(tmp_path, {"storage": {"max_size_mb": 1}})
    with Spool(config.storage.path) as spool:
        garbage = [Received(bytes([n % 256]) * 4096, 1.0 + n, "127.0.0.2:1") for n in range(400)]
        spool.packets.add(garbage)
        spool.db.execute("UPDATE packets SET state = 'kept', reason = 'not a station'")
        assert spool.used() > MB
    async with running_bridge(config) as bridge:
        assert bridge.receiver.paused is None
        await asyncio.to_thread(send_packet, "127.0.0.1", bridge.port, floods.station_packet())
        await eventually(lambda: bridge.count(SAMPLE_COUNT) == 30)
        assert bridge.count("SELECT count(*) FROM packets") == 1
        assert bridge.receiver.paused is None


async def test_a_flooded_listener_lets_the_station_through() -> None:
    """Test that a StationListener flooded with thousands of garbage connections
    and a hundred silent ones, in the test's own loop, still hands over a
    station's packet sent meanwhile, and that it applies the bridge's rules:
    every connection served or closed unread, of the garbage only its source's
    few handed over (kept aside); the loop's worst lag is printed (a figure,
    not an assertion)."""
    run = await floods.listener_flood()
    print(run.line())
    assert run.station.batch is not None
    assert len(run.station.batch.samples) == 30
    assert run.ticks > 0
    size = floods.HOME_ASSISTANT_FLOOD
    assert [flood["connections"] for flood in run.floods] == [size.garbage, size.silent]
    # The garbage's few and the station's packet are handed over; the silent ones
    # sent nothing, so there was nothing to hand over.
    assert run.handed == noise.KEPT_PER_WINDOW + 1
    assert run.connections + run.refused == size.garbage + size.silent + 1
    assert run.refused > size.garbage / 2  # slowed: most were closed unread
