"""Salvage of a damaged database: real files with pages overwritten as a
failing SD card leaves them, read back by ``wxstation-bridge salvage``."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge import cli
from bridge.errors import DatabaseError
from bridge.service import database_lock
from bridge.spool import Spool
from bridge.spool.pages import read_rows
from bridge.spool.salvage import is_corruption, move_aside, salvage
from tests.support.bridge import write_config
from tests.support.damage import (
    PAGE,
    ROUNDS,
    START,
    STATIONS,
    Packet,
    overwrite,
    packet_pages,
    packets_of,
    running_bridge_database,
)
from tests.support.fleet import fleet_rounds


def config_for(tmp_path: Path) -> Path:
    return write_config(tmp_path / "config.yaml", {"storage": {"path": "wx.db"}})


def exported(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert cli.main(["export", "-c", str(config), *args]) == 0
    return capsys.readouterr().out.splitlines()


def damaged_then_salvaged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pages: list[int]
) -> tuple[dict[int, Packet], str, Path]:
    """The packets before the damage, what ``salvage`` printed, and the config."""
    database = tmp_path / "wx.db"
    running_bridge_database(database)
    before = packets_of(database)
    overwrite(database, pages)
    config = config_for(tmp_path)
    assert cli.main(["salvage", str(database), "-c", str(config)]) == 0
    return before, capsys.readouterr().out, config


@pytest.mark.parametrize("where", ["a third of the way in", "a packets leaf and its parent"])
def test_salvage_brings_back_every_packet_whose_page_was_not_hit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    """Test that after two 4 KB pages of a running bridge's database are
    overwritten with garbage, ``salvage`` moves the file aside with a name that
    says when and why, and brings back into a fresh database every raw packet
    that was not on a hit page, once each, with the decoded history it could
    read; it reports how many packets are lost and whose history must be
    decoded again, ``reprocess --removed`` does that, and export works."""
    pristine = tmp_path / "pristine"
    pristine.mkdir()
    running_bridge_database(pristine / "wx.db")
    leaves, interior = packet_pages(pristine / "wx.db")
    pages_in_file = (pristine / "wx.db").stat().st_size // PAGE
    if where == "a third of the way in":
        hit = [pages_in_file // 3, pages_in_file // 3 + 1]
    else:
        hit = [sorted(leaves)[len(leaves) // 2], interior[0]]
    lost = {i for page in hit for i in leaves.get(page, ())}
    assert where == "a third of the way in" or lost

    before, said, config = damaged_then_salvaged(tmp_path, capsys, hit)
    with capsys.disabled():
        print(f"\n{where}: pages {hit} hit; salvage said:\n{said}")
    aside = [f.name for f in tmp_path.iterdir() if f.name.startswith("wx.db.damaged-")]
    assert len(aside) == 1
    assert datetime.strptime(aside[0], "wx.db.damaged-%Y%m%dT%H%M%SZ")
    after = packets_of(tmp_path / "wx.db")
    expected = {packet for i, packet in before.items() if i not in lost}
    assert sorted(after.values()) == sorted(expected)
    assert "could not be read" in said
    if lost:
        assert f"{len(lost)} packets are lost" in said
    else:
        assert "packets are lost" not in said

    raw = exported(config, capsys, "--raw")
    assert len(raw) == len(expected)
    samples = exported(config, capsys)
    keys = [(json.loads(line)["device_id"], json.loads(line)["time"]) for line in samples]
    assert len(keys) == len(set(keys))  # nothing doubled
    assert cli.main(["reprocess", "--removed", "-c", str(config)]) == 0
    capsys.readouterr()
    again = exported(config, capsys)
    with Spool(tmp_path / "wx.db") as spool:
        assert spool.history.removed() == []
        assert spool.packets.counts() == {"done": len(expected)}
        assert spool.db.execute(
            "SELECT count(*) FROM packets p LEFT JOIN batches b ON b.packet_id = p.id "
            "WHERE b.seq IS NULL"
        ).fetchone() == (0,)
    if not lost:
        assert len(again) == STATIONS * ROUNDS * 30


def test_salvage_copies_nothing_twice(tmp_path: Path) -> None:
    """Test that salvaging the same damaged file into a database that already
    holds what it salvaged copies no packet and no sample a second time."""
    database = tmp_path / "wx.db"
    running_bridge_database(database)
    overwrite(database, [30, 31])
    damaged = move_aside(database, now=datetime(2026, 12, 7, 15, 30, tzinfo=UTC))
    assert damaged.name == "wx.db.damaged-20261207T153000Z"
    with Spool(database) as spool:
        first = salvage(damaged, spool)
        batches = spool.samples.last_seq()
        second = salvage(damaged, spool)
        assert second.copied["packets"] == 0
        assert second.already_there == first.copied["packets"]
        assert spool.samples.last_seq() == batches
        assert spool.progress.get("influxdb") <= batches


def test_a_damaged_database_is_told_apart(tmp_path: Path) -> None:
    """Test that the error a query on a damaged database raises counts as
    corruption, with advice naming the salvage command, and a busy one does not."""
    database = tmp_path / "wx.db"
    running_bridge_database(database)
    overwrite(database, list(range(2, (database.stat().st_size // PAGE) + 1)))
    with pytest.raises(DatabaseError) as caught, Spool(database) as spool:
        list(spool.export.packets())
    assert is_corruption(caught.value)
    assert "wxstation-bridge salvage" in str(caught.value)
    assert not is_corruption(sqlite3.OperationalError("database is locked"))


def test_salvage_with_the_schema_pages_hit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test what salvage gets when the first two pages (the file's header and
    the schema) are overwritten: the rows are placed by their shape alone, and
    it says so; every packet and its decoded history come back, the sinks'
    progress does not (its rows look like SQLite's own ``sqlite_sequence``),
    so the sinks deliver it all again."""
    before, said, _ = damaged_then_salvaged(tmp_path, capsys, [1, 2])
    with capsys.disabled():
        print(f"\nschema pages hit; salvage said:\n{said}")
    assert "the schema's pages were hit" in said
    assert sorted(packets_of(tmp_path / "wx.db").values()) == sorted(before.values())
    with Spool(tmp_path / "wx.db") as spool:
        assert spool.samples.last_seq() == len(before)
        assert spool.progress.by_sink() == {}


def test_salvage_refuses_while_a_bridge_holds_the_database(tmp_path: Path) -> None:
    """Test that salvage does not touch a database a running bridge holds."""
    database = tmp_path / "wx.db"
    running_bridge_database(database)
    config = config_for(tmp_path)
    with database_lock(database):
        assert cli.main(["salvage", str(database), "-c", str(config)]) != 0
    assert database.exists()
    assert not [f for f in tmp_path.iterdir() if ".damaged-" in f.name]


def test_salvage_reads_the_write_ahead_log_of_a_bridge_that_stopped_short(
    tmp_path: Path,
) -> None:
    """Test that the files of a bridge that stopped without closing (its
    newest commits still in the write-ahead log beside the damaged file) are
    salvaged with those commits: the newest round of packets comes back."""
    running_bridge_database(tmp_path / "before.db")
    newest = sorted(packets_of(tmp_path / "before.db").values())[-STATIONS:]
    database = tmp_path / "wx.db"
    with Spool(database) as spool:
        spool.db.execute("PRAGMA wal_autocheckpoint=0")
        for items in fleet_rounds(STATIONS, ROUNDS, START):
            spool.packets.add(items)
        # The files as a power cut leaves them: the log not yet copied back.
        for suffix in ("", "-wal"):
            shutil.copyfile(f"{database}{suffix}", tmp_path / f"cut.db{suffix}")
    assert (tmp_path / "cut.db-wal").stat().st_size > 0
    overwrite(tmp_path / "cut.db", [2])
    damaged = move_aside(tmp_path / "cut.db")
    assert Path(f"{damaged}-wal").exists()
    with Spool(tmp_path / "fresh.db") as spool:
        report = salvage(damaged, spool)
    assert report.log_unread is None
    assert set(newest) <= set(packets_of(tmp_path / "fresh.db").values())


def test_salvage_of_no_file_exits_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that salvage given a path that is no file exits 5 and says what it wants."""
    config = config_for(tmp_path)
    assert cli.main(["salvage", str(tmp_path / "missing.db"), "-c", str(config)]) == 5
    assert "is not a file: name the damaged database" in capsys.readouterr().err


def test_the_page_reader_reads_every_row_sqlite_wrote(tmp_path: Path) -> None:
    """Test that reading a sound file page by page gives exactly the rows
    SQLite gives: integers of every width, negative ones, floats, text, NULL,
    and values from none to many pages long (overflow pages), in a tree deep
    enough to have interior pages, with deleted rows' pages on the freelist
    left out."""
    path = tmp_path / "kinds.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA auto_vacuum=NONE")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, x REAL, s TEXT, b BLOB)")
    widths = random.Random(7)
    rows = [
        (
            i,
            widths.choice([0, 1, -1, 127, -129, 2**15, 2**23 + 1, -(2**31), 2**40, -(2**62)]),
            widths.choice([0.5, -1e300, 3.0, None]),
            widths.choice(["", "é" * widths.randrange(0, 3000), None]),
            widths.randbytes(widths.choice([0, 10, 4000, 4100, 20_000])),
        )
        for i in range(1, 600)
    ]
    db.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", rows)
    db.execute("DELETE FROM t WHERE id % 7 = 0")
    db.commit()
    expected = {row[0]: (None, *row[1:]) for row in db.execute("SELECT * FROM t")}
    db.close()
    kinds = (frozenset({"None"}), frozenset({"int"}), frozenset({"float", "int", "None"}))
    spec = {"t": (*kinds, frozenset({"str", "None"}), frozenset({"bytes"}))}
    found = read_rows(path.read_bytes(), spec)
    assert found.damaged == {}
    assert found.unplaced == 0
    assert found.tables["t"] == expected
