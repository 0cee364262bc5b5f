"""The database's tables, its schema version, and opening it: created when
new, upgraded in place when older.

The schema's version is the database's ``user_version``; a database of an older
version is upgraded in one transaction when it is opened. The noise tables sit
beside the numbered schema, added to any database that lacks them: a bridge
that does not know them ignores them.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
import sqlite3
from pathlib import Path

from bridge.errors import DatabaseError, SchemaError
from bridge.spool.base import BUSY_TIMEOUT_MS, database_error, is_corruption, transaction
from bridge.spool.sample_store import insert_reading, keep_conflict, same_values
from wxstation.packets import Conflict
from wxstation.samples import Sample

__all__ = [
    "HISTORY_SCHEMA",
    "NOISE_SCHEMA",
    "SCHEMA",
    "SCHEMA_VERSION",
    "VACUUM_ROOM",
    "connect",
    "switch_to_incremental_vacuum",
]

log = logging.getLogger(__name__)

# Written into SCHEMA for a new database and by the upgrade from schema 1.
_PACKETS_BY_ARRIVAL = "CREATE UNIQUE INDEX packets_by_arrival ON packets (received_at, peer, data)"
_SAMPLES_BY_TIME = "CREATE UNIQUE INDEX samples_by_time ON samples (device_id, time_ms)"
_CONFLICTS = """CREATE TABLE conflicts (
    device_id INTEGER NOT NULL,
    station TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    -- the values of the sample in the store, and of the other sample
    stored TEXT NOT NULL,
    other TEXT NOT NULL,
    -- the batch that brought the other sample
    seq INTEGER NOT NULL REFERENCES batches (seq),
    PRIMARY KEY (device_id, time_ms, other)
)"""

# Schema 3: one row per decoded packet with its samples as compact arrays
# (see bridge/spool/readings.py), looked up by station and time, and by age.
_READINGS = """CREATE TABLE readings (
    seq INTEGER PRIMARY KEY REFERENCES batches (seq),
    device_id INTEGER NOT NULL,
    station TEXT NOT NULL,
    -- the oldest and newest sample's time, unix ms
    first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    -- samples in the row
    count INTEGER NOT NULL,
    -- the value names (a JSON list), the samples' times (int64) and values
    -- (float64 per sample and name, NaN where a sample has none), little-endian
    keys TEXT NOT NULL,
    times BLOB NOT NULL,
    "values" BLOB NOT NULL
);
CREATE INDEX readings_by_station ON readings (device_id, first_ms);
CREATE INDEX readings_by_age ON readings (last_ms, first_ms);
-- Each stored sample's station and time, with the batch whose row holds it:
-- at most one sample per station and time, checked at the same cost per
-- packet whatever the station's history.
CREATE TABLE sample_times (
    device_id INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (device_id, time_ms)
) WITHOUT ROWID"""

SCHEMA_VERSION = 3
SCHEMA = f"""
CREATE TABLE packets (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    peer TEXT NOT NULL,
    data BLOB NOT NULL,
    device_id INTEGER,
    state TEXT NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'done', 'kept')),
    reason TEXT
);
CREATE INDEX packets_by_state ON packets (state, id);
{_PACKETS_BY_ARRIVAL};
CREATE TABLE batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    packet_id INTEGER NOT NULL UNIQUE REFERENCES packets (id),
    device_id INTEGER NOT NULL,
    info TEXT NOT NULL
);
{_READINGS};
{_CONFLICTS};
CREATE TABLE stations (
    device_id INTEGER PRIMARY KEY,
    clock TEXT NOT NULL,
    last_arrival REAL NOT NULL
);
CREATE TABLE sink_progress (
    sink TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
CREATE TABLE rejected (
    sink TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at REAL NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (sink, seq)
);
"""

NOISE_SCHEMA = """
CREATE TABLE IF NOT EXISTS noise_sources (
    source TEXT PRIMARY KEY,
    connections INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    refused INTEGER NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    reason TEXT NOT NULL,
    sample BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS noise_kept (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    peer TEXT NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    data BLOB NOT NULL
);
"""
# What gave way at the cap and the database's size over time (see
# bridge.spool.giving_way), beside the numbered schema like the noise tables.
HISTORY_SCHEMA = """
CREATE TABLE IF NOT EXISTS size_readings (
    at REAL PRIMARY KEY,
    used INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS removed_history (
    device_id INTEGER PRIMARY KEY,
    station TEXT NOT NULL,
    packets INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    -- the oldest and newest removed sample (epoch ms)
    first_ms INTEGER,
    last_ms INTEGER,
    -- when history of the station last gave way (unix seconds)
    at REAL NOT NULL
);
"""
#: Pages the write-ahead log may gather before it is copied into the database,
#: as a share of the size cap (SQLite's default of 1,000 pages, 4 MB, is more
#: than the whole of a small cap), and at least this many pages.
WAL_SHARE = 1 / 16
MIN_WAL_PAGES = 16
DEFAULT_WAL_PAGES = 1000
#: Free disk the one VACUUM that switches an older database to incremental
#: vacuum needs, as a multiple of the database's file: SQLite builds the
#: vacuumed copy in a temporary file, then writes it back through the
#: write-ahead log, and both may be as large as the database.
VACUUM_ROOM = 2.0
# PRAGMA auto_vacuum's values (https://sqlite.org/pragma.html#pragma_auto_vacuum).
_AUTO_VACUUM_NONE, _AUTO_VACUUM_INCREMENTAL = 0, 2


def connect(path: Path, max_size: int) -> sqlite3.Connection:
    """Open the database at ``path``, creating or upgrading it, with its write-ahead
    log sized for a cap of ``max_size`` bytes; raises :class:`DatabaseError`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as err:
        raise DatabaseError(path, f"cannot open {path}: {err}") from err
    try:
        _prepare(db, path, max_size)
    except sqlite3.Error as err:
        db.close()
        raise database_error(path, err) from err
    except BaseException:
        db.close()
        raise
    return db


def _prepare(db: sqlite3.Connection, path: Path, max_size: int) -> None:
    try:
        # Pages freed when history gives way go back to the filesystem
        # (bridge.spool.base.give_back_pages), so the file stays near the cap.
        # Set before the first table, a new database has it from the start.
        db.execute(f"PRAGMA auto_vacuum={_AUTO_VACUUM_INCREMENTAL}")
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk when it returns. A station's packet has no
        # other copy once read, so a group commit is worth its fsync.
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as err:
        if not is_corruption(err):
            raise DatabaseError(
                path, f"cannot open {path} ({err}): is it a wxstation database?"
            ) from err
        # Not a database at all may be a wrong path, or the bridge's own
        # database with its first page hit: both are said.
        raise DatabaseError(
            path,
            f"cannot open {path} ({err}): is it a wxstation database? If it is, it is "
            f"damaged: stop the bridge and run 'wxstation-bridge salvage {path}', which moves "
            "it aside and copies what can be read of it into a fresh database",
        ) from err
    if version == 0:
        # executescript commits any open transaction first, so the script
        # carries its own: the schema appears whole or not at all.
        db.executescript(f"BEGIN; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
    elif version > SCHEMA_VERSION:
        raise SchemaError(
            path,
            f"{path} was written by a newer wxstation (schema {version}); upgrade",
            found=version,
            supported=SCHEMA_VERSION,
        )
    elif version < SCHEMA_VERSION:
        try:
            with transaction(db):
                if version == 1:
                    _upgrade_from_1(db)
                _upgrade_from_2(db)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as err:
            raise SchemaError(
                path,
                f"cannot upgrade {path} from schema {version} to {SCHEMA_VERSION} "
                f"({err}); the database is as it was",
                found=version,
                supported=SCHEMA_VERSION,
            ) from err
    db.executescript(f"BEGIN; {NOISE_SCHEMA} {HISTORY_SCHEMA} COMMIT;")
    switch_to_incremental_vacuum(db, path)
    # A log that stays small beside the cap, and is cut back to that size
    # after each checkpoint instead of keeping the size of its longest run.
    page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
    pages = max(MIN_WAL_PAGES, min(DEFAULT_WAL_PAGES, int(max_size * WAL_SHARE) // page_size))
    db.execute(f"PRAGMA wal_autocheckpoint={pages}")
    db.execute(f"PRAGMA journal_size_limit={pages * page_size}")


def switch_to_incremental_vacuum(db: sqlite3.Connection, path: Path) -> bool:
    """Give a database created without incremental vacuum (before the bridge
    set it) that setting, with the one ``VACUUM`` it takes; True when it did.

    Done when it is opened, before anything else uses it, and only with
    :data:`VACUUM_ROOM` times its size free on its disk: ``VACUUM`` is one
    transaction (a crash or power cut leaves the database as it was), but it
    rewrites the whole file, which takes a while on an SD card, and a disk
    filled halfway through it would stop the bridge. Without the room, the
    database stays as it is, its free pages reused but not given back, and
    the next opening tries again.
    """
    if int(db.execute("PRAGMA auto_vacuum").fetchone()[0]) != _AUTO_VACUUM_NONE:
        return False
    size = path.stat().st_size
    free = shutil.disk_usage(path.parent).free
    if free < size * VACUUM_ROOM:
        log.warning(
            "%s (%.0f MB) keeps the pages it frees instead of giving them back to the disk: "
            "switching it to incremental vacuum rewrites it once and needs %.0f MB free on "
            "its disk (%.0f MB are); free space and start the bridge again",
            path,
            size / 1e6,
            size * VACUUM_ROOM / 1e6,
            free / 1e6,
        )
        return False
    log.warning(
        "%s (%.0f MB): rewriting it once so that the pages it frees go back to the disk "
        "(incremental vacuum); this takes a while on a slow disk",
        path,
        size / 1e6,
    )
    db.execute(f"PRAGMA auto_vacuum={_AUTO_VACUUM_INCREMENTAL}")
    db.execute("VACUUM")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    log.warning("%s rewritten: now %.0f MB", path, path.stat().st_size / 1e6)
    return True


def _upgrade_from_2(db: sqlite3.Connection) -> None:
    """Schema 2 -> 3: a batch's samples, one row and one JSON text each in
    ``samples``, become its one ``readings`` row. The samples, their times and
    values (as floats) and their order within a batch stay as they were."""
    # One statement at a time: executescript would commit the upgrade's transaction.
    for statement in _READINGS.split(";"):
        db.execute(statement)
    rows = db.execute(
        'SELECT seq, device_id, station, time_ms, "values" FROM samples ORDER BY seq, rowid'
    )
    for (seq, device_id, station), group in itertools.groupby(
        rows, key=lambda row: (row[0], row[1], row[2])
    ):
        samples = [Sample(int(time_ms), json.loads(values)) for *_, time_ms, values in group]
        insert_reading(db, seq, device_id, station, samples)
    db.execute(
        "INSERT INTO sample_times (device_id, time_ms, seq) "
        "SELECT device_id, time_ms, seq FROM samples"
    )
    db.execute("DROP TABLE samples")


def _upgrade_from_1(db: sqlite3.Connection) -> None:
    """Schema 1 -> 2: one copy of each packet, at most one sample per station and time.

    Schema 1 stored every packet of a capture ingested twice a second time and
    decoded it as a packet older than its station's newest, so its samples were
    stored again, most at shifted times. Of the copies of one packet (same
    arrival, peer and bytes) the one decoded first stays; the others go with
    their batches, samples and refusals by a sink, none of which the station
    sent (what a sink received of them stays there: InfluxDB keeps their
    points). Samples still sharing a station and time come from different
    packets: the first stored stays, an equal one goes, and a different one is
    kept aside in ``conflicts`` with the stored sample's values.
    """
    copies = [
        (packet_id,)
        for (packet_id,) in db.execute(
            "SELECT id FROM (SELECT p.id, row_number() OVER ("
            "PARTITION BY p.received_at, p.peer, p.data ORDER BY b.seq IS NULL, b.seq, p.id"
            ") AS copy FROM packets p LEFT JOIN batches b ON b.packet_id = p.id) WHERE copy > 1"
        )
    ]
    db.executemany(
        "DELETE FROM samples WHERE seq IN (SELECT seq FROM batches WHERE packet_id = ?)", copies
    )
    db.executemany(
        "DELETE FROM rejected WHERE seq IN (SELECT seq FROM batches WHERE packet_id = ?)", copies
    )
    db.executemany("DELETE FROM batches WHERE packet_id = ?", copies)
    db.executemany("DELETE FROM packets WHERE id = ?", copies)
    # A sink's progress past the last batch left (it delivered removed copies)
    # is at the last batch left.
    db.execute(
        "UPDATE sink_progress SET seq = min(seq, (SELECT coalesce(max(seq), 0) FROM batches))"
    )

    db.execute(_CONFLICTS)
    doubled = db.execute(
        "SELECT device_id, time_ms FROM samples GROUP BY device_id, time_ms HAVING count(*) > 1"
    ).fetchall()
    for device_id, time_ms in doubled:
        (_, _, _, stored), *others = db.execute(
            'SELECT rowid, seq, station, "values" FROM samples '
            "WHERE device_id = ? AND time_ms = ? ORDER BY rowid",
            (device_id, time_ms),
        ).fetchall()
        for rowid, seq, station, values in others:
            if not same_values(stored, values):
                conflict = Conflict(
                    device_id, station, time_ms, json.loads(stored), json.loads(values)
                )
                keep_conflict(db, seq, conflict, stored, values)
            db.execute("DELETE FROM samples WHERE rowid = ?", (rowid,))
    db.execute("DROP INDEX samples_by_time")
    db.execute(_SAMPLES_BY_TIME)
    db.execute(_PACKETS_BY_ARRIVAL)
