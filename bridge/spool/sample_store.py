"""The embedded sample store: ``batches``, ``readings``, ``conflicts`` and the
stations' clocks (``stations``, see :mod:`wxstation.timing`).

A batch is one decoded packet; its ``seq`` orders batches for the sinks, so a
packet decoded late (after ``reprocess``) is still delivered. Its samples are
one ``readings`` row (see :mod:`bridge.spool.readings`), which holds only the
samples the batch newly stored: there is at most one sample per station and
time. A sample whose station and time were taken by a different sample is
kept in ``conflicts`` with the stored sample's values beside its own.
"""

from __future__ import annotations

import functools
import json
import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bridge.spool import readings
from bridge.spool.base import Handle, transaction, typed_errors
from wxstation.availability import LastPacket
from wxstation.packets import Conflict, StoredPacket
from wxstation.samples import Batch, Sample
from wxstation.timing import StationClock

__all__ = [
    "Conflict",
    "Samples",
    "StoredBatch",
    "forget_times",
    "insert_reading",
    "keep_conflict",
    "same_values",
    "values_json",
]


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


#: Times looked up in one statement (SQLite allows 32,766 parameters; old
#: builds 999).
_LOOKUP_CHUNK = 500


@typed_errors
class Samples:
    """Storing decoded batches and their samples, reading them back in order,
    and deleting old samples."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    def clocks(self) -> dict[int, StationClock]:
        """Each station's clock, as the last decoded packet left it."""
        rows = self._handle.db.execute("SELECT device_id, clock FROM stations").fetchall()
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
        db = self._handle.db
        # Not durable: lost in a power cut, the packets are decoded again from
        # their committed bytes and clocks into the same samples.
        with transaction(db, durable=False):
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

    def station_packets(self, device_id: int) -> list[StoredPacket]:
        """A station's decoded packets, in the order they were decoded (its
        batches' order): the order its clock followed them in."""
        rows = self._handle.db.execute(
            "SELECT p.id, p.data, p.received_at, p.peer, p.device_id, p.state, p.reason "
            "FROM batches b JOIN packets p ON p.id = b.packet_id "
            "WHERE b.device_id = ? ORDER BY b.seq",
            (device_id,),
        ).fetchall()
        return [StoredPacket(*row) for row in rows]

    def replace_batches(self, decoded: Sequence[tuple[int, Batch]]) -> list[StoredBatch]:
        """Replace the batches of decoded packets (``decoded`` pairs a packet id with
        its new batch), all in one transaction.

        Each packet's old batch goes with its samples (its ``readings`` row and
        the times it claims), its conflicts and a
        sink's refusal of it (``rejected``); the new batch is stored as a new
        one (a new ``seq``), so every sink delivers it. The old samples all go
        before the new ones are stored: a sample takes the time it had.
        """
        db = self._handle.db
        stored = []
        with transaction(db):
            for packet_id, _ in decoded:
                old = db.execute(
                    "SELECT seq FROM batches WHERE packet_id = ?", (packet_id,)
                ).fetchall()
                for (seq,) in old:
                    forget_times(db, seq)
                db.executemany("DELETE FROM readings WHERE seq = ?", old)
                db.executemany("DELETE FROM conflicts WHERE seq = ?", old)
                db.executemany("DELETE FROM rejected WHERE seq = ?", old)
                db.executemany("DELETE FROM batches WHERE seq = ?", old)
            for packet_id, batch in decoded:
                cursor = db.execute(
                    "INSERT INTO batches (packet_id, device_id, info) VALUES (?, ?, ?)",
                    (packet_id, batch.device_id, json.dumps(batch.to_dict())),
                )
                stored.append(self._store_samples(int(cursor.lastrowid or 0), batch))
        return stored

    def _store_samples(self, seq: int, batch: Batch) -> StoredBatch:
        """Store the samples of batch ``seq`` whose station and time are free, as
        its ``readings`` row.

        A sample equal to the one stored with its station and time is not stored
        again; a different one is kept aside in ``conflicts`` with both values
        (once: the same conflict seen again is a repeat too). The station and
        time of each are claimed in ``sample_times`` first: when every claim
        succeeds (almost always), nothing is read, whatever the station's history.
        """
        if not batch.samples:
            return StoredBatch(seq, batch, 0, ())
        db = self._handle.db
        device = batch.device_id
        claimed = db.executemany(
            "INSERT INTO sample_times (device_id, time_ms, seq) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [(device, sample.time_ms, seq) for sample in batch.samples],
        ).rowcount
        if claimed == len(batch.samples):
            insert_reading(db, seq, device, batch.station, batch.samples)
            return StoredBatch(seq, batch, 0, ())
        taken = _stored_at(db, device, [sample.time_ms for sample in batch.samples])
        fresh: list[Sample] = []
        conflicts: list[Conflict] = []
        repeated = 0
        for sample in batch.samples:
            stored = taken.get(sample.time_ms)
            if stored is None:
                taken[sample.time_ms] = sample.values
                fresh.append(sample)
            elif stored == sample.values:
                repeated += 1
            else:
                conflict = Conflict(device, batch.station, sample.time_ms, stored, sample.values)
                if keep_conflict(
                    db, seq, conflict, values_json(stored), values_json(sample.values)
                ):
                    conflicts.append(conflict)
                else:
                    repeated += 1
        if fresh:
            insert_reading(db, seq, device, batch.station, fresh)
        return StoredBatch(seq, replace(batch, samples=tuple(fresh)), repeated, tuple(conflicts))

    def batches(self, *, after: int, limit: int) -> list[tuple[int, Batch]]:
        """Batches with a sequence number above ``after``, in order, with their samples."""
        rows = self._handle.db.execute(
            'SELECT b.seq, b.info, r.keys, r.times, r."values" FROM batches b '
            "LEFT JOIN readings r ON r.seq = b.seq WHERE b.seq > ? ORDER BY b.seq LIMIT ?",
            (after, limit),
        ).fetchall()
        return [
            (
                seq,
                Batch.from_dict(
                    json.loads(info),
                    () if keys is None else tuple(readings.unpack(keys, times, values)),
                ),
            )
            for seq, info, keys, times, values in rows
        ]

    def last_packets(self) -> dict[int, LastPacket]:
        """Each station's newest decoded packet: when it arrived, and its wake interval."""
        # SQLite takes the bare columns of a max() aggregate from the row with the maximum.
        rows = self._handle.db.execute(
            "SELECT device_id, max(json_extract(info, '$.arrival')), "
            "json_extract(info, '$.header.wake_every_s') FROM batches GROUP BY device_id"
        ).fetchall()
        return {
            int(device): LastPacket(float(arrival), int(wake)) for device, arrival, wake in rows
        }

    def newest_batches(self) -> dict[int, Batch]:
        """Each station's newest decoded packet, with the samples it stored: what
        ``status`` and the status page show of a station.

        Found through the station's clock, which follows its newest packet, and
        the packets' index by arrival: a few lookups, however long the history.
        """
        db = self._handle.db
        # CROSS JOIN: SQLite then looks up in this order, not by scanning batches.
        rows = db.execute(
            "SELECT b.device_id, b.seq, b.info FROM stations s "
            "CROSS JOIN packets p ON p.received_at = s.last_arrival AND p.device_id = s.device_id "
            "CROSS JOIN batches b ON b.packet_id = p.id"
        ).fetchall()
        newest = {}
        for device, seq, info in sorted(rows, key=lambda row: int(row[1])):
            # Of packets that arrived at the same moment, the last decoded wins.
            row = db.execute(
                'SELECT keys, times, "values" FROM readings WHERE seq = ?', (seq,)
            ).fetchone()
            samples = tuple(
                sorted(readings.unpack(*row), key=lambda sample: sample.time_ms) if row else ()
            )
            newest[int(device)] = Batch.from_dict(json.loads(info), samples)
        return newest

    def newest_samples(self) -> dict[int, Sample]:
        """Each station's newest stored sample."""
        db = self._handle.db
        newest = {}
        for (device,) in db.execute("SELECT device_id FROM stations").fetchall():
            claim = db.execute(
                "SELECT time_ms, seq FROM sample_times WHERE device_id = ? "
                "ORDER BY time_ms DESC LIMIT 1",
                (device,),
            ).fetchone()
            if claim is None:
                continue
            time_ms, seq = claim
            row = db.execute(
                'SELECT keys, times, "values" FROM readings WHERE seq = ?', (seq,)
            ).fetchone()
            for sample in readings.unpack(*row):
                if sample.time_ms == time_ms:
                    newest[int(device)] = sample
        return newest

    def last_seq(self) -> int:
        """The newest batch's sequence number (0 before the first)."""
        (seq,) = self._handle.db.execute("SELECT coalesce(max(seq), 0) FROM batches").fetchone()
        return int(seq)

    def conflicts(self, limit: int) -> tuple[int, list[Conflict]]:
        """How many samples are kept aside as conflicts, and the newest ``limit`` of them."""
        db = self._handle.db
        count = int(db.execute("SELECT count(*) FROM conflicts").fetchone()[0])
        rows = db.execute(
            "SELECT device_id, station, time_ms, stored, other FROM conflicts "
            "ORDER BY time_ms DESC, device_id LIMIT ?",
            (limit,),
        ).fetchall()
        return count, [
            Conflict(int(device), str(station), int(time_ms), json.loads(stored), json.loads(other))
            for device, station, time_ms, stored, other in rows
        ]

    def prune(self, before_ms: int) -> int:
        """Delete decoded samples, and conflicts, older than ``before_ms`` (raw
        packets stay); returns how many. A packet's row with samples on both
        sides of ``before_ms`` keeps the newer ones."""
        db = self._handle.db
        with transaction(db):
            (old,) = db.execute(
                "SELECT coalesce(sum(count), 0) FROM readings WHERE last_ms < ?", (before_ms,)
            ).fetchone()
            db.execute("DELETE FROM readings WHERE last_ms < ?", (before_ms,))
            # Device ids are one byte (wxstation.protocol): a range of the key each.
            db.executemany(
                "DELETE FROM sample_times WHERE device_id = ? AND time_ms < ?",
                [(device, before_ms) for device in range(256)],
            )
            straddling = db.execute(
                'SELECT seq, keys, times, "values" FROM readings WHERE last_ms >= ? '
                "AND first_ms < ?",
                (before_ms, before_ms),
            ).fetchall()
            trimmed = 0
            for seq, keys, times, values in straddling:
                samples = readings.unpack(keys, times, values)
                kept = [sample for sample in samples if sample.time_ms >= before_ms]
                trimmed += len(samples) - len(kept)
                row = readings.pack(kept)
                db.execute(
                    "UPDATE readings SET first_ms = ?, last_ms = ?, count = ?, keys = ?, "
                    'times = ?, "values" = ? WHERE seq = ?',
                    (row.first_ms, row.last_ms, row.count, row.keys, row.times, row.values, seq),
                )
            conflicts = db.execute("DELETE FROM conflicts WHERE time_ms < ?", (before_ms,))
            return int(old) + trimmed + conflicts.rowcount


def insert_reading(
    db: sqlite3.Connection, seq: int, device_id: int, station: str, samples: Sequence[Sample]
) -> None:
    """Store ``samples`` (at least one) as batch ``seq``'s ``readings`` row."""
    row = readings.pack(samples)
    db.execute(
        "INSERT INTO readings (seq, device_id, station, first_ms, last_ms, count, keys, times, "
        '"values") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        (
            seq,
            device_id,
            station,
            row.first_ms,
            row.last_ms,
            row.count,
            row.keys,
            row.times,
            row.values,
        ),
    )


def _stored_at(
    db: sqlite3.Connection, device_id: int, times: Sequence[int]
) -> dict[int, dict[str, float]]:
    """The stored samples of a station at any of ``times`` (unix ms), by time."""
    owners: dict[int, set[int]] = {}
    wanted = sorted(set(times))
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start : start + _LOOKUP_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = db.execute(
            "SELECT time_ms, seq FROM sample_times "  # noqa: S608  (placeholders only)
            f"WHERE device_id = ? AND time_ms IN ({marks})",
            (device_id, *chunk),
        )
        for time_ms, seq in rows:
            owners.setdefault(seq, set()).add(time_ms)
    found: dict[int, dict[str, float]] = {}
    for seq, owned in owners.items():
        row = db.execute(
            'SELECT keys, times, "values" FROM readings WHERE seq = ?', (seq,)
        ).fetchone()
        if row is None:  # claimed by the batch being stored, not stored yet
            continue
        for sample in readings.unpack(*row):
            if sample.time_ms in owned:
                found[sample.time_ms] = sample.values
    return found


def forget_times(db: sqlite3.Connection, seq: int) -> None:
    """Give up the station and times batch ``seq``'s readings row claims (before
    the row is deleted or rewritten)."""
    db.execute(
        "DELETE FROM sample_times WHERE (device_id, time_ms, seq) IN (SELECT r.device_id, "
        "t.time_ms, r.seq FROM readings r JOIN sample_times t ON t.device_id = r.device_id "
        "AND t.time_ms BETWEEN r.first_ms AND r.last_ms WHERE r.seq = ? AND t.seq = r.seq)",
        (seq,),
    )


@functools.lru_cache(maxsize=1024)
def _json_key(key: str) -> str:
    return json.dumps(key)


def values_json(values: dict[str, float]) -> str:
    """``json.dumps(values)``, written out directly for the usual finite floats:
    how ``conflicts`` keeps a sample's values (and recognises a conflict seen
    before by them)."""
    parts = []
    for key, value in values.items():
        if type(value) is not float or not math.isfinite(value):
            return json.dumps(values)
        parts.append(f"{_json_key(key)}: {value!r}")
    return "{" + ", ".join(parts) + "}"


def same_values(stored: str, other: str) -> bool:
    """Whether two samples' values, as stored, are the same."""
    return stored == other or json.loads(stored) == json.loads(other)


def keep_conflict(
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
