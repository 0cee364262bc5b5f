"""Traffic that is not a station's: screening bytes, per-source limits, bounded storage."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.sim import SimStation
from bridge.spool import Spool
from wxstation import noise
from wxstation.noise import NoiseEntry, NoiseTracker, SourceCount, source_of
from wxstation.packets import Received
from wxstation.parsers import ReferenceParser
from wxstation.protocol import HEADER, HEADER_SIZE, MAX_PACKET_SIZE, screen

PACKET = SimStation(1, ReferenceParser(), 1_790_000_000.0).wake().packet
GARBAGE = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


@dataclass
class FakeClock:
    """Seconds since the epoch, moved by the test."""

    now: float = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


# --- screening the bytes ------------------------------------------------------------


def test_a_station_packet_is_never_refused_byte_by_byte() -> None:
    """Test that every prefix of a real packet, and a cut one, can be a station's."""
    for end in range(len(PACKET) + 1):
        assert screen(PACKET[:end]) is None
    assert screen(PACKET[: HEADER_SIZE + 6 * 7 + 3], complete=True) is None


@pytest.mark.parametrize(
    ("data", "decided_at", "reason"),
    [
        (GARBAGE, HEADER_SIZE, "bytes_ready 17735 is more than a station can store"),
        (HEADER.pack(6, 3600, 120, 6, 0, 3) + bytes(6), HEADER_SIZE, "device id 0"),
        (HEADER.pack(6, 3600, 0, 6, 9, 3) + bytes(6), HEADER_SIZE, "measure_every_s is 0"),
        (b"\xff" * 20, HEADER_SIZE, "all-0xFF header"),
        (PACKET + b"\0", len(PACKET) + 1, "more bytes than bytes_ready announces"),
        (
            HEADER.pack(0, 3600, 120, 6, 9, 3) + bytes(400),
            HEADER_SIZE + 1,
            "more bytes than bytes_ready announces",
        ),
        (HEADER.pack(350, 1, 1, 1, 9, 1) + bytes(400), MAX_PACKET_SIZE + 1, "at most 359"),
    ],
    ids=["http", "device-0", "zero-interval", "all-ff", "one-byte-too-many", "empty", "oversize"],
)
def test_garbage_is_told_as_early_as_the_bytes_allow(
    data: bytes, decided_at: int, reason: str
) -> None:
    """Test that screening answers at the first byte that shows the bytes cannot
    be a station's, and not before."""
    assert screen(data[: decided_at - 1]) is None
    answer = screen(data[:decided_at])
    assert answer is not None
    assert reason in answer


def test_fewer_than_a_header_is_not_a_station_once_the_connection_ends() -> None:
    assert screen(PACKET[:5]) is None
    assert "fewer than 9 header bytes" in (screen(PACKET[:5], complete=True) or "")
    assert screen(b"", complete=True) is not None


# --- per-source limits ----------------------------------------------------------------


def test_sources_are_addresses_and_ipv6_networks() -> None:
    assert source_of("192.168.1.7") == "192.168.1.7"
    assert source_of("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert source_of("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert source_of("::ffff:10.0.0.5") == "10.0.0.5"


def test_a_source_keeps_a_few_is_counted_then_refused_until_the_window_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Test the window: the first connections kept, all counted, the source
    refused after READ_PER_WINDOW of them, one log line of each kind per window,
    and served again in the next window."""
    clock = FakeClock()
    tracker = NoiseTracker(clock)
    caplog.set_level(logging.WARNING, logger="wxstation.noise")
    for number in range(noise.READ_PER_WINDOW):
        assert not tracker.refuses("10.0.0.9")
        assert not tracker.not_a_station("10.0.0.9", f"10.0.0.9:{number}", GARBAGE, "http")
        clock.now += 1
    assert tracker.refuses("10.0.0.9")
    tracker.refused("10.0.0.9")
    kept, counts = tracker.drain()
    assert len(kept) == noise.KEPT_PER_WINDOW
    assert {entry.data for entry in kept} == {GARBAGE}
    (count,) = counts
    assert (count.connections, count.size, count.refused) == (
        noise.READ_PER_WINDOW,
        noise.READ_PER_WINDOW * len(GARBAGE),
        1,
    )
    assert count.last_seen - count.first_seen == noise.READ_PER_WINDOW
    assert count.sample == GARBAGE
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "10.0.0.9:0 sent what is not a station's packet: http; kept" in lines[0]
    assert "closed unread until" in lines[1]
    assert "listen.allowed_networks" in lines[1]

    clock.now += noise.WINDOW
    assert not tracker.refuses("10.0.0.9")
    tracker.not_a_station("10.0.0.9", "10.0.0.9:1", GARBAGE, "http")
    assert len(tracker.drain()[0]) == 1  # a new window keeps again
    assert len(caplog.records) == 3


def test_a_station_source_is_never_refused(caplog: pytest.LogCaptureFixture) -> None:
    """Test that a source that sent a station's packet is not refused whatever else
    it sends, until STATION_MEMORY has passed without another; and that another
    source's flood does not change that."""
    clock = FakeClock()
    tracker = NoiseTracker(clock)
    tracker.station("192.168.1.50")
    for _ in range(3 * noise.READ_PER_WINDOW):
        tracker.not_a_station("192.168.1.50", "192.168.1.50:1", GARBAGE, "http")
        tracker.not_a_station("192.168.1.66", "192.168.1.66:1", GARBAGE, "http")
    assert tracker.refuses("192.168.1.66")
    assert not tracker.refuses("192.168.1.50")
    assert len(tracker.drain()[0]) == 2 * noise.KEPT_PER_WINDOW
    clock.now += noise.STATION_MEMORY
    assert not tracker.is_station("192.168.1.50")
    for _ in range(noise.READ_PER_WINDOW):
        tracker.not_a_station("192.168.1.50", "192.168.1.50:1", GARBAGE, "http")
    assert tracker.refuses("192.168.1.50")


def test_unknown_devices_are_kept_whole_within_the_window() -> None:
    """Test that plausible packets of unconfigured devices are stored whole for
    the first connections of a window, always from a station's source, and only
    counted beyond."""
    tracker = NoiseTracker(FakeClock())
    stored = [
        tracker.not_a_station("10.0.0.9", "10.0.0.9:1", PACKET, "device 1", plausible=True)
        for _ in range(10)
    ]
    assert stored == [True] * noise.KEPT_PER_WINDOW + [False] * (10 - noise.KEPT_PER_WINDOW)
    kept, (count,) = tracker.drain()
    assert kept == []  # stored as packets, not kept here
    assert count.connections == 10
    tracker.station("10.0.0.7")
    assert all(
        tracker.not_a_station("10.0.0.7", "10.0.0.7:1", PACKET, "device 1", plausible=True)
        for _ in range(10)
    )


def test_sources_remembered_are_bounded() -> None:
    clock = FakeClock()
    tracker = NoiseTracker(clock)
    for number in range(noise.MAX_SOURCES + 50):
        tracker.not_a_station(f"10.1.{number // 256}.{number % 256}", "x:1", b"x", "short")
        clock.now += 0.001
    _, counts = tracker.drain()
    assert len(counts) == noise.MAX_SOURCES
    assert counts[0].source == "10.1.0.50"  # the least recently seen went first


# --- bounded storage --------------------------------------------------------------------


def test_kept_bytes_held_to_the_budget_oldest_first_and_to_their_days(tmp_path: Path) -> None:
    """Test that the spool drops the oldest kept connections beyond the budget,
    those older than KEPT_DAYS, and sources not seen for SOURCE_DAYS."""
    max_size_mb = 1.0
    budget = noise.budget(int(max_size_mb * 1024 * 1024))
    now = 1_790_000_000.0
    with Spool(tmp_path / "wx.db", max_size_mb=max_size_mb) as spool:
        data = bytes(noise.MAX_KEPT_BYTES)
        entries = [
            NoiseEntry(now + i, f"10.0.0.9:{i}", "10.0.0.9", f"number {i}", data)
            for i in range(2 * budget // len(data))
        ]
        spool.noise.add(entries, [SourceCount("10.0.0.9", now, now + 1, 5, 500)], now)
        count, size = spool.noise.kept()
        assert size <= budget
        assert count == budget // len(data)
        reasons = [r for (r,) in spool.db.execute("SELECT reason FROM noise_kept ORDER BY id")]
        assert reasons[-1] == entries[-1].reason  # the newest stay
        spool.noise.add([], [SourceCount("10.0.0.9", now + 2, now + 3, 1, 100)], now)
        (source,) = spool.noise.sources()
        assert (source.connections, source.size, source.first_seen) == (6, 600, now)
        later = now + noise.KEPT_DAYS * 86400 + len(entries)
        spool.noise.add([], [], later)
        assert spool.noise.kept() == (0, 0)
        assert len(spool.noise.sources()) == 1
        spool.noise.add([], [], now + noise.SOURCE_DAYS * 86400 + 10)
        assert spool.noise.sources() == []


def test_at_the_cap_garbage_gives_its_room_back(tmp_path: Path) -> None:
    """Test that a database at its cap with kept-aside garbage (what bridges
    before this one stored) and kept noise gives that room back, and keeps
    every station packet and undecodable station packet."""
    with Spool(tmp_path / "wx.db", max_size_mb=1.0) as spool:
        garbage = [Received(bytes([i % 256]) * 4096, 1.0 + i, "10.0.0.9:1") for i in range(300)]
        stations = [Received(PACKET, 2000.0, "10.0.0.1:1"), Received(PACKET[:20], 2001.0, "x:1")]
        ids = spool.packets.add([*garbage, *stations])
        spool.db.execute("UPDATE packets SET state = 'kept', reason = 'x'")
        assert spool.used() > spool.max_size
        assert spool.room() is None
        assert spool.used() < spool.max_size / 2
        assert [p.id for p in spool.packets.in_state("kept")] == ids[-2:]
        assert spool.room() is None
