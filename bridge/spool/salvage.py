"""A damaged database: telling it apart, moving it aside, and salvaging what
it holds into a fresh one.

Failing SD cards leave pages of garbage in the file. SQLite then answers
``SQLITE_CORRUPT`` ("database disk image is malformed") or ``SQLITE_NOTADB``
(:func:`is_corruption`), and every query that meets such a page fails, so
the file is moved aside (:func:`move_aside`, a name that says when and why)
and a fresh database takes its place. :func:`salvage` then reads the damaged
file page by page (:mod:`bridge.spool.pages`: a damaged page loses only the
rows it held) and copies into the fresh spool what can be read: raw packets
(each once: one already there by arrival, peer and bytes is not copied
again), their decoded history (readings; their ``sample_times`` rebuilt),
kept-aside packets with their reasons, the stations' clocks, each sink's
progress and refusals, conflicts and what gave way at the cap. What it could
not read it says, in a :class:`SalvageReport`.

SQLite's own ``.recover`` is not used: the ``sqlite3`` shell of Debian 12
needs the ``sqlite_dbpage`` table, which Debian's libsqlite3 is built
without, so it fails on any file, and Python's ``sqlite3`` has no recover
extension.
"""

from __future__ import annotations

import json
import logging
import mmap
import sqlite3
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bridge.errors import DatabaseError
from bridge.spool import readings
from bridge.spool.base import is_corruption, transaction
from bridge.spool.database import Spool
from bridge.spool.giving_way import RemovedHistory, remember_removed
from bridge.spool.pages import DamageError, FileRows, Value, read_rows
from wxstation.samples import Batch

__all__ = [
    "SIDE_FILES",
    "TABLES",
    "SalvageReport",
    "is_corruption",
    "move_aside",
    "number_after",
    "salvage",
    "start_fresh",
    "summary",
]

log = logging.getLogger(__name__)

#: The files beside a database that belong to it: its write-ahead log and the
#: log's index. They move with it: the log may hold its newest commits.
SIDE_FILES = ("-wal", "-shm")

_NUMBER = frozenset({"int", "float"})
_INT, _TEXT, _BLOB, _NONE = frozenset({"int"}), frozenset({"str"}), frozenset({"bytes"}), "None"
#: The tables salvage reads, each with what its columns may hold, in their
#: order (an ``INTEGER PRIMARY KEY`` is the rowid: None in the row). SQLite
#: writes a REAL that is a whole number as an integer. ``sqlite_sequence``
#: is listed so that a page of it is never taken for ``sink_progress``,
#: whose rows look the same.
TABLES: dict[str, tuple[frozenset[str], ...]] = {
    "packets": (
        frozenset({_NONE}),
        _NUMBER,
        _TEXT,
        _BLOB,
        _INT | {_NONE},
        _TEXT,
        _TEXT | {_NONE},
    ),
    "batches": (frozenset({_NONE}), _INT, _INT, _TEXT),
    "readings": (frozenset({_NONE}), _INT, _TEXT, _INT, _INT, _INT, _TEXT, _BLOB, _BLOB),
    "stations": (frozenset({_NONE}), _TEXT, _NUMBER),
    "sink_progress": (_TEXT, _INT),
    "rejected": (_TEXT, _INT, _NUMBER, _TEXT),
    "conflicts": (_INT, _TEXT, _INT, _TEXT, _TEXT, _INT),
    "removed_history": (
        frozenset({_NONE}),
        _TEXT,
        _INT,
        _INT,
        _INT | {_NONE},
        _INT | {_NONE},
        _NUMBER,
    ),
    "sqlite_sequence": (_TEXT, _INT),
}
_STATES = ("new", "done", "kept")


@dataclass
class SalvageReport:
    """What :func:`salvage` read of a damaged database and copied into the fresh one."""

    damaged: Path
    #: Per table: rows read, and rows copied (the rest were there already, or
    #: belonged to what could not be read).
    found: dict[str, int] = field(default_factory=dict)
    copied: dict[str, int] = field(default_factory=dict)
    #: Packets the fresh database held already (same arrival, peer and bytes).
    already_there: int = 0
    #: Packet ids missing between the lowest and the highest read: packets on
    #: pages that could not be read (or deleted as noise before).
    packets_missing: int = 0
    #: Decoded packets whose decoded history could not be read: listed as
    #: given way, so ``reprocess --removed`` decodes them again.
    history_lost: int = 0
    #: Pages that could not be read, with why; leaf pages no table matched.
    damaged_pages: dict[int, str] = field(default_factory=dict)
    unplaced_pages: int = 0
    schema_read: bool = True
    #: Why the write-ahead log beside the damaged file was not read, if it was not.
    log_unread: str | None = None

    def lines(self) -> list[str]:
        """The report, a line each: what was salvaged, what was not, what to do."""
        out = [f"salvaged from {self.damaged}:"]
        for table, found in self.found.items():
            out.append(f"  {table}: {found} rows read, {self.copied.get(table, 0)} copied")
        if self.already_there:
            out.append(f"  {self.already_there} packets were in the database already")
        lost = []
        if self.damaged_pages:
            pages = ", ".join(str(p) for p in sorted(self.damaged_pages)[:10])
            more = "" if len(self.damaged_pages) <= 10 else ", ..."
            lost.append(f"{len(self.damaged_pages)} pages could not be read ({pages}{more})")
        if self.unplaced_pages:
            lost.append(f"{self.unplaced_pages} pages of rows no table matched")
        if not self.schema_read:
            lost.append("the schema's pages were hit: rows were placed by their shape alone")
        if self.packets_missing:
            lost.append(
                f"{self.packets_missing} packets are lost (ids missing between the first and "
                "the last read)"
            )
        if self.history_lost:
            lost.append(
                f"the decoded history of {self.history_lost} packets is lost: "
                "'wxstation-bridge reprocess --removed' decodes them again"
            )
        if self.log_unread:
            lost.append(f"its write-ahead log was not read ({self.log_unread})")
        out.append("not salvaged: " + ("; ".join(lost) if lost else "nothing, all was read"))
        return out


def move_aside(path: Path, why: str = "damaged", now: datetime | None = None) -> Path:
    """Rename the database at ``path`` (and its write-ahead log and index) to
    ``<name>.<why>-<UTC time>``, e.g. ``wx.db.damaged-20261207T153000Z``, beside
    it; returns the new path. A name taken already gets ``-2``, ``-3``, ...
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.{why}-{stamp}")
    count = 1
    while target.exists():
        count += 1
        target = path.with_name(f"{path.name}.{why}-{stamp}-{count}")
    path.rename(target)
    for suffix in SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    log.warning("moved %s aside to %s (%s)", path, target, why)
    return target


def start_fresh(spool: Spool, why: str, newest: int, progress: Mapping[str, int]) -> Path:
    """Close ``spool``, move its file aside (:func:`move_aside`) and open a fresh
    one in its place; returns where the file went.

    The fresh database goes on from where the running bridge is: its decoded
    batches are numbered after ``newest`` (the last batch decoded) and each
    sink's ``progress`` is kept, so the sinks' drivers go on from where they
    are; the batches :func:`salvage` copies later come after.
    """
    spool.close()
    moved = move_aside(spool.path, why)
    spool.open()
    number_after(spool, newest)
    for sink, seq in progress.items():
        spool.progress.set(sink, seq)
    return moved


def number_after(spool: Spool, newest: int) -> None:
    """Number the batches decoded from now on after ``newest`` (the last one the
    running bridge decoded), whatever the file holds: a fresh database, or one
    whose disk lost its newest commits, must not give a sink's next batches
    numbers it has delivered already."""
    db = spool.db
    with transaction(db):
        updated = db.execute(
            "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'batches'", (newest,)
        ).rowcount
        if not updated and newest:
            db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('batches', ?)", (newest,))


def summary(report: SalvageReport) -> str:
    """The report in one sentence: how many packets came back, and what did not."""
    lost = report.lines()[-1]
    return (
        f"{report.copied.get('packets', 0)} of {report.found.get('packets', 0)} packets read "
        f"were copied ({report.already_there} were there already), with "
        f"{report.copied.get('batches', 0)} decoded batches; {lost}"
    )


def salvage(damaged: Path, spool: Spool) -> SalvageReport:
    """Copy what can be read of the damaged database at ``damaged`` into the
    open ``spool``; returns what was and what was not.

    Nothing is written to ``damaged`` but the copy of its write-ahead log into
    it (SQLite's checkpoint, which reads no table): rows are read from its
    pages, so a page of garbage loses only what it held.
    """
    report = SalvageReport(damaged)
    report.log_unread = _merge_log(damaged)
    try:
        with (
            damaged.open("rb") as file,
            mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data,
        ):
            rows = read_rows(data, TABLES)  # type: ignore[arg-type]
    except (OSError, ValueError, DamageError) as err:
        raise DatabaseError(damaged, f"cannot salvage {damaged}: {err}") from err
    report.damaged_pages = rows.damaged
    report.unplaced_pages = rows.unplaced
    report.schema_read = rows.schema_read
    for table in TABLES:
        if table != "sqlite_sequence":
            report.found[table] = len(rows.tables.get(table, {}))
    _copy(rows, spool, report)
    return report


def _merge_log(damaged: Path) -> str | None:
    """Copy the write-ahead log beside ``damaged`` into it; why not, if it failed."""
    wal = damaged.with_name(damaged.name + "-wal")
    if not wal.exists() or wal.stat().st_size == 0:
        return None
    try:
        db = sqlite3.connect(damaged, isolation_level=None)
        try:
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            db.close()
    except sqlite3.Error as err:
        return f"{wal.stat().st_size} bytes: {err}"
    return "another process holds it" if busy else None


def _copy(rows: FileRows, spool: Spool, report: SalvageReport) -> None:
    tables = rows.tables
    packets = _packets(tables.get("packets", {}), report)
    ids = _copy_packets(spool, packets, report)
    history = _history(tables, ids, report)
    stored = spool.samples.record([(packet_id, batch) for _, packet_id, batch in history], [], {})
    seqs = {old: one.seq for (old, _, _), one in zip(history, stored, strict=True)}
    report.copied["batches"] = report.copied["readings"] = len(stored)
    done = {ids[old] for old, row in packets.items() if row[5] == "done" and old in ids}
    lost = done - {packet_id for _, packet_id, _ in history}
    db = spool.db
    with transaction(db):
        _copy_small(db, tables, seqs, report)
        _mark_lost(spool, lost, tables, packets, ids, report)
    _copy_progress(spool, tables, seqs, report)


def _packets(
    found: dict[int, tuple[Value, ...]], report: SalvageReport
) -> dict[int, tuple[Value, ...]]:
    """The packet rows that hold what the table's columns may (damage can make others)."""
    good = {
        rowid: row
        for rowid, row in found.items()
        if isinstance(row[1], int | float)
        and isinstance(row[2], str)
        and isinstance(row[3], bytes)
        and row[5] in _STATES
    }
    if good:
        report.packets_missing = max(good) - min(good) + 1 - len(good)
    return good


def _copy_packets(
    spool: Spool, packets: dict[int, tuple[Value, ...]], report: SalvageReport
) -> dict[int, int]:
    """Copy the packets the fresh database lacks, in their order, keeping their
    ids where free; returns the old id -> the new id of those copied."""
    db = spool.db
    ids: dict[int, int] = {}
    with transaction(db):
        for old in sorted(packets):
            _, received_at, peer, data, device_id, state, reason = packets[old]
            there = db.execute(
                "SELECT id FROM packets WHERE received_at = ? AND peer = ? AND data = ?",
                (received_at, peer, data),
            ).fetchone()
            if there is not None:
                report.already_there += 1
                continue
            taken = db.execute("SELECT 1 FROM packets WHERE id = ?", (old,)).fetchone()
            # A decoded packet is 'done' once its history is stored below.
            cursor = db.execute(
                "INSERT INTO packets (id, received_at, peer, data, device_id, state, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    None if taken else old,
                    float(received_at),  # type: ignore[arg-type]
                    peer,
                    data,
                    device_id,
                    state,
                    reason,
                ),
            )
            ids[old] = int(cursor.lastrowid or 0)
    report.copied["packets"] = len(ids)
    return ids


def _history(
    tables: dict[str, dict[int, tuple[Value, ...]]], ids: dict[int, int], report: SalvageReport
) -> list[tuple[int, int, Batch]]:
    """The decoded batches whose packet was copied and whose readings row was
    read, oldest first: (old seq, new packet id, batch with its samples)."""
    rows = tables.get("readings", {})
    out = []
    for seq, (_, packet_id, _, info) in sorted(tables.get("batches", {}).items()):
        reading = rows.get(seq)
        if reading is None or packet_id not in ids:
            continue
        try:
            samples = readings.unpack(str(reading[6]), bytes(reading[7]), bytes(reading[8]))  # type: ignore[arg-type]
            batch = Batch.from_dict(json.loads(str(info)), tuple(samples))
        except (ValueError, KeyError, TypeError, IndexError, struct.error) as err:
            log.warning(
                "batch %d of %s cannot be read, its packet is decoded again: %s",
                seq,
                report.damaged,
                err,
            )
            continue
        out.append((seq, ids[int(packet_id)], batch))
    return out


def _mark_lost(
    spool: Spool,
    lost: set[int],
    tables: dict[str, dict[int, tuple[Value, ...]]],
    packets: dict[int, tuple[Value, ...]],
    ids: dict[int, int],
    report: SalvageReport,
) -> None:
    """List decoded packets without history as given way, per station, so that
    ``reprocess --removed`` decodes them again with the times they had.

    Their count leaves out what the damaged database already listed as given
    way at the cap (those packets had no history either).
    """
    names = {int(row[1]): str(row[2]) for row in tables.get("readings", {}).values()}  # type: ignore[arg-type]
    listed = {device: int(row[2]) for device, row in tables.get("removed_history", {}).items()}  # type: ignore[arg-type]
    per_station: dict[int, int] = {}
    for old, row in packets.items():
        if ids.get(old) in lost and isinstance(row[4], int):
            per_station[row[4]] = per_station.get(row[4], 0) + 1
    now = datetime.now(UTC).timestamp()
    for device_id, count in sorted(per_station.items()):
        unlisted = max(0, count - listed.get(device_id, 0))
        report.history_lost += unlisted
        name = names.get(device_id, f"Station {device_id}")
        # Listed even with none unlisted: reprocess --removed goes by station.
        remember_removed(spool.db, RemovedHistory(device_id, name, unlisted, 0, None, None, now))


def _copy_progress(
    spool: Spool,
    tables: dict[str, dict[int, tuple[Value, ...]]],
    seqs: dict[int, int],
    report: SalvageReport,
) -> None:
    """Move each sink's progress over the copied batches it had delivered.

    The copied batches come after the fresh database's own, in their order,
    so those a sink delivered are the first of them. The progress moves only
    when the sink delivered all of the fresh database's own batches: else
    the copied ones are delivered again (harmless), where moving it would
    skip the fresh ones it has not (a loss).
    """
    db = spool.db
    own = int(
        db.execute(
            "SELECT coalesce(max(seq), 0) FROM batches "
            "WHERE seq NOT IN (SELECT value FROM json_each(?))",
            (json.dumps(list(seqs.values())),),
        ).fetchone()[0]
    )
    copied = 0
    for sink, seq in tables.get("sink_progress", {}).values():
        delivered = [new for old, new in seqs.items() if old <= int(seq)]  # type: ignore[arg-type]
        if not delivered or spool.progress.get(str(sink)) < own:
            continue
        spool.progress.set(str(sink), max(delivered))
        copied += 1
    report.copied["sink_progress"] = copied


def _copy_small(
    db: sqlite3.Connection,
    tables: dict[str, dict[int, tuple[Value, ...]]],
    seqs: dict[int, int],
    report: SalvageReport,
) -> None:
    """Clocks, refusals, conflicts and what gave way: what the fresh database lacks."""
    report.copied["stations"] = _insert_each(
        db,
        "INSERT INTO stations (device_id, clock, last_arrival) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [(device, clock, last) for device, (_, clock, last) in tables.get("stations", {}).items()],
    )
    report.copied["rejected"] = _insert_each(
        db,
        "INSERT INTO rejected (sink, seq, at, reason) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            (sink, seqs[int(seq)], at, reason)  # type: ignore[arg-type]
            for sink, seq, at, reason in tables.get("rejected", {}).values()
            if int(seq) in seqs  # type: ignore[arg-type]
        ],
    )
    report.copied["conflicts"] = _insert_each(
        db,
        "INSERT INTO conflicts (device_id, station, time_ms, stored, other, seq) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            (*row[:5], seqs[int(row[5])])  # type: ignore[arg-type]
            for row in tables.get("conflicts", {}).values()
            if int(row[5]) in seqs  # type: ignore[arg-type]
        ],
    )
    removed = [
        RemovedHistory(device, str(station), int(packets), int(samples), first, last, float(at))  # type: ignore[arg-type]
        for device, (_, station, packets, samples, first, last, at) in tables.get(
            "removed_history", {}
        ).items()
    ]
    for entry in removed:
        remember_removed(db, entry)
    report.copied["removed_history"] = len(removed)


def _insert_each(db: sqlite3.Connection, sql: str, rows: list[tuple[Value, ...]]) -> int:
    """Run ``sql`` for each of ``rows``; how many rows it inserted."""
    inserted = 0
    for row in rows:
        inserted += db.execute(sql, row).rowcount
    return inserted
