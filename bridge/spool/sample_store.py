"""The embedded sample store: ``batches``, ``samples``, ``conflicts`` and the
stations' clocks (``stations``, see :mod:`bridge.timing`).

A batch is one decoded packet; its ``seq`` orders batches for the sinks, so a
packet decoded late (after ``reprocess``) is still delivered. A batch holds
only the samples it newly stored: there is at most one sample per station and
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

from bridge.availability import LastPacket
from bridge.samples import Batch, Sample, format_time
from bridge.spool.base import Tables, transaction, typed_errors
from bridge.timing import StationClock

__all__ = ["Conflict", "SampleTables", "StoredBatch", "keep_conflict", "same_values"]


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


@typed_errors
class SampleTables(Tables):
    """Storing decoded batches and their samples, and reading them back in order."""

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
        with transaction(db):
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
            elif same_values(stored, text):
                repeated += 1
            else:
                conflict = Conflict(
                    batch.device_id,
                    batch.station,
                    sample.time_ms,
                    json.loads(stored),
                    sample.values,
                )
                if keep_conflict(db, seq, conflict, stored, text):
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

    def newest_batches(self) -> dict[int, Batch]:
        """Each station's newest decoded packet, with the samples it stored: what
        ``status`` and the status page show of a station.

        Found through the station's clock, which follows its newest packet, and
        the packets' index by arrival: a few lookups, however long the history.
        """
        # CROSS JOIN: SQLite then looks up in this order, not by scanning batches.
        rows = self.db.execute(
            "SELECT b.device_id, b.seq, b.info FROM stations s "
            "CROSS JOIN packets p ON p.received_at = s.last_arrival AND p.device_id = s.device_id "
            "CROSS JOIN batches b ON b.packet_id = p.id"
        ).fetchall()
        newest = {}
        for device, seq, info in sorted(rows, key=lambda row: int(row[1])):
            # Of packets that arrived at the same moment, the last decoded wins.
            samples = tuple(
                Sample(int(time_ms), json.loads(values))
                for time_ms, values in self.db.execute(
                    'SELECT time_ms, "values" FROM samples WHERE seq = ? ORDER BY time_ms', (seq,)
                )
            )
            newest[int(device)] = Batch.from_dict(json.loads(info), samples)
        return newest

    def newest_samples(self) -> dict[int, Sample]:
        """Each station's newest stored sample."""
        newest = {}
        for (device,) in self.db.execute("SELECT device_id FROM stations").fetchall():
            row = self.db.execute(
                'SELECT time_ms, "values" FROM samples WHERE device_id = ? '
                "ORDER BY time_ms DESC LIMIT 1",
                (device,),
            ).fetchone()
            if row is not None:
                newest[int(device)] = Sample(int(row[0]), json.loads(row[1]))
        return newest

    def last_seq(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(seq), 0) FROM batches").fetchone()[0])

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
