"""What gives way at the database's cap: decoded history every sink delivered.

Raw packets are never removed here, nor anything a configured sink has not
delivered (a batch after its progress, or one it refused and keeps aside), nor
a batch that a conflict points at, nor each station's newest packet when it
arrived within the last :data:`KEEP_RECENT` (after a restart it says whether
the station is still sending). What goes is the decoded history of the other
packets, the packets whose samples are oldest first: their ``readings`` row,
the times it claims in ``sample_times``, and their batch. The packet stays
``done``; ``wxstation-bridge reprocess --removed`` decodes it again. Once the
history has gone, its pages go back to the filesystem
(:func:`~bridge.spool.base.give_back_pages`), so the file shrinks too.

Its tables (``HISTORY_SCHEMA`` in :mod:`bridge.spool.schema`): ``size_readings``,
the database's size every hour, for the growth projection of
:mod:`wxstation.capacity`; ``removed_history``, per station, what gave way so far,
for the log and ``status``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection
from dataclasses import dataclass

from bridge.spool.base import Handle, give_back_pages, transaction, typed_errors
from bridge.spool.sample_store import forget_times
from wxstation.capacity import (
    GIVE_WAY_AT,
    GIVE_WAY_TO,
    GROWTH_WINDOW,
    READING_EVERY,
    Projection,
    Reading,
    project,
)
from wxstation.packets import StoredPacket
from wxstation.samples import format_time

__all__ = [
    "KEEP_RECENT",
    "History",
    "Removal",
    "RemovedHistory",
    "delivered_everywhere",
    "remember_removed",
    "remove_delivered_history",
    "used_pages",
]

#: Seconds before "now" in which each station's newest packet keeps its decoded
#: history: after a restart it tells whether the station is still sending
#: (:mod:`wxstation.availability` counts a station gone after two missed
#: wake-ups, far less than this). One packet a station, not every recent one:
#: a small cap with many stations still takes new packets.
KEEP_RECENT = 2 * 86400.0
#: Batches removed per transaction: each is one commit, and the size is read
#: again after it, so a removal stops within this many batches of its target.
REMOVE_GROUP = 50


@dataclass(frozen=True, slots=True)
class RemovedHistory:
    """What gave way of one station's decoded history."""

    device_id: int
    station: str
    packets: int
    samples: int
    #: The oldest and newest removed sample (epoch ms); None when the removed
    #: packets brought no new samples.
    first_ms: int | None
    last_ms: int | None
    at: float

    def __str__(self) -> str:
        text = f"{self.station} ({self.device_id}): {self.packets} packets, {self.samples} samples"
        if self.first_ms is not None and self.last_ms is not None:
            text += f" taken {_minute(self.first_ms)} .. {_minute(self.last_ms)}"
        return text


@dataclass(frozen=True, slots=True)
class Removal:
    """What one pass of :func:`remove_delivered_history` did."""

    #: Per station, what this pass removed.
    stations: tuple[RemovedHistory, ...]
    #: Bytes the database took before and after.
    before: int
    after: int

    @property
    def packets(self) -> int:
        return sum(s.packets for s in self.stations)

    @property
    def samples(self) -> int:
        return sum(s.samples for s in self.stations)

    def __str__(self) -> str:
        firsts = [s.first_ms for s in self.stations if s.first_ms is not None]
        lasts = [s.last_ms for s in self.stations if s.last_ms is not None]
        taken = f" taken {_minute(min(firsts))} .. {_minute(max(lasts))}" if firsts else ""
        return (
            f"the database reached {self.before / 1e6:.1f} MB: removed the decoded history "
            f"of {self.packets} packets of {len(self.stations)} stations ({self.samples} "
            f"samples{taken}) that every sink had delivered; now {self.after / 1e6:.1f} MB. "
            "Their raw packets are kept: 'wxstation-bridge reprocess --removed' decodes "
            "them again"
        )


def used_pages(db: sqlite3.Connection) -> int:
    """Bytes of the database's pages in use (without its write-ahead log)."""
    page_size, pages, free = (
        int(db.execute(f"PRAGMA {name}").fetchone()[0])
        for name in ("page_size", "page_count", "freelist_count")
    )
    return (pages - free) * page_size


def _log_limit(db: sqlite3.Connection) -> int:
    """Bytes the write-ahead log is cut back to after a checkpoint (see
    :mod:`bridge.spool.schema`): the size it reaches between two of them."""
    return max(0, int(db.execute("PRAGMA journal_size_limit").fetchone()[0]))


def delivered_everywhere(db: sqlite3.Connection, sinks: Collection[str]) -> int:
    """The last batch every sink in ``sinks`` delivered (all of them, with no sinks)."""
    if not sinks:
        return int(db.execute("SELECT coalesce(max(seq), 0) FROM batches").fetchone()[0])
    progress = dict(db.execute("SELECT sink, seq FROM sink_progress"))
    return min(int(progress.get(sink, 0)) for sink in sinks)


def remove_delivered_history(
    db: sqlite3.Connection,
    sinks: Collection[str],
    *,
    down_to: int,
    now: float,
    log_size: int = 0,
) -> Removal | None:
    """Remove the oldest decoded history that every sink in ``sinks`` delivered
    until the database, with a write-ahead log of ``log_size`` bytes, takes
    ``down_to`` bytes or nothing removable is left; None when nothing was
    removed."""
    before = size = used_pages(db) + log_size
    delivered = delivered_everywhere(db, sinks)
    kept = {
        int(seq)
        for (seq,) in db.execute("SELECT seq FROM rejected UNION SELECT seq FROM conflicts")
    } | _newest_of_stations(db, since=now - KEEP_RECENT)
    removed: dict[int, RemovedHistory] = {}
    # Where the last group ended: its last row's (newest time, oldest time, seq).
    after: tuple[int, int, int] = (-(2**62), -(2**62), 0)
    while size > down_to:
        rows = db.execute(
            "SELECT r.last_ms, r.first_ms, r.seq FROM readings r "
            "WHERE (r.last_ms, r.first_ms, r.seq) > (?, ?, ?) AND r.seq <= ? "
            "ORDER BY r.last_ms, r.first_ms, r.seq LIMIT ?",
            (*after, delivered, REMOVE_GROUP),
        ).fetchall()
        if not rows:
            break
        newest, oldest, last_seq = rows[-1]
        after = (int(newest), int(oldest), int(last_seq))
        seqs = [int(seq) for _, _, seq in rows if int(seq) not in kept]
        if not seqs:
            continue
        with transaction(db):
            for entry in _summary(db, seqs, now):
                remember_removed(db, entry)
                earlier = removed.get(entry.device_id)
                removed[entry.device_id] = entry if earlier is None else _merged(earlier, entry)
            for seq in seqs:
                forget_times(db, seq)
            db.executemany("DELETE FROM readings WHERE seq = ?", [(seq,) for seq in seqs])
            db.executemany("DELETE FROM batches WHERE seq = ?", [(seq,) for seq in seqs])
        size = used_pages(db) + log_size
    if not removed:
        return None
    give_back_pages(db)
    return Removal(tuple(removed[d] for d in sorted(removed)), before, size)


def _newest_of_stations(db: sqlite3.Connection, *, since: float) -> set[int]:
    """The batch of each station's newest decoded packet, when it arrived at
    ``since`` or later: found through the station's clock, which follows that
    packet, as :meth:`~bridge.spool.sample_store.Samples.newest_batches` does."""
    # CROSS JOIN: SQLite then looks up in this order, not by scanning batches.
    rows = db.execute(
        "SELECT b.seq FROM stations s "
        "CROSS JOIN packets p ON p.received_at = s.last_arrival AND p.device_id = s.device_id "
        "CROSS JOIN batches b ON b.packet_id = p.id WHERE s.last_arrival >= ?",
        (since,),
    )
    return {int(seq) for (seq,) in rows}


def _summary(db: sqlite3.Connection, seqs: list[int], now: float) -> list[RemovedHistory]:
    """Per station: the packets, samples and sample times of batches ``seqs``."""
    rows = db.execute(
        "SELECT device_id, min(station), count(*), sum(count), min(first_ms), max(last_ms) "
        "FROM readings WHERE seq IN (SELECT value FROM json_each(?)) GROUP BY device_id",
        (json.dumps(seqs),),
    ).fetchall()
    return [
        RemovedHistory(int(device), str(station), int(packets), int(samples), first, last, now)
        for device, station, packets, samples, first, last in rows
    ]


def _merged(one: RemovedHistory, other: RemovedHistory) -> RemovedHistory:
    """Two removals of one station's history as one."""
    return RemovedHistory(
        one.device_id,
        other.station,
        one.packets + other.packets,
        one.samples + other.samples,
        _either(min, one.first_ms, other.first_ms),
        _either(max, one.last_ms, other.last_ms),
        max(one.at, other.at),
    )


def _either(pick: Callable[[int, int], int], one: int | None, other: int | None) -> int | None:
    """``pick`` of the two times that are known."""
    if one is None or other is None:
        return other if one is None else one
    return pick(one, other)


def _minute(time_ms: int) -> str:
    return format_time(time_ms)[:16].replace("T", " ")


def remember_removed(db: sqlite3.Connection, removed: RemovedHistory) -> None:
    db.execute(
        "INSERT INTO removed_history (device_id, station, packets, samples, first_ms, last_ms, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET "
        "station = excluded.station, "
        "packets = packets + excluded.packets, samples = samples + excluded.samples, "
        # The scalar min() and max() are NULL when either is: coalesce keeps the known one.
        "first_ms = coalesce(min(first_ms, excluded.first_ms), first_ms, excluded.first_ms), "
        "last_ms = coalesce(max(last_ms, excluded.last_ms), last_ms, excluded.last_ms), "
        "at = excluded.at",
        (
            removed.device_id,
            removed.station,
            removed.packets,
            removed.samples,
            removed.first_ms,
            removed.last_ms,
            removed.at,
        ),
    )


def _removed_history(db: sqlite3.Connection) -> list[RemovedHistory]:
    """What gave way so far, per station."""
    rows = db.execute(
        "SELECT device_id, station, packets, samples, first_ms, last_ms, at "
        "FROM removed_history ORDER BY device_id"
    ).fetchall()
    return [RemovedHistory(*row) for row in rows]


def _add_reading(db: sqlite3.Connection, now: float) -> bool:
    """Write down the database's size when the newest reading is
    :data:`READING_EVERY` old; drop readings past the growth window. True when
    it wrote one."""
    newest = db.execute("SELECT max(at) FROM size_readings").fetchone()[0]
    if newest is not None and 0 <= now - newest < READING_EVERY:
        return False
    with transaction(db):
        db.execute(
            "INSERT OR REPLACE INTO size_readings (at, used) VALUES (?, ?)", (now, used_pages(db))
        )
        # Readings from the future are a clock set back: they would say nothing true.
        db.execute(
            "DELETE FROM size_readings WHERE at < ? OR at > ?",
            (now - GROWTH_WINDOW - READING_EVERY, now),
        )
    return True


def _readings(db: sqlite3.Connection) -> list[Reading]:
    return [
        Reading(float(at), int(used))
        for at, used in db.execute("SELECT at, used FROM size_readings ORDER BY at")
    ]


def _oldest_history_ms(db: sqlite3.Connection) -> int | None:
    """When the oldest decoded sample still kept was taken."""
    row = db.execute("SELECT first_ms FROM readings ORDER BY last_ms, first_ms LIMIT 1").fetchone()
    return None if row is None else int(row[0])


@typed_errors
class History:
    """The decoded history against the database's cap: what gives way, what
    gave way, and where the size is heading.

    ``used`` says the bytes the database takes with its write-ahead log now
    (:meth:`bridge.spool.Spool.used`).
    """

    def __init__(self, handle: Handle, used: Callable[[], int]) -> None:
        self._handle = handle
        self._used = used

    def give_way(self, sinks: Collection[str], now: float) -> Removal | None:
        """From :data:`~wxstation.capacity.GIVE_WAY_AT` of the cap, remove the oldest
        decoded history that every sink in ``sinks`` delivered, down to
        :data:`~wxstation.capacity.GIVE_WAY_TO`.

        Both count the write-ahead log at the size it may reach, not only at
        its size now (:meth:`_counted_size`): the database's file keeps the
        size its pages once needed, and the log grows beside it again.
        """
        db, cap = self._handle.db, self._handle.max_size
        pages = used_pages(db)
        log_size = self._counted_size() - pages
        if pages + log_size < cap * GIVE_WAY_AT:
            return None
        return remove_delivered_history(
            db,
            sinks,
            down_to=int(cap * GIVE_WAY_TO),
            now=now,
            log_size=log_size,
        )

    def _counted_size(self) -> int:
        """Bytes the database takes as its cap counts them: its pages in use and
        its write-ahead log at the size it may reach, its limit and a
        transaction (a pass of the decoder, of a removal) beyond."""
        db = self._handle.db
        pages = used_pages(db)
        return pages + max(self._used() - pages, 2 * _log_limit(db))

    def projection(self, now: float) -> Projection:
        """Where the database stands against its cap at ``now``, and where it is heading."""
        db = self._handle.db
        return project(
            _readings(db),
            used=self._counted_size(),
            cap=self._handle.max_size,
            now=now,
            removing=bool(_removed_history(db)),
            oldest_history_ms=_oldest_history_ms(db),
        )

    def record_size(self, now: float) -> bool:
        """Write down the database's size, once an hour (see :mod:`wxstation.capacity`);
        True when it wrote one."""
        return _add_reading(self._handle.db, now)

    def removed(self) -> list[RemovedHistory]:
        """What decoded history gave way at the cap so far, per station."""
        return _removed_history(self._handle.db)

    def decoded_packets(
        self, device_id: int, *, after: int = 0, limit: int = 1000
    ) -> list[tuple[StoredPacket, bool]]:
        """A station's decoded packets after packet ``after``, in the order they
        were stored, each with whether its decoded history gave way."""
        rows = self._handle.db.execute(
            "SELECT p.id, p.data, p.received_at, p.peer, p.device_id, p.state, p.reason, "
            "b.seq IS NULL FROM packets p LEFT JOIN batches b ON b.packet_id = p.id "
            "WHERE p.state = 'done' AND p.device_id = ? AND p.id > ? ORDER BY p.id LIMIT ?",
            (device_id, after, limit),
        ).fetchall()
        return [(StoredPacket(*row[:7]), bool(row[7])) for row in rows]

    def forget_removed(self, device_id: int) -> None:
        """The station's removed history is decoded again: no longer say it gave way."""
        db = self._handle.db
        with transaction(db):
            db.execute("DELETE FROM removed_history WHERE device_id = ?", (device_id,))
