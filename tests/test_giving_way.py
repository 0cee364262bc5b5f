"""At the database's cap, delivered decoded history gives way, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge import cli
from bridge.offline import decode_offline
from bridge.sim import SimStation
from bridge.spool import Spool
from bridge.spool.giving_way import KEEP_RECENT, used_pages
from tests.support.bridge import write_config
from tests.support.capture import write_capture
from tests.support.fleet import fleet_rounds
from tests.support.ledger import SAMPLE_COUNT
from wxstation.capacity import GIVE_WAY_AT, GIVE_WAY_TO
from wxstation.config import parse_config
from wxstation.parsers import ReferenceParser

#: 2026-06-01T00:00:00Z: the first sample; "now" is the last packet's arrival.
START = 1780272000.0
STATIONS = 3
DAYS = 20


def filled(path: Path, max_size_mb: float) -> tuple[Spool, float]:
    """A spool with ``DAYS`` of hourly packets of ``STATIONS`` stations, decoded;
    returns it with the newest arrival."""
    spool = Spool(path, max_size_mb=max_size_mb).open()
    items = [item for round_ in fleet_rounds(STATIONS, DAYS * 24, START) for item in round_]
    spool.packets.add(items)
    decode_offline(spool, parse_config({}))
    return spool, max(item.received_at for item in items)


def sample_count(spool: Spool) -> int:
    return int(spool.db.execute(SAMPLE_COUNT).fetchone()[0])


def test_below_the_give_way_share_nothing_is_removed(tmp_path: Path) -> None:
    """Test that a database below 95 % of its cap keeps all its history."""
    spool, now = filled(tmp_path / "wx.db", max_size_mb=100)
    with spool:
        assert spool.history.give_way([], now) is None
        assert sample_count(spool) == STATIONS * DAYS * 24 * 30


def test_delivered_history_gives_way_oldest_first(tmp_path: Path) -> None:
    """Test that near the cap the oldest batches every sink delivered go, down
    to 90 % of the cap, while raw packets, batches a sink has not delivered or
    refused, conflicts' batches and the last two days stay, and that what was
    removed is recorded per station."""
    spool, now = filled(tmp_path / "wx.db", max_size_mb=100)
    with spool:
        # A cap the database is just at the give-way share of, counting the
        # write-ahead log as giving way does: at its limit and a transaction more.
        log_allowance = 2 * int(spool.db.execute("PRAGMA journal_size_limit").fetchone()[0])
        spool.max_size = int((used_pages(spool.db) + log_allowance) / GIVE_WAY_AT) - 4096
        last = spool.samples.last_seq()
        spool.progress.set("influxdb", last - 200)
        spool.progress.set("mqtt", last - 100)
        spool.progress.set("gone", 0)  # a sink no longer configured holds nothing back
        spool.progress.reject("mqtt", [5], "refused", now)
        packets_before = spool.packets.counts()
        samples_before = sample_count(spool)
        newest_time = dict(spool.db.execute("SELECT seq, last_ms FROM readings"))

        removal = spool.history.give_way(["influxdb", "mqtt"], now)

        assert removal is not None
        assert removal.after <= spool.max_size * GIVE_WAY_TO < removal.before
        assert used_pages(spool.db) + log_allowance == removal.after
        assert spool.packets.counts() == packets_before  # every raw packet, still decoded
        kept = {seq for (seq,) in spool.db.execute("SELECT seq FROM batches")}
        assert 5 in kept
        assert set(range(last - 200 + 1, last + 1)) <= kept  # not delivered by influxdb
        removed = set(range(1, last + 1)) - kept
        # Oldest first: every packet removed has older samples than every packet
        # kept but 5.
        assert max(newest_time[seq] for seq in removed) <= min(
            newest_time[seq] for seq in kept - {5}
        )
        assert removal.packets == len(removed)
        assert removal.samples == samples_before - sample_count(spool)
        assert {r.device_id for r in removal.stations} == {1, 2, 3}
        assert spool.history.removed() == list(removal.stations)
        assert "that every sink had delivered" in str(removal)
        assert "reprocess --removed" in str(removal)


def test_history_that_is_not_delivered_never_gives_way(tmp_path: Path) -> None:
    """Test that with a sink that delivered nothing, nothing is removed, and the
    room check then says that raw packets and undelivered data fill the cap."""
    spool, now = filled(tmp_path / "wx.db", max_size_mb=100)
    with spool:
        spool.max_size = used_pages(spool.db)
        assert spool.history.give_way(["influxdb"], now) is None
        reason = spool.room()
        assert reason is not None
        assert "raw packets and undelivered samples alone fill it" in reason


def test_only_each_stations_newest_recent_packet_keeps_its_history(tmp_path: Path) -> None:
    """Test that with everything delivered and a cap far below the database,
    all decoded history gives way but each station's newest packet of the
    last two days (what availability needs after a restart), and every raw
    packet stays; a station whose newest packet is older keeps nothing."""
    spool, now = filled(tmp_path / "wx.db", max_size_mb=100)
    with spool:
        newest = {device: batch.arrival for device, batch in spool.samples.newest_batches().items()}
        spool.max_size = 100_000
        removal = spool.history.give_way([], now)
        assert removal is not None
        kept = spool.db.execute(
            "SELECT b.device_id, p.received_at FROM batches b JOIN packets p ON p.id = b.packet_id"
        ).fetchall()
        assert sorted(kept) == sorted(newest.items())
        assert all(arrival >= now - KEEP_RECENT for arrival in newest.values())
        assert spool.packets.counts() == {"done": STATIONS * DAYS * 24}

        assert spool.history.give_way([], now + KEEP_RECENT + 3600) is not None
        assert spool.db.execute("SELECT count(*) FROM batches").fetchone()[0] == 0


def test_a_small_cap_with_many_stations_still_takes_packets(tmp_path: Path) -> None:
    """Test that with many stations and a cap that two days of all their
    decoded history would overfill, giving way leaves each station's newest
    packet and room for new packets, and the file itself (with its log) is
    back under the cap."""
    stations, days = 60, 3
    with Spool(tmp_path / "wx.db", max_size_mb=100) as spool:
        items = [item for round_ in fleet_rounds(stations, days * 24, START) for item in round_]
        spool.packets.add(items)
        raw = used_pages(spool.db)
        decode_offline(spool, parse_config({}))
        now = max(item.received_at for item in items)
        recent = spool.db.execute(
            "SELECT count(*) FROM packets WHERE received_at >= ?", (now - KEEP_RECENT,)
        ).fetchone()[0]
        decoded = used_pages(spool.db)
    # Raw packets take less than half of it; all history of the last two days
    # (two thirds of the history here) would not fit beside them.
    cap_mb = 2 * raw / 1024 / 1024
    assert raw + (decoded - raw) * recent / len(items) > 2 * raw
    with Spool(tmp_path / "wx.db", max_size_mb=cap_mb) as spool:
        removal = spool.history.give_way([], now)
        assert removal is not None
        on_disk = sum(
            f.stat().st_size for f in tmp_path.iterdir() if f.name in ("wx.db", "wx.db-wal")
        )
        print(
            f"\n{stations} stations: raw packets {raw / 1e6:.2f} MB, decoded {decoded / 1e6:.2f} "
            f"MB, cap {spool.max_size / 1e6:.2f} MB; after giving way {removal.after / 1e6:.2f} "
            f"MB counted, files {on_disk / 1e6:.2f} MB"
        )
        assert removal.after <= spool.max_size * GIVE_WAY_TO
        assert spool.room() is None
        assert len(spool.samples.last_packets()) == stations
        assert spool.db.execute("SELECT count(*) FROM batches").fetchone()[0] < recent
        assert on_disk <= spool.max_size


def test_reprocess_removed_brings_back_the_same_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test that ``reprocess --removed`` decodes the packets whose history gave
    way again, with the times and values they had, stores nothing twice, and
    that ``status`` no longer lists it afterwards."""
    spool, now = filled(tmp_path / "wxstation.db", max_size_mb=100)
    with spool:
        before = sorted(spool.export.samples())
        batches = spool.samples.last_seq()
        spool.max_size = int(used_pages(spool.db) / GIVE_WAY_AT)
        removal = spool.history.give_way([], now)
        assert removal is not None
        assert len(list(spool.export.samples())) < len(before)
    config = write_config(tmp_path / "config.yaml", {"storage": {"path": "wxstation.db"}})
    assert cli.main(["status", "-c", str(config)]) == 0
    assert f"the decoded history of {removal.packets} packets" in capsys.readouterr().out

    assert cli.main(["reprocess", "--removed", "-c", str(config)]) == 0
    said = capsys.readouterr()
    assert f"decoded {removal.packets} packets again" in said.out
    assert f"({removal.samples} samples)" in said.out
    assert (
        f"reprocess --removed: {removal.packets} packets decoded into {removal.samples} "
        "samples, none kept aside; took "
    ) in said.err
    with Spool(tmp_path / "wxstation.db") as again:
        assert sorted(again.export.samples()) == before
        assert again.samples.last_seq() == batches + removal.packets
        assert again.history.removed() == []
        assert again.packets.counts() == {"done": STATIONS * DAYS * 24}
    assert cli.main(["status", "-c", str(config)]) == 0
    assert "removed at the cap" not in capsys.readouterr().out


def test_reprocess_removed_that_the_config_refuses_stays_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test that packets whose history gave way and that the config no longer
    decodes are counted in ``reprocess --removed``'s summary with the reason,
    and their history stays listed as removed, so that a run after the config
    is fixed brings it back."""
    spool, now = filled(tmp_path / "wxstation.db", max_size_mb=100)
    with spool:
        spool.max_size = int(used_pages(spool.db) / GIVE_WAY_AT)
        removal = spool.history.give_way([], now)
        assert removal is not None
        listed = spool.history.removed()
    raw: dict[str, object] = {
        "storage": {"path": "wxstation.db"},
        "unknown_stations": {"action": "keep"},
    }
    config = write_config(tmp_path / "config.yaml", raw)
    assert cli.main(["reprocess", "--removed", "-c", str(config)]) == 0
    said = capsys.readouterr()
    assert "decoded 0 packets again whose history had given way (0 samples)" in said.out
    assert (
        f"reprocess --removed: 0 packets decoded into 0 samples, {removal.packets} kept aside ("
    ) in said.err
    assert "is not configured (unknown_stations: keep)" in said.err
    assert "'reprocess --removed' again once the config decodes them" in said.err
    with Spool(tmp_path / "wxstation.db") as again:
        assert again.history.removed() == listed

    del raw["unknown_stations"]
    write_config(config, raw)
    assert cli.main(["reprocess", "--removed", "-c", str(config)]) == 0
    assert f"decoded {removal.packets} packets again" in capsys.readouterr().out
    with Spool(tmp_path / "wxstation.db") as again:
        assert again.history.removed() == []


def test_a_cap_beyond_the_disk_is_said(tmp_path: Path) -> None:
    """Test that a cap the disk cannot hold (history would not give way before
    the disk is full) is said with the size that fits, and a cap that fits is
    not."""
    with Spool(tmp_path / "wx.db", max_size_mb=10) as spool:
        assert spool.disk_short_of_cap() is None
    with Spool(tmp_path / "wx.db", max_size_mb=1e12) as spool:
        short = spool.disk_short_of_cap()
        assert short is not None
        assert short.startswith("storage.max_size_mb (1048576000000 MB) is more than the disk")
        assert "Set storage.max_size_mb to" in short


def test_ingest_at_the_cap_keeps_the_file_near_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test that ``ingest`` of 21 days of 20 stations into a database capped at
    8 MB lets delivered history give way as the running bridge does, and gives
    the freed pages back: the file and its write-ahead log stay within 1.25
    times the cap; every raw packet is stored, the summary says how much
    history gave way, and export still works."""
    stations, days, cap_mb = 20, 21, 8
    sims = [SimStation(d, ReferenceParser(), START) for d in range(1, stations + 1)]
    wakes = []
    for _ in range(days * 24):
        for sim in sims:
            wakes.append(sim.wake())
            sim.delivered()
    wakes.sort(key=lambda wake: wake.arrival)
    capture = write_capture(tmp_path / "capture.jsonl", wakes)
    config = write_config(
        tmp_path / "config.yaml", {"storage": {"path": "wx.db", "max_size_mb": cap_mb}}
    )
    assert cli.main(["ingest", str(capture), "-c", str(config)]) == 0
    said = capsys.readouterr()
    files = {f.name: f.stat().st_size for f in tmp_path.iterdir() if f.name.startswith("wx.db")}
    on_disk = files["wx.db"] + files.get("wx.db-wal", 0)
    with capsys.disabled():
        print(
            f"\ningest of {len(wakes)} packets at max_size_mb {cap_mb}: files {files}, "
            f"{on_disk / 1024 / 1024:.2f} MiB = {on_disk / (cap_mb * 1024 * 1024):.2f} x the cap"
        )
    assert on_disk <= 1.25 * cap_mb * 1024 * 1024
    assert "gave way at the cap (storage.max_size_mb; 'reprocess --removed'" in said.err
    with Spool(tmp_path / "wx.db") as spool:
        assert spool.packets.counts() == {"done": len(wakes)}
        removed = sum(r.packets for r in spool.history.removed())
        assert 0 < removed < len(wakes)
    assert cli.main(["export", "-c", str(config)]) == 0
    assert len(capsys.readouterr().out.splitlines()) > 0
