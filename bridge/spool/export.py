"""Reading the store out (``export``), trimming it (``prune``), and the size of
its history, for those who keep it bounded."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from bridge.samples import Sample
from bridge.spool import readings
from bridge.spool.base import Tables, transaction, typed_errors
from bridge.spool.packets import StoredPacket
from bridge.spool.sample_store import forget_times

__all__ = ["ExportTables", "History"]


@dataclass(frozen=True, slots=True)
class History:
    """Decoded history in the store: ``readings`` rows (one per decoded packet
    with samples), their samples, the bytes their arrays take, and the oldest
    and newest sample's time (unix ms; None when there are none)."""

    rows: int
    samples: int
    size: int
    oldest_ms: int | None
    newest_ms: int | None


@typed_errors
class ExportTables(Tables):
    """Samples and raw packets for export; retention of old samples."""

    def samples(
        self,
        *,
        device_id: int | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> Generator[tuple[int, str, int, dict[str, float]]]:
        """Stored samples as (device id, station, time in ms, values), by station and time.

        Read as they are taken: close the generator when done with it early."""
        where, args = _readings_within(device_id, since_ms, until_ms)
        query = 'SELECT device_id, station, first_ms, keys, times, "values" FROM readings'
        rows = self.db.execute(query + where + " ORDER BY device_id, first_ms", args)
        # Rows by their first sample: a sample of a later row can be older than
        # the last of an earlier one (a packet decoded late), so samples wait in
        # a heap until no row still to come can hold an older one.
        waiting: list[tuple[int, int, str, dict[str, float]]] = []
        order = itertools.count()
        current = None
        for device, station, first_ms, keys, times, values in rows:
            if device != current:
                while waiting:
                    yield _out(current, heapq.heappop(waiting))
                current = device
            while waiting and waiting[0][0] < first_ms:
                yield _out(current, heapq.heappop(waiting))
            for sample in readings.unpack(keys, times, values):
                if _within(sample, since_ms, until_ms):
                    heapq.heappush(waiting, (sample.time_ms, next(order), station, sample.values))
        while waiting:
            yield _out(current, heapq.heappop(waiting))

    def samples_at_most(
        self,
        *,
        device_id: int | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> int:
        """How many samples :meth:`samples` gives at most, read from the rows'
        counts alone (exact unless a row straddles ``since_ms`` or ``until_ms``):
        the total of ``export``'s progress."""
        where, args = _readings_within(device_id, since_ms, until_ms)
        query = "SELECT coalesce(sum(count), 0) FROM readings"
        (count,) = self.db.execute(query + where, args).fetchone()
        return int(count)

    def raw_packets(self) -> Iterator[StoredPacket]:
        """Every stored packet, in the order they were stored."""
        rows = self.db.execute(
            "SELECT id, data, received_at, peer, device_id, state, reason FROM packets ORDER BY id"
        )
        for row in rows:
            yield StoredPacket(*row)

    def prune(self, before_ms: int) -> int:
        """Delete decoded samples, and conflicts, older than ``before_ms`` (raw
        packets stay); returns how many. A packet's row with samples on both
        sides of ``before_ms`` keeps the newer ones."""
        db = self.db
        with transaction(db):
            (old,) = db.execute(
                "SELECT coalesce(sum(count), 0) FROM readings WHERE last_ms < ?", (before_ms,)
            ).fetchone()
            db.execute("DELETE FROM readings WHERE last_ms < ?", (before_ms,))
            # Device ids are one byte (bridge.protocol): a range of the key each.
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

    def history(self, *, before_ms: int | None = None, up_to_seq: int | None = None) -> History:
        """The decoded history in the store: all of it, or the packets' rows whose
        every sample is older than ``before_ms`` and whose batch is at most
        ``up_to_seq`` (what every sink has delivered: see :meth:`delivered`)."""
        where, args = _history_rows(before_ms, up_to_seq)
        rows, samples, size, oldest, newest = self.db.execute(
            "SELECT count(*), coalesce(sum(count), 0), "
            'coalesce(sum(length(times) + length("values")), 0), min(first_ms), max(last_ms) '
            "FROM readings" + where,
            args,
        ).fetchone()
        return History(int(rows), int(samples), int(size), oldest, newest)

    def delete_history(self, *, before_ms: int, up_to_seq: int) -> History:
        """Delete the rows :meth:`history` counts for the same arguments (whole
        packets' samples: a row with a sample at or after ``before_ms`` stays
        whole); returns what was deleted. Their batches stay (the sinks' order
        and each station's last packet), and so do the raw packets."""
        where, args = _history_rows(before_ms, up_to_seq)
        db = self.db
        with transaction(db):
            gone = self.history(before_ms=before_ms, up_to_seq=up_to_seq)
            query = "SELECT seq FROM readings" + where  # noqa: S608  (fixed text; values are parameters)
            for (seq,) in db.execute(query, args).fetchall():
                forget_times(db, seq)
            db.execute("DELETE FROM readings" + where, args)  # noqa: S608  (as above)
        return gone

    def delivered(self) -> int:
        """The last batch every sink with a saved progress has delivered (0 when
        none has one: nothing counts as delivered before a sink ran)."""
        (seq,) = self.db.execute("SELECT coalesce(min(seq), 0) FROM sink_progress").fetchone()
        return int(seq)


def _history_rows(before_ms: int | None, up_to_seq: int | None) -> tuple[str, list[int]]:
    where, args = [], []
    if before_ms is not None:
        where.append("last_ms < ?")
        args.append(before_ms)
    if up_to_seq is not None:
        where.append("seq <= ?")
        args.append(up_to_seq)
    return (" WHERE " + " AND ".join(where) if where else ""), args


def _within(sample: Sample, since_ms: int | None, until_ms: int | None) -> bool:
    return (since_ms is None or sample.time_ms >= since_ms) and (
        until_ms is None or sample.time_ms < until_ms
    )


def _readings_within(
    device_id: int | None, since_ms: int | None, until_ms: int | None
) -> tuple[str, list[int]]:
    """The WHERE clause (empty when nothing limits) and its arguments for the
    ``readings`` rows of a station, a time range, or both."""
    where, args = [], []
    if device_id is not None:
        where.append("device_id = ?")
        args.append(device_id)
    if since_ms is not None:
        where.append("last_ms >= ?")
        args.append(since_ms)
    if until_ms is not None:
        where.append("first_ms < ?")
        args.append(until_ms)
    return (" WHERE " + " AND ".join(where) if where else ""), args


def _out(
    device: int | None, waiting: tuple[int, int, str, dict[str, float]]
) -> tuple[int, str, int, dict[str, float]]:
    time_ms, _, station, values = waiting
    return int(device or 0), station, time_ms, values
