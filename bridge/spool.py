"""The bridge's SQLite database: every packet as received, and all that follows from it.

Tables:

- ``packets``: what each connection delivered, with its arrival time and peer,
  committed before anything else is done with it; the same bytes from the same
  peer at the same time (a capture ingested again) are one packet. ``state`` is
  ``new`` (not yet decoded), ``done`` (decoded into a batch) or ``kept`` (kept
  aside with a ``reason``: undecodable, unknown station, wrong address).
- ``batches`` and ``samples``: the embedded sample store. A batch is one decoded
  packet; ``seq`` orders batches for the sinks, so a packet decoded late (after
  ``reprocess``) is still delivered. A batch holds only the samples it newly
  stored: there is at most one sample per station and time.
- ``conflicts``: a sample whose station and time were taken by a different
  sample, kept here with the stored sample's values beside its own.
- ``stations``: each station's clock (see :mod:`bridge.timing`).
- ``sink_progress``: the last batch each sink delivered, so a restart resumes
  exactly there; ``rejected``: batches a sink refused for good, with the reason.
- ``noise_sources`` and ``noise_kept``: traffic that was not a station's, per
  source (counts, first and last seen, a sample) and the bytes of the few
  connections kept to look at (see :mod:`bridge.noise`). Bounded, and the
  first room given back when the database is full.
- ``size_readings`` and ``removed_history``: the database's size over the last
  week, and what decoded history gave way at the cap (see :mod:`bridge.giving_way`).

The schema's version is the database's ``user_version``; a database of an older
version is upgraded in place, in one transaction, when it is opened.

The class is synchronous and not thread-safe: the runtime calls it from one
thread only (see :class:`bridge.pipeline.SpoolThread`).
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass, replace
from pathlib import Path
from typing import Any

from bridge import giving_way, noise
from bridge.availability import LastPacket
from bridge.capacity import GIVE_WAY_AT, GIVE_WAY_TO, Projection, project
from bridge.config import StorageConfig, config_default
from bridge.errors import DatabaseError, SchemaError
from bridge.protocol import claimed_device, screen
from bridge.samples import Batch, Sample, format_time
from bridge.timing import StationClock

__all__ = ["Conflict", "NoisySource", "Received", "Spool", "StoredBatch", "StoredPacket"]

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

SCHEMA_VERSION = 2
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
CREATE TABLE samples (
    seq INTEGER NOT NULL REFERENCES batches (seq),
    device_id INTEGER NOT NULL,
    station TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    "values" TEXT NOT NULL
);
CREATE INDEX samples_by_seq ON samples (seq);
{_SAMPLES_BY_TIME};
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

# Added beside the numbered schema, in any database that lacks them: a bridge
# that does not know them ignores them.
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
#: Pages the write-ahead log may gather before it is copied into the database,
#: as a share of the size cap (SQLite's default of 1,000 pages, 4 MB, is more
#: than the whole of a small cap), and at least this many pages.
WAL_SHARE = 1 / 16
MIN_WAL_PAGES = 16
DEFAULT_WAL_PAGES = 1000


@dataclass(frozen=True, slots=True)
class NoisySource:
    """What one source sent that was not a station's, as ``status`` shows it:
    connections read and their bytes (``size``), connections closed unread."""

    source: str
    connections: int
    size: int
    refused: int
    first_seen: float
    last_seen: float
    reason: str
    sample: bytes


@dataclass(frozen=True, slots=True)
class Received:
    """What one connection delivered."""

    data: bytes
    received_at: float
    peer: str


@dataclass(frozen=True, slots=True)
class StoredPacket:
    id: int
    data: bytes
    received_at: float
    peer: str
    device_id: int | None
    state: str
    reason: str | None

    @property
    def peer_host(self) -> str:
        host, _, _ = self.peer.rpartition(":")
        return host.strip("[]") or self.peer

    def as_capture(self) -> dict[str, object]:
        """The line ``ingest`` reads and ``export --raw`` writes."""
        return {"received_at": self.received_at, "peer": self.peer, "data": self.data.hex()}

    def as_dict(self) -> dict[str, Any]:
        """The packet in JSON values, without its state: how the integration
        stores a packet it keeps aside and shows it in diagnostics."""
        return {
            "id": self.id,
            "data": self.data.hex(),
            "received_at": self.received_at,
            "peer": self.peer,
            "device_id": self.device_id,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], state: str = "kept") -> StoredPacket:
        """The packet :meth:`as_dict` gave."""
        return cls(
            id=int(raw["id"]),
            data=bytes.fromhex(raw["data"]),
            received_at=float(raw["received_at"]),
            peer=str(raw["peer"]),
            device_id=raw["device_id"],
            state=state,
            reason=raw["reason"],
        )


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two different samples of one station with the same time: the one in the
    store, and another that is kept aside beside it."""

    device_id: int
    station: str
    time_ms: int
    stored: dict[str, float]
    other: dict[str, float]

    def __str__(self) -> str:
        return (
            f"{self.station} ({self.device_id}) at {format_time(self.time_ms)}: "
            f"stored {json.dumps(self.stored)}, other {json.dumps(self.other)}"
        )


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """What storing one decoded batch did."""

    seq: int
    #: The batch with the samples it newly stored, the ones the sinks deliver.
    batch: Batch
    #: Samples equal to one already stored with the same station and time.
    repeated: int
    #: Samples different from the one already stored with the same station and time.
    conflicts: tuple[Conflict, ...]


class Spool:
    """The bridge's database. Open it, use it from one thread, close it."""

    def __init__(
        self,
        path: Path,
        *,
        max_size_mb: float = config_default(StorageConfig, "max_size_mb"),
        min_free_mb: float = config_default(StorageConfig, "min_free_mb"),
    ):
        self.path = path
        self.max_size = int(max_size_mb * 1024 * 1024)
        self.min_free = int(min_free_mb * 1024 * 1024)
        self._db: sqlite3.Connection | None = None

    # --- lifecycle -------------------------------------------------------------

    def open(self) -> Spool:
        """Open the database, creating or upgrading it; raises :class:`DatabaseError`."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as err:
            raise DatabaseError(self.path, f"cannot open {self.path}: {err}") from err
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk when it returns. A station's packet has no
            # other copy once read, so a group commit is worth its fsync.
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA busy_timeout=10000")
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as err:
            db.close()
            raise DatabaseError(
                self.path, f"cannot open {self.path} ({err}): is it a wxstation database?"
            ) from err
        if version == 0:
            # executescript commits any open transaction first, so the script
            # carries its own: the schema appears whole or not at all.
            db.executescript(f"BEGIN; {SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
        elif version > SCHEMA_VERSION:
            db.close()
            raise SchemaError(
                self.path,
                f"{self.path} was written by a newer wxstation (schema {version}); upgrade",
                found=version,
                supported=SCHEMA_VERSION,
            )
        elif version == 1:
            try:
                with _transaction(db):
                    _upgrade_from_1(db)
                    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            except sqlite3.Error as err:
                db.close()
                raise SchemaError(
                    self.path,
                    f"cannot upgrade {self.path} from schema {version} to {SCHEMA_VERSION} "
                    f"({err}); the database is as it was",
                    found=version,
                    supported=SCHEMA_VERSION,
                ) from err
            except BaseException:
                db.close()
                raise
        db.executescript(f"BEGIN; {NOISE_SCHEMA} {giving_way.HISTORY_SCHEMA} COMMIT;")
        # A log that stays small beside the cap, and is cut back to that size
        # after each checkpoint instead of keeping the size of its longest run.
        page_size = int(db.execute("PRAGMA page_size").fetchone()[0])
        pages = max(
            MIN_WAL_PAGES, min(DEFAULT_WAL_PAGES, int(self.max_size * WAL_SHARE) // page_size)
        )
        db.execute(f"PRAGMA wal_autocheckpoint={pages}")
        db.execute(f"PRAGMA journal_size_limit={pages * page_size}")
        self._db = db
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Spool:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise DatabaseError(self.path, f"{self.path} is not open: open the spool first")
        return self._db

    # --- receiving -------------------------------------------------------------

    def add_packets(self, items: Sequence[Received]) -> list[int]:
        """Commit what connections delivered, in one transaction; returns the ids of
        those stored. A packet already stored (the same bytes from the same peer at
        the same time: a capture ingested again) is not stored twice."""
        ids = []
        with _transaction(self.db):
            for item in items:
                device = claimed_device(item.data)
                cursor = self.db.execute(
                    "INSERT INTO packets (received_at, peer, data, device_id) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (item.received_at, item.peer, item.data, device),
                )
                if cursor.rowcount:
                    ids.append(int(cursor.lastrowid or 0))
        return ids

    def used(self) -> int:
        """Bytes the database takes: its pages in use and its write-ahead log.

        Pages freed by deletions are not counted: SQLite writes into them
        before it grows the file.
        """
        page_size, pages, free = (
            int(self.db.execute(f"PRAGMA {name}").fetchone()[0])
            for name in ("page_size", "page_count", "freelist_count")
        )
        wal = self.path.with_name(self.path.name + "-wal")
        return (pages - free) * page_size + (wal.stat().st_size if wal.exists() else 0)

    def room(self) -> str | None:
        """Why no more packets fit, or None while they do.

        At the cap, the room that traffic which is not a station's takes is
        given back first (:meth:`give_back`); station data is never dropped to
        make room.
        """
        size = self.used()
        if size >= self.max_size and self.give_back():
            size = self.used()
        if size >= self.max_size:
            return (
                f"the database is {size / 1e6:.1f} MB, at its cap (storage.max_size_mb), "
                "and raw packets and undelivered samples alone fill it"
            )
        free = shutil.disk_usage(self.path.parent).free
        if free < self.min_free:
            return (
                f"only {free / 1e6:.0f} MB free on the disk of {self.path.parent} "
                "(storage.min_free_mb)"
            )
        return None

    # --- the cap, ahead of time ----------------------------------------------------

    def give_way(self, sinks: Collection[str], now: float) -> giving_way.Removal | None:
        """From :data:`~bridge.capacity.GIVE_WAY_AT` of the cap, remove the oldest
        decoded history that every sink in ``sinks`` delivered, down to
        :data:`~bridge.capacity.GIVE_WAY_TO` (see :mod:`bridge.giving_way`).

        Both count the write-ahead log, as :meth:`room` does: it is part of
        what the database takes on disk.
        """
        used = self.used()
        if used < self.max_size * GIVE_WAY_AT:
            return None
        return giving_way.remove_delivered_history(
            self.db,
            sinks,
            down_to=int(self.max_size * GIVE_WAY_TO),
            now=now,
            log_size=used - giving_way.used_pages(self.db),
        )

    def projection(self, now: float) -> Projection:
        """Where the database stands against its cap at ``now``, and where it is heading."""
        removed = giving_way.removed_history(self.db)
        return project(
            giving_way.readings(self.db),
            used=self.used(),
            cap=self.max_size,
            now=now,
            removing=bool(removed),
            oldest_history_ms=giving_way.oldest_history_ms(self.db),
        )

    def add_reading(self, now: float) -> bool:
        """Write down the database's size, once an hour (see :mod:`bridge.capacity`)."""
        return giving_way.add_reading(self.db, now)

    def removed_history(self) -> list[giving_way.RemovedHistory]:
        """What decoded history gave way at the cap so far, per station."""
        return giving_way.removed_history(self.db)

    # --- traffic that is not a station's ----------------------------------------

    def add_noise(
        self,
        kept: Sequence[noise.NoiseEntry],
        counts: Sequence[noise.SourceCount],
        now: float,
    ) -> None:
        """Store what :meth:`bridge.noise.NoiseTracker.drain` gave, then hold it to
        its bounds: the budget of kept bytes (oldest dropped first), the days
        each is kept, and the number of sources."""
        db = self.db
        with _transaction(db):
            db.executemany(
                "INSERT INTO noise_kept (received_at, peer, source, reason, data) "
                "VALUES (?, ?, ?, ?, ?)",
                [(e.received_at, e.peer, e.source, e.reason, e.data) for e in kept],
            )
            db.executemany(
                # The columns in the order of SourceCount's fields.
                "INSERT INTO noise_sources (source, first_seen, last_seen, connections, bytes, "
                "refused, reason, sample) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (source) DO UPDATE SET "
                "connections = connections + excluded.connections, "
                "bytes = bytes + excluded.bytes, refused = refused + excluded.refused, "
                "first_seen = min(first_seen, excluded.first_seen), "
                "last_seen = max(last_seen, excluded.last_seen), "
                "reason = CASE excluded.reason WHEN '' THEN reason ELSE excluded.reason END, "
                "sample = CASE excluded.sample WHEN x'' THEN sample ELSE excluded.sample END",
                [astuple(count) for count in counts],
            )
            db.execute(
                "DELETE FROM noise_kept WHERE received_at < ?", (now - noise.KEPT_DAYS * 86400,)
            )
            # Oldest first: every kept connection with more bytes than the
            # budget in it and the ones after it.
            db.execute(
                "DELETE FROM noise_kept WHERE id <= (SELECT max(id) FROM (SELECT id, "
                "sum(length(data)) OVER (ORDER BY id DESC) AS newer FROM noise_kept) "
                "WHERE newer > ?)",
                (noise.budget(self.max_size),),
            )
            db.execute(
                "DELETE FROM noise_sources WHERE last_seen < ? OR source NOT IN "
                "(SELECT source FROM noise_sources ORDER BY last_seen DESC LIMIT ?)",
                (now - noise.SOURCE_DAYS * 86400, noise.MAX_SOURCES),
            )

    def give_back(self) -> bool:
        """Delete what traffic that is not a station's takes, and shrink the
        write-ahead log; True when anything was deleted.

        That is every kept connection, and kept-aside packets whose bytes cannot
        be a station's (stored before the bridge told them apart; no config can
        decode them). The per-source counts stay: they are small.
        """
        db = self.db
        deleted = 0
        with _transaction(db):
            deleted += db.execute("DELETE FROM noise_kept").rowcount
            after = 0
            while rows := db.execute(
                "SELECT id, data FROM packets WHERE state = 'kept' AND id > ? ORDER BY id "
                "LIMIT 1000",
                (after,),
            ).fetchall():
                after = rows[-1][0]
                garbage = [(packet_id,) for packet_id, data in rows if screen(data, complete=True)]
                db.executemany("DELETE FROM packets WHERE id = ?", garbage)
                deleted += len(garbage)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted > 0

    def station_hosts(self, limit: int = 10_000) -> dict[str, float]:
        """The hosts that sent the newest ``limit`` decoded packets, with the
        arrival of each one's newest: the stations' addresses, after a restart."""
        rows = self.db.execute(
            "SELECT peer, received_at FROM packets WHERE state = 'done' ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        hosts: dict[str, float] = {}
        for peer, received_at in rows:
            host = peer.rpartition(":")[0].strip("[]") or peer
            hosts[host] = max(hosts.get(host, 0.0), received_at)
        return hosts

    def noise_sources(self, limit: int = 10) -> list[NoisySource]:
        """The sources that sent the most connections that were not a station's."""
        rows = self.db.execute(
            "SELECT source, connections, bytes, refused, first_seen, last_seen, reason, sample "
            "FROM noise_sources ORDER BY connections + refused DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [NoisySource(*row) for row in rows]

    def noise_kept(self) -> tuple[int, int]:
        """Connections of non-station traffic whose bytes are kept, and those bytes."""
        count, size = self.db.execute(
            "SELECT count(*), coalesce(sum(length(data)), 0) FROM noise_kept"
        ).fetchone()
        return int(count), int(size)

    # --- decoding --------------------------------------------------------------

    def packets(self, state: str, *, after: int = 0, limit: int = 1000) -> list[StoredPacket]:
        rows = self.db.execute(
            "SELECT id, data, received_at, peer, device_id, state, reason FROM packets "
            "WHERE state = ? AND id > ? ORDER BY id LIMIT ?",
            (state, after, limit),
        ).fetchall()
        return [StoredPacket(*row) for row in rows]

    def clocks(self) -> dict[int, StationClock]:
        rows = self.db.execute("SELECT device_id, clock FROM stations").fetchall()
        return {device: StationClock.from_json(text) for device, text in rows}

    def record(
        self,
        decoded: Sequence[tuple[int, Batch]],
        kept: Sequence[tuple[int, str]],
        clocks: dict[int, StationClock],
    ) -> list[StoredBatch]:
        """Store the outcome of decoding some packets, all in one transaction.

        ``decoded`` pairs a packet id with its batch, ``kept`` with the reason it
        is kept aside; ``clocks`` are the stations' clocks after these packets.
        Returns what became of each batch, in order (see :meth:`_store_samples`).
        """
        stored = []
        db = self.db
        with _transaction(db):
            for packet_id, batch in decoded:
                cursor = db.execute(
                    "INSERT INTO batches (packet_id, device_id, info) VALUES (?, ?, ?)",
                    (packet_id, batch.device_id, json.dumps(batch.to_dict())),
                )
                stored.append(self._store_samples(int(cursor.lastrowid or 0), batch))
            db.executemany(
                "UPDATE packets SET state = 'done', reason = NULL WHERE id = ?",
                [(packet_id,) for packet_id, _ in decoded],
            )
            db.executemany(
                "UPDATE packets SET state = 'kept', reason = ? WHERE id = ?",
                [(reason, packet_id) for packet_id, reason in kept],
            )
            db.executemany(
                "INSERT INTO stations (device_id, clock, last_arrival) VALUES (?, ?, ?) "
                "ON CONFLICT (device_id) DO UPDATE SET clock = excluded.clock, "
                "last_arrival = excluded.last_arrival",
                [
                    (device, clock.to_json(), clock.previous_arrival or 0.0)
                    for device, clock in clocks.items()
                ],
            )
        return stored

    def _store_samples(self, seq: int, batch: Batch) -> StoredBatch:
        """Store the samples of batch ``seq`` whose station and time are free.

        A sample equal to the one stored with its station and time is not stored
        again; a different one is kept aside in ``conflicts`` with both values
        (once: the same conflict seen again is a repeat too).
        """
        db = self.db
        taken: dict[int, str] = {}
        if batch.samples:
            times = [sample.time_ms for sample in batch.samples]
            taken = dict(
                db.execute(
                    'SELECT time_ms, "values" FROM samples '
                    "WHERE device_id = ? AND time_ms BETWEEN ? AND ?",
                    (batch.device_id, min(times), max(times)),
                )
            )
        fresh: list[tuple[Sample, str]] = []
        conflicts: list[Conflict] = []
        repeated = 0
        for sample in batch.samples:
            text = _values_json(sample.values)
            stored = taken.get(sample.time_ms)
            if stored is None:
                taken[sample.time_ms] = text
                fresh.append((sample, text))
            elif _same_values(stored, text):
                repeated += 1
            else:
                conflict = Conflict(
                    batch.device_id,
                    batch.station,
                    sample.time_ms,
                    json.loads(stored),
                    sample.values,
                )
                if _keep_conflict(db, seq, conflict, stored, text):
                    conflicts.append(conflict)
                else:
                    repeated += 1
        db.executemany(
            'INSERT INTO samples (seq, device_id, station, time_ms, "values") '
            "VALUES (?, ?, ?, ?, ?)",
            [(seq, batch.device_id, batch.station, s.time_ms, text) for s, text in fresh],
        )
        if len(fresh) < len(batch.samples):
            batch = replace(batch, samples=tuple(sample for sample, _ in fresh))
        return StoredBatch(seq, batch, repeated, tuple(conflicts))

    def requeue_kept(self, device_id: int | None = None) -> int:
        """Mark kept-aside packets as new again, so they are decoded once more."""
        query = "UPDATE packets SET state = 'new' WHERE state = 'kept'"
        args: tuple[int, ...] = ()
        if device_id is not None:
            query += " AND device_id = ?"
            args = (device_id,)
        with _transaction(self.db):
            return self.db.execute(query, args).rowcount

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT state, count(*) FROM packets GROUP BY state").fetchall()
        return {state: int(count) for state, count in rows}

    # --- sinks -----------------------------------------------------------------

    def batches(self, *, after: int, limit: int) -> list[tuple[int, Batch]]:
        """Batches with a sequence number above ``after``, in order, with their samples."""
        rows = self.db.execute(
            "SELECT seq, info FROM batches WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        ).fetchall()
        if not rows:
            return []
        stored = self.db.execute(
            'SELECT seq, time_ms, "values" FROM samples WHERE seq BETWEEN ? AND ? ORDER BY rowid',
            (rows[0][0], rows[-1][0]),
        ).fetchall()
        # One parse for all the samples' values instead of one per sample.
        values = json.loads("[" + ",".join(text for _, _, text in stored) + "]")
        samples: dict[int, list[Sample]] = {seq: [] for seq, _ in rows}
        for (seq, time_ms, _), sample_values in zip(stored, values, strict=True):
            samples[seq].append(Sample(time_ms, sample_values))
        return [(seq, Batch.from_dict(json.loads(info), tuple(samples[seq]))) for seq, info in rows]

    def last_packets(self) -> dict[int, LastPacket]:
        """Each station's newest decoded packet: when it arrived, and its wake interval."""
        # SQLite takes the bare columns of a max() aggregate from the row with the maximum.
        rows = self.db.execute(
            "SELECT device_id, max(json_extract(info, '$.arrival')), "
            "json_extract(info, '$.header.wake_every_s') FROM batches GROUP BY device_id"
        ).fetchall()
        return {
            int(device): LastPacket(float(arrival), int(wake)) for device, arrival, wake in rows
        }

    def last_seq(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(seq), 0) FROM batches").fetchone()[0])

    def progress(self, sink: str) -> int:
        row = self.db.execute("SELECT seq FROM sink_progress WHERE sink = ?", (sink,)).fetchone()
        return int(row[0]) if row else 0

    def set_progress(self, sink: str, seq: int) -> None:
        with _transaction(self.db):
            self.db.execute(
                "INSERT INTO sink_progress (sink, seq) VALUES (?, ?) "
                "ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq",
                (sink, seq),
            )

    def reject(self, sink: str, seqs: Sequence[int], reason: str, at: float) -> None:
        """Keep aside batches a sink refused for good, with the sink's reason."""
        with _transaction(self.db):
            self.db.executemany(
                "INSERT OR REPLACE INTO rejected (sink, seq, at, reason) VALUES (?, ?, ?, ?)",
                [(sink, seq, at, reason) for seq in seqs],
            )

    def rewind(self, sink: str) -> int:
        """Deliver a sink's kept-aside batches again: move its progress back to the
        first of them and forget them. Returns how many there were.

        Batches between them are delivered again too, which is harmless: samples
        keep their timestamps, so a repeated write lands on the same points.
        """
        with _transaction(self.db):
            row = self.db.execute(
                "SELECT min(seq), count(*) FROM rejected WHERE sink = ?", (sink,)
            ).fetchone()
            first, count = row[0], int(row[1])
            if not count:
                return 0
            self.db.execute("DELETE FROM rejected WHERE sink = ?", (sink,))
            self.db.execute(
                "UPDATE sink_progress SET seq = min(seq, ?) WHERE sink = ?", (first - 1, sink)
            )
        return count

    def conflicts(self, limit: int) -> tuple[int, list[Conflict]]:
        """How many samples are kept aside as conflicts, and the newest ``limit`` of them."""
        count = int(self.db.execute("SELECT count(*) FROM conflicts").fetchone()[0])
        rows = self.db.execute(
            "SELECT device_id, station, time_ms, stored, other FROM conflicts "
            "ORDER BY time_ms DESC, device_id LIMIT ?",
            (limit,),
        ).fetchall()
        return count, [
            Conflict(int(device), str(station), int(time_ms), json.loads(stored), json.loads(other))
            for device, station, time_ms, stored, other in rows
        ]

    def kept_reasons(self) -> list[tuple[str, int]]:
        """Why packets are kept aside, most common first, with their counts."""
        rows = self.db.execute(
            "SELECT reason, count(*) FROM packets WHERE state = 'kept' "
            "GROUP BY reason ORDER BY count(*) DESC"
        ).fetchall()
        return [(str(reason), int(count)) for reason, count in rows]

    def sinks_progress(self) -> dict[str, int]:
        return {
            sink: int(seq) for sink, seq in self.db.execute("SELECT sink, seq FROM sink_progress")
        }

    def rejected(self, sink: str | None = None) -> list[tuple[str, int, str]]:
        query = "SELECT sink, seq, reason FROM rejected"
        args: tuple[str, ...] = ()
        if sink is not None:
            query += " WHERE sink = ?"
            args = (sink,)
        return [(s, int(q), r) for s, q, r in self.db.execute(query + " ORDER BY seq", args)]

    # --- export ----------------------------------------------------------------

    def samples(
        self,
        *,
        device_id: int | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> Iterator[tuple[int, str, int, dict[str, float]]]:
        """Stored samples as (device id, station, time in ms, values), by station and time."""
        where, args = [], []
        if device_id is not None:
            where.append("device_id = ?")
            args.append(device_id)
        if since_ms is not None:
            where.append("time_ms >= ?")
            args.append(since_ms)
        if until_ms is not None:
            where.append("time_ms < ?")
            args.append(until_ms)
        query = 'SELECT device_id, station, time_ms, "values" FROM samples'
        if where:
            query += " WHERE " + " AND ".join(where)
        for device, station, time_ms, values in self.db.execute(
            query + " ORDER BY device_id, time_ms", args
        ):
            yield int(device), str(station), int(time_ms), json.loads(values)

    def raw_packets(self) -> Iterator[StoredPacket]:
        rows = self.db.execute(
            "SELECT id, data, received_at, peer, device_id, state, reason FROM packets ORDER BY id"
        )
        for row in rows:
            yield StoredPacket(*row)

    def prune(self, before_ms: int) -> int:
        """Delete decoded samples, and conflicts, older than ``before_ms`` (raw
        packets stay)."""
        with _transaction(self.db):
            samples = self.db.execute("DELETE FROM samples WHERE time_ms < ?", (before_ms,))
            conflicts = self.db.execute("DELETE FROM conflicts WHERE time_ms < ?", (before_ms,))
            return samples.rowcount + conflicts.rowcount


@functools.lru_cache(maxsize=1024)
def _json_key(key: str) -> str:
    return json.dumps(key)


def _values_json(values: dict[str, float]) -> str:
    """``json.dumps(values)``, written out directly for the usual finite floats:
    the spool stores one such text per sample, and the general encoder was a
    fifth of the cost of decoding a packet."""
    parts = []
    for key, value in values.items():
        if type(value) is not float or not math.isfinite(value):
            return json.dumps(values)
        parts.append(f"{_json_key(key)}: {value!r}")
    return "{" + ", ".join(parts) + "}"


def _same_values(stored: str, other: str) -> bool:
    """Whether two samples' values, as stored, are the same."""
    return stored == other or json.loads(stored) == json.loads(other)


def _keep_conflict(
    db: sqlite3.Connection, seq: int, conflict: Conflict, stored: str, other: str
) -> bool:
    """Keep the other sample of a conflict aside, brought by batch ``seq``, with
    both values as stored (``stored`` and ``other``); False when it already was."""
    cursor = db.execute(
        "INSERT INTO conflicts (device_id, station, time_ms, stored, other, seq) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (conflict.device_id, conflict.station, conflict.time_ms, stored, other, seq),
    )
    return bool(cursor.rowcount)


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
            if not _same_values(stored, values):
                conflict = Conflict(
                    device_id, station, time_ms, json.loads(stored), json.loads(values)
                )
                _keep_conflict(db, seq, conflict, stored, values)
            db.execute("DELETE FROM samples WHERE rowid = ?", (rowid,))
    db.execute("DROP INDEX samples_by_time")
    db.execute(_SAMPLES_BY_TIME)
    db.execute(_PACKETS_BY_ARRIVAL)


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        # SQLite rolls back by itself on some errors (SQLITE_FULL among them);
        # a second ROLLBACK would fail and hide the error that says what happened.
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
