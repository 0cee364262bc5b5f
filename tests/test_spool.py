"""The spool on its own: what it keeps, and the commands that look into it."""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from bridge.errors import DatabaseBusyError, DatabaseError, SchemaError
from bridge.offline import decode_offline
from bridge.sim import SimStation
from bridge.spool import Spool, readings
from bridge.spool.base import give_back_pages
from bridge.spool.schema import SCHEMA_VERSION
from tests.support.bridge import cli, write_config
from tests.support.vectors import VECTORS
from wxstation.availability import LastPacket
from wxstation.config import parse_config
from wxstation.packets import Conflict, Received, StoredPacket
from wxstation.parsers import ReferenceParser
from wxstation.samples import Batch, Sample, make_batch
from wxstation.timing import StationClock


def filled_spool(path: Path, packets: int = 4) -> Spool:
    spool = Spool(path).open()
    station = SimStation(1, ReferenceParser(), 1_790_000_000.0)
    items = []
    for _ in range(packets):
        wake = station.wake()
        station.delivered()
        items.append(Received(wake.packet, wake.arrival, "192.168.1.50:4000"))
    items.append(Received(b"garbage", 1_790_100_000.0, "192.168.1.66:4000"))
    spool.packets.add(items)
    decode_offline(spool, parse_config({}))
    return spool


def test_rewind_delivers_refused_batches_again(tmp_path: Path) -> None:
    """Test that rewinding a sink moves it back to its first refused batch only."""
    with filled_spool(tmp_path / "wx.db") as spool:
        spool.progress.set("influxdb", 4)
        spool.progress.reject("influxdb", [2, 3], "field type conflict", 0.0)
        assert spool.progress.rewind("influxdb") == 2
        assert spool.progress.get("influxdb") == 1
        assert spool.progress.rejected("influxdb") == []
        assert spool.progress.rewind("influxdb") == 0
        assert spool.progress.get("influxdb") == 1


def test_samples_survive_reopening(tmp_path: Path) -> None:
    with filled_spool(tmp_path / "wx.db"):
        pass
    with Spool(tmp_path / "wx.db") as spool:
        assert spool.packets.counts() == {"done": 4, "kept": 1}
        assert len(list(spool.export.samples())) == 120
        assert 1 in spool.samples.clocks()


def test_prune_keeps_the_raw_packets(tmp_path: Path) -> None:
    with filled_spool(tmp_path / "wx.db") as spool:
        newest = max(time for _, _, time, _ in spool.export.samples())
        removed = spool.samples.prune(newest)
        assert removed == 119
        assert len(list(spool.export.packets())) == 5


def test_last_packets_are_the_newest_by_arrival(tmp_path: Path) -> None:
    """Test that each station's newest packet is found by its arrival, not by decoding order."""
    with filled_spool(tmp_path / "wx.db") as spool:
        newest = max(p.received_at for p in spool.export.packets() if p.device_id == 1)
        roof = SimStation(2, ReferenceParser(), 1_790_000_000.0, wake_every_s=600).wake()
        late = SimStation(1, ReferenceParser(), 1_780_000_000.0, wake_every_s=900).wake()
        spool.packets.add(
            [
                Received(roof.packet, roof.arrival, "192.168.1.51:4000"),
                # Older than station 1's newest, decoded after it (as after reprocess).
                Received(late.packet, late.arrival, "192.168.1.50:4000"),
            ]
        )
        tally = decode_offline(spool, parse_config({}))
        assert (tally.decoded, tally.kept_aside) == (2, 0)
        assert spool.samples.last_packets() == {
            1: LastPacket(newest, 3600),
            2: LastPacket(roof.arrival, 600),
        }


def test_status_and_redeliver_commands(tmp_path: Path) -> None:
    """Test that status shows kept-aside reasons and sink backlog, and redeliver rewinds."""
    with filled_spool(tmp_path / "wx.db") as spool:
        spool.progress.set("influxdb", 4)
        spool.progress.reject("influxdb", [3], "field type conflict", 0.0)
    config_file = write_config(tmp_path / "config.yaml", {"storage": {"path": "wx.db"}})

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return cli(*args, "-c", str(config_file))

    shown = command("status").stdout
    assert "packets: 4 decoded, 1 kept aside, 0 waiting" in shown
    assert "kept aside 1x: fewer than 9 header bytes" in shown
    assert "sink influxdb: 0 batches to deliver, 1 refused and kept aside" in shown
    # The station as the status page shows it, gone by the availability rule.
    assert re.search(
        r"^station Station 1 \(1\): unavailable; last packet \S+Z "
        r"\(\d+(\.\d)? (s|min|h|days) ago\) with 30 samples, one every 120.0 s, "
        r"clock error [+-]\d+\.\d\d %; \d+ wake-ups missed$",
        shown,
        re.MULTILINE,
    ), shown
    result = command("redeliver", "influxdb")
    assert result.returncode == 0, result.stderr
    assert "1 kept-aside batches of influxdb" in result.stdout
    assert "sink influxdb: 2 batches to deliver, 0 refused" in command("status").stdout


def sample_batch(device_id: int = 1, seed: int = 0) -> Batch:
    """A decoded packet of 30 samples, the newest at 1_790_000_000."""
    data = SimStation(device_id, ReferenceParser(), 1_789_996_400.0, seed=seed).wake().packet
    batch, _ = make_batch("Garden", ReferenceParser(), StationClock(), data, 1_790_000_000.0)
    return batch


def test_one_sample_per_station_and_time(tmp_path: Path) -> None:
    """Test that a sample equal to a stored one is not stored again, and a different
    one is kept aside as a conflict with both values (once); each stored sample
    claims its station and time."""
    whole = sample_batch()
    first, second = whole.samples[:20], whole.samples[10:]
    changed = Sample(first[15].time_ms, {**first[15].values, "temperature": -40.0})
    with Spool(tmp_path / "wx.db") as spool:
        spool.packets.add([Received(b"packet %d" % n, float(n), "10.0.0.1:1") for n in range(4)])
        a, b, c, again = spool.samples.record(
            [
                (1, replace(whole, samples=first)),
                (2, replace(whole, samples=second)),
                (3, replace(whole, samples=(changed,))),
                (4, replace(whole, samples=(changed,))),
            ],
            [],
            {},
        )
        assert (len(a.batch.samples), a.repeated, a.conflicts) == (20, 0, ())
        assert b.batch.samples == whole.samples[20:]
        assert b.repeated == 10
        assert c.batch.samples == ()
        assert c.conflicts == (
            Conflict(1, "Garden", changed.time_ms, first[15].values, changed.values),
        )
        assert (again.batch.samples, again.repeated, again.conflicts) == ((), 1, ())

        stored = [(time_ms, values) for _, _, time_ms, values in spool.export.samples()]
        assert stored == [(s.time_ms, s.values) for s in whole.samples]
        assert [values for _, _, _, values in spool.export.samples()] == [
            s.values for _, batch in spool.samples.batches(after=0, limit=10) for s in batch.samples
        ]
        assert spool.samples.conflicts(10) == (1, list(c.conflicts))

        assert claims_match(spool)


def test_a_packet_is_stored_once(tmp_path: Path) -> None:
    """Test that the same bytes from the same peer at the same time are one packet,
    and that another peer, time or byte makes another packet."""
    data = bytes.fromhex("0c00100e780006010378005c6b106a7600806b0c6a")
    packet = Received(data, 1_790_000_000.25, "10.0.0.1:4000")
    with Spool(tmp_path / "wx.db") as spool:
        assert len(spool.packets.add([packet, packet])) == 1
        assert spool.packets.add([packet]) == []
        others = [
            replace(packet, peer="10.0.0.1:4001"),
            replace(packet, received_at=1_790_000_000.26),
            replace(packet, data=packet.data + b" "),
        ]
        assert len(spool.packets.add(others)) == 3
        assert len(list(spool.export.packets())) == 4


def v1_database(path: Path) -> Path:
    """tests/vectors/spool-v1.sql as a database file."""
    db = sqlite3.connect(path)
    db.executescript((VECTORS / "spool-v1.sql").read_text(encoding="utf-8"))
    db.close()
    return path


def claims_match(spool: Spool) -> bool:
    """Whether ``sample_times`` claims exactly the stored samples' stations and times."""
    claims = spool.db.execute("SELECT device_id, time_ms FROM sample_times").fetchall()
    return sorted(claims) == [(device, time_ms) for device, _, time_ms, _ in spool.export.samples()]


def v2_database(path: Path) -> Path:
    """tests/vectors/spool-v2.sql as a database file."""
    db = sqlite3.connect(path)
    db.executescript((VECTORS / "spool-v2.sql").read_text(encoding="utf-8"))
    db.close()
    return path


def v2_samples(path: Path) -> dict[int, list[tuple[int, int, str, dict[str, float]]]]:
    """Schema 2's samples by batch, in the order they were stored."""
    db = sqlite3.connect(path)
    by_seq: dict[int, list[tuple[int, int, str, dict[str, float]]]] = {}
    for seq, device, station, time_ms, values in db.execute(
        'SELECT seq, device_id, station, time_ms, "values" FROM samples ORDER BY rowid'
    ):
        by_seq.setdefault(seq, []).append((device, time_ms, station, json.loads(values)))
    db.close()
    return by_seq


CONFLICTS = "SELECT device_id, station, time_ms, stored, other, seq FROM conflicts ORDER BY rowid"


def test_upgrade_from_schema_2_keeps_every_sample(tmp_path: Path) -> None:
    """Test that a database written by schema 2 (tests/vectors/README.md) upgrades
    in place to one readings row per batch: every sample with its time and values
    (absent ones absent), each batch's samples in their order, the conflicts,
    refusals and progress; export, status and retention read it as before."""
    path = v2_database(tmp_path / "v2.db")
    before = v2_samples(path)
    assert sum(map(len, before.values())) == 192
    expected = sorted(
        (device, station, time_ms, values)
        for rows in before.values()
        for device, time_ms, station, values in rows
    )
    old = sqlite3.connect(path)
    conflicts = old.execute(CONFLICTS).fetchall()
    old.close()

    with Spool(path) as upgraded, Spool(tmp_path / "fresh.db") as fresh:
        assert schema(upgraded) == schema(fresh)
        assert upgraded.db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert list(upgraded.export.samples()) == expected
        absent = [values for device, _, _, values in expected if device == 7 and len(values) < 3]
        assert [sorted(values) for values in absent] == [["humidity"], ["humidity", "temperature"]]
        assert {
            seq: [(batch.device_id, s.time_ms, batch.station, s.values) for s in batch.samples]
            for seq, batch in upgraded.samples.batches(after=0, limit=100)
            if batch.samples
        } == before
        assert upgraded.db.execute(CONFLICTS).fetchall() == conflicts
        assert upgraded.packets.counts() == {"done": 10, "kept": 1}
        assert upgraded.progress.rejected() == [("influxdb", 2, "field type conflict")]
        assert upgraded.progress.by_sink() == {"influxdb": 10, "mqtt": 3}
        times = [time_ms for _, _, time_ms, _ in expected]
        # 8 bytes per time, and per sample 8 per value name (three in every row).
        assert upgraded.db.execute(
            'SELECT count(*), sum(count), sum(length(times) + length("values")), min(first_ms), '
            "max(last_ms) FROM readings"
        ).fetchone() == (8, 192, 192 * (8 + 3 * 8), min(times), max(times))
        cutoff = 1_790_003_000_000
        pruned = upgraded.samples.prune(cutoff)
        assert list(upgraded.export.samples()) == [row for row in expected if row[2] >= cutoff]
        kept_conflicts = sum(1 for c in conflicts if c[2] >= cutoff)
        assert pruned == len(expected) - len(list(upgraded.export.samples())) + len(conflicts) - (
            kept_conflicts
        )
        assert claims_match(upgraded)
        capture = [Received(p.data, p.received_at, p.peer) for p in upgraded.export.packets()]
        assert upgraded.packets.add(capture) == []


def schema(spool: Spool) -> set[tuple[str, str, str | None]]:
    rows = spool.db.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    return {(kind, name, sql) for kind, name, sql in rows}


def test_upgrade_from_schema_1_with_a_capture_ingested_twice(tmp_path: Path) -> None:
    """Test that a database written by schema 1 with every packet doubled (see
    tests/vectors/README.md) upgrades in place to what ingesting the capture once
    stored then: the copies go with their samples and refusals, two different
    samples of one station and time become a conflict, equal ones one sample.

    Ingested once now, the two stations of device 3 that sent in the same
    millisecond clash: the second one's samples are stored a millisecond later
    instead of as conflicts. The upgrade leaves the stored samples as they are."""
    path = v1_database(tmp_path / "v1.db")
    old = sqlite3.connect(path)
    capture = [
        Received(data, received_at, peer)
        for data, received_at, peer in old.execute(
            "SELECT data, received_at, peer FROM packets WHERE id <= 7 ORDER BY id"
        )
    ]
    twin_b = [json.loads(v) for (v,) in old.execute('SELECT "values" FROM samples WHERE seq = 2')]
    assert old.execute("SELECT count(*) FROM samples").fetchone() == (14 * 30,)
    old.close()

    with Spool(path) as upgraded, Spool(tmp_path / "fresh.db") as fresh:
        fresh.packets.add(capture)
        decode_offline(fresh, parse_config({}))
        assert schema(upgraded) == schema(fresh)
        assert upgraded.db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert upgraded.packets.counts() == {"done": 7}
        assert Counter(device for device, *_ in upgraded.export.samples()) == {1: 90, 3: 30, 4: 30}
        count, conflicts = upgraded.samples.conflicts(100)
        assert count == 30
        assert sorted(tuple(c.other.items()) for c in conflicts) == sorted(
            tuple(v.items()) for v in twin_b
        )
        stored = {time_ms: values for device, _, time_ms, values in upgraded.export.samples()}
        assert all(c.stored == stored[c.time_ms] for c in conflicts)
        assert upgraded.progress.rejected() == [("influxdb", 2, "field type conflict")]
        assert upgraded.progress.get("influxdb") == upgraded.samples.last_seq() == 7
        assert upgraded.packets.add(capture) == []

        twins = [(3, "Station 3", c.time_ms + 1, tuple(c.other.items())) for c in conflicts]
        upgraded_samples = [(d, s, t, tuple(v.items())) for d, s, t, v in upgraded.export.samples()]
        fresh_samples = [(d, s, t, tuple(v.items())) for d, s, t, v in fresh.export.samples()]
        assert sorted(set(fresh_samples) - set(upgraded_samples)) == sorted(twins)
        assert set(upgraded_samples) <= set(fresh_samples)
        assert fresh.samples.conflicts(100) == (0, [])
    with Spool(path) as reopened:
        assert reopened.packets.counts() == {"done": 7}


def test_status_lists_conflicts(tmp_path: Path) -> None:
    """Test that status counts the conflicts and shows the newest with both values."""
    v1_database(tmp_path / "wx.db")
    config_file = write_config(tmp_path / "config.yaml", {"storage": {"path": "wx.db"}})
    result = cli("status", "-c", str(config_file))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "packets: 7 decoded, 0 kept aside, 0 waiting" in lines
    at = lines.index(
        "conflicts: 30 samples kept aside, each different from the stored sample "
        "of its station and time"
    )
    with Spool(tmp_path / "wx.db") as spool:
        _, newest = spool.samples.conflicts(10)
    assert lines[at + 1 : at + 12] == [f"  {c}" for c in newest] + ["  and 20 older ones"]
    assert lines[at + 1] == (
        '  Station 3 (3) at 2026-09-21T14:15:00.000Z: stored {"light": 6311.0, "humidity": '
        '52.17413330078125, "temperature": 20.34273681640625}, other {"light": 14521.0, '
        '"humidity": 57.11798095703125, "temperature": 17.479135742187502}'
    )
    assert "sink influxdb: 0 batches to deliver, 1 refused and kept aside" in lines


def test_a_failed_upgrade_changes_nothing(tmp_path: Path) -> None:
    """Test that an upgrade that fails part way (here a table in its way) leaves the
    database as schema 1 wrote it, and says why."""
    path = v1_database(tmp_path / "v1.db")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE conflicts (note TEXT)")
    db.commit()
    db.close()
    with pytest.raises(SchemaError) as raised:
        Spool(path).open()
    assert str(raised.value) == (
        f"cannot upgrade {path} from schema 1 to 3 (table conflicts already exists); "
        "the database is as it was"
    )
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM packets").fetchone() == (14,)
    assert db.execute("SELECT count(*) FROM samples").fetchone() == (14 * 30,)
    db.close()


def test_prune_deletes_conflicts_as_old_as_the_samples(tmp_path: Path) -> None:
    """Test that retention deletes conflicts older than the cutoff with the samples."""
    cutoff = 1_790_000_000_000
    with Spool(v1_database(tmp_path / "wx.db")) as spool:
        before = len(list(spool.export.samples()))
        removed = spool.samples.prune(cutoff)
        after = [time_ms for _, _, time_ms, _ in spool.export.samples()]
        count, conflicts = spool.samples.conflicts(10)
    assert min(after) >= cutoff
    assert [c.time_ms for c in conflicts] == [1_790_000_100_000]
    assert count == 1
    assert removed == before - len(after) + 29
    with Spool(tmp_path / "wx.db") as spool:
        assert claims_match(spool)


def damage_packets_table(path: Path) -> None:
    """Write over the first page of the ``packets`` table and of its indexes,
    leaving the database's header and schema whole: it opens, and fails when
    the packets are read."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    roots = [
        root
        for (root,) in db.execute("SELECT rootpage FROM sqlite_master WHERE tbl_name = 'packets'")
    ]
    (page_size,) = db.execute("PRAGMA page_size").fetchone()
    db.close()
    with path.open("r+b") as file:
        for root in roots:
            file.seek((root - 1) * page_size)
            file.write(b"\xff" * page_size)


def test_a_damaged_database_raises_a_database_error(tmp_path: Path) -> None:
    """Test that SQLite's error on a damaged database, after it opened, is a
    DatabaseError with the path and what to do, from a query and from an iterator."""
    path = tmp_path / "wx.db"
    with filled_spool(path):
        pass
    damage_packets_table(path)
    with Spool(path) as spool:
        with pytest.raises(DatabaseError) as raised:
            spool.packets.counts()
        assert str(raised.value).startswith(f"cannot use {path} (database disk image is malformed)")
        assert f"it is damaged: stop the bridge and run 'wxstation-bridge salvage {path}'" in str(
            raised.value
        )
        assert raised.value.path == path
        assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)
        with pytest.raises(DatabaseError, match="malformed"):
            list(spool.export.packets())


def test_a_damaged_database_exits_4(tmp_path: Path) -> None:
    """Test that a command on a database that opens but cannot be read exits 4
    with the database's error, not a traceback."""
    with filled_spool(tmp_path / "wx.db"):
        pass
    damage_packets_table(tmp_path / "wx.db")
    config_file = write_config(tmp_path / "config.yaml", {"storage": {"path": "wx.db"}})
    result = cli("status", "-c", str(config_file))
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    assert f"cannot use the database: cannot use {tmp_path / 'wx.db'} (database disk image" in (
        result.stderr
    )


def test_a_locked_database_raises_database_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that a write that waits in vain for another process's lock raises
    DatabaseBusyError, saying who to stop, and stores nothing."""
    monkeypatch.setattr("bridge.spool.schema.BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "wx.db"
    with Spool(path) as spool:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(DatabaseBusyError) as raised:
            spool.packets.add([Received(b"\x01" * 9, 1_790_000_000.0, "10.0.0.2:4000")])
        assert str(raised.value) == (
            f"{path} is locked by another process (database is locked): stop whatever "
            "else writes to it (another bridge, a sqlite3 shell)"
        )
        other.execute("ROLLBACK")
        other.close()
        assert spool.packets.counts() == {}


def test_every_group_of_tables_raises_database_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that a write of each group of tables that waits in vain for another
    process's lock raises DatabaseBusyError naming the database, and that every
    public method of every group turns SQLite's errors into the bridge's."""
    monkeypatch.setattr("bridge.spool.schema.BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "wx.db"
    with Spool(path) as spool:
        writes: list[Callable[[], object]] = [
            lambda: spool.packets.requeue_kept(),
            lambda: spool.samples.record([], [], {}),
            lambda: spool.samples.prune(0),
            lambda: spool.progress.set("influxdb", 1),
            lambda: spool.noise.add([], [], 1_790_000_000.0),
            lambda: spool.history.record_size(1_790_000_000.0),
            lambda: spool.history.forget_removed(1),
        ]
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        for write in writes:
            with pytest.raises(DatabaseBusyError) as raised:
                write()
            assert raised.value.path == path
        other.execute("ROLLBACK")
        other.close()
        groups = [spool.packets, spool.samples, spool.progress, spool.noise, spool.export]
        for group in [*groups, spool.history]:
            public = [f for name, f in vars(type(group)).items() if not name.startswith("_")]
            assert all(hasattr(f, "__wrapped__") for f in public if callable(f)), group


@pytest.mark.parametrize("device_id", [7, None])
def test_stored_packet_dict_round_trip(device_id: int | None) -> None:
    """Test that a kept packet read back from its JSON dict is the packet that was
    kept, whether or not its header named a device."""
    packet = StoredPacket(3, b"\x01\xff", 1_790_000_000.25, "[::1]:4000", device_id, "kept", "why")
    raw = json.loads(json.dumps(packet.as_dict()))
    assert raw["data"] == "01ff"
    assert "state" not in raw
    assert StoredPacket.from_dict(raw) == packet


def test_a_failed_upgrade_from_schema_2_changes_nothing(tmp_path: Path) -> None:
    """Test that an upgrade from schema 2 that fails part way (a table in its way)
    leaves the database as schema 2 wrote it, and says why."""
    path = v2_database(tmp_path / "v2.db")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE readings (note TEXT)")
    db.commit()
    db.close()
    with pytest.raises(SchemaError) as raised:
        Spool(path).open()
    assert str(raised.value) == (
        f"cannot upgrade {path} from schema 2 to 3 (table readings already exists); "
        "the database is as it was"
    )
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone() == (2,)
    assert db.execute("SELECT count(*) FROM samples").fetchone() == (192,)
    db.close()


def test_readings_keep_values_absent_and_order(tmp_path: Path) -> None:
    """Test that a packet's samples come back from its row as they went in: the
    values' order, a value a sample lacks (absent, not NaN), and the samples' order."""
    samples = [
        Sample(1_790_000_240_000, {"temperature": 20.5, "humidity": 51.0, "dew_point": 10.1}),
        Sample(1_790_000_000_000, {"humidity": 50.0}),
        Sample(1_790_000_120_000, {"temperature": -0.0, "humidity": 0.0}),
    ]
    row = readings.pack(samples)
    assert (row.first_ms, row.last_ms, row.count) == (1_790_000_000_000, 1_790_000_240_000, 3)
    back = readings.unpack(row.keys, row.times, row.values)
    assert back == samples
    assert [list(s.values) for s in back] == [list(s.values) for s in samples]
    assert math.copysign(1.0, back[2].values["temperature"]) == -1.0
    assert len(row.times) + len(row.values) == 3 * 8 + 3 * 3 * 8


def test_export_orders_samples_of_a_packet_decoded_late(tmp_path: Path) -> None:
    """Test that export gives a station's samples by time when a packet decoded
    later holds samples older than one decoded before it, and filters by time
    exactly within a packet's row."""
    whole = sample_batch()
    newer, older = whole.samples[15:], whole.samples[:15]
    with Spool(tmp_path / "wx.db") as spool:
        spool.packets.add([Received(b"packet %d" % n, float(n), "10.0.0.1:1") for n in range(3)])
        spool.samples.record(
            [
                (1, replace(whole, samples=newer)),
                (2, replace(sample_batch(2), samples=())),
                (3, replace(whole, samples=older)),
            ],
            [],
            {},
        )
        assert [t for _, _, t, _ in spool.export.samples()] == [s.time_ms for s in whole.samples]
        since, until = whole.samples[10].time_ms, whole.samples[20].time_ms
        assert [t for _, _, t, _ in spool.export.samples(since_ms=since, until_ms=until)] == [
            s.time_ms for s in whole.samples[10:20]
        ]
        assert list(spool.export.samples(device_id=2)) == []


def test_only_what_can_be_derived_again_skips_the_fsync(tmp_path: Path) -> None:
    """Test that committing packets is durable (synchronous=FULL), while storing
    decoded packets and a sink's progress skip the fsync (NORMAL) and set it back."""
    with Spool(tmp_path / "wx.db") as spool:
        statements: list[str] = []
        spool.db.set_trace_callback(statements.append)

        def syncs(call: Callable[[], object]) -> list[str]:
            statements.clear()
            call()
            return [s for s in statements if s.startswith(("PRAGMA synchronous", "COMMIT"))]

        packet = Received(b"packet", 1.0, "10.0.0.1:1")
        assert syncs(lambda: spool.packets.add([packet])) == ["COMMIT"]
        assert syncs(lambda: spool.samples.record([(1, sample_batch())], [], {})) == [
            "PRAGMA synchronous=NORMAL",
            "COMMIT",
            "PRAGMA synchronous=FULL",
        ]
        assert syncs(lambda: spool.progress.set("mqtt", 1)) == [
            "PRAGMA synchronous=NORMAL",
            "COMMIT",
            "PRAGMA synchronous=FULL",
        ]
        assert spool.db.execute("PRAGMA synchronous").fetchone() == (2,)


def test_newest_batch_and_sample_of_each_station(tmp_path: Path) -> None:
    """Test that a station's newest batch is that of its newest packet by arrival,
    also when an older packet is decoded after it, and its newest sample is the
    latest stored."""
    config = parse_config({})
    station = SimStation(1, ReferenceParser(), 1_790_000_000.0)
    wakes = []
    for _ in range(3):
        wakes.append(station.wake())
        station.delivered()
    other = SimStation(2, ReferenceParser(), 1_790_000_000.0).wake()
    with Spool(tmp_path / "wx.db") as spool:
        assert spool.samples.newest_batches() == {}
        assert spool.samples.newest_samples() == {}
        spool.packets.add([Received(w.packet, w.arrival, "10.0.0.1:1") for w in wakes[1:]])
        spool.packets.add([Received(other.packet, other.arrival, "10.0.0.2:1")])
        decode_offline(spool, config)
        # The oldest packet comes last, as a capture ingested later would.
        spool.packets.add([Received(wakes[0].packet, wakes[0].arrival, "10.0.0.1:1")])
        decode_offline(spool, config)
        newest = spool.samples.newest_batches()
        samples = spool.samples.newest_samples()
    assert sorted(newest) == [1, 2]
    assert newest[1].arrival == wakes[2].arrival
    assert len(newest[1].samples) == len(wakes[2].taken)
    assert newest[2].arrival == other.arrival
    assert samples[1] == newest[1].samples[-1]
    assert samples[2] == newest[2].samples[-1]


def test_an_older_database_is_switched_to_incremental_vacuum_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Test that a database made without incremental vacuum (as bridges before
    it made them) is rewritten once when opened, says so in the log, keeps
    every packet, and from then on gives freed pages back to the disk; opened
    again, it is not rewritten."""
    path = tmp_path / "wx.db"
    with Spool(path) as spool:
        spool.packets.add(
            [Received(bytes(200) + i.to_bytes(4, "little"), i, "p") for i in range(3000)]
        )
        spool.db.execute("PRAGMA auto_vacuum=NONE")
        spool.db.execute("VACUUM")
        assert spool.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    with caplog.at_level(logging.WARNING, "bridge.spool.schema"), Spool(path) as spool:
        assert spool.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        assert "rewriting it once so that the pages it frees go back to the disk" in caplog.text
        assert spool.packets.counts() == {"new": 3000}
        before = path.stat().st_size
        spool.db.execute("DELETE FROM packets")
        give_back_pages(spool.db)
        assert path.stat().st_size < before / 4
    caplog.clear()
    with caplog.at_level(logging.WARNING, "bridge.spool.schema"), Spool(path):
        assert "rewriting" not in caplog.text
