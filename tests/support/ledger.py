"""What the bridge's database says happened: the counts no data loss is judged by.

Read through a read-only connection of its own while the bridge runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.spool import readings

__all__ = [
    "READINGS",
    "SAMPLE_COUNT",
    "Ledger",
    "Progress",
    "ledger",
    "progress",
    "readings_samples",
    "samples_after",
]


@dataclass(frozen=True, slots=True)
class Ledger:
    #: Packets committed, and how many of them are waiting, decoded or kept aside.
    packets: int
    new: int
    done: int
    kept: int
    #: Decoded packets (one batch each) and the newest batch's sequence number.
    batches: int
    last_seq: int
    #: Packets that became more than one batch: decoded twice.
    decoded_twice: int
    #: Batches whose stored samples and conflicts are not the packet's complete,
    #: new records.
    incomplete: int
    samples: int
    #: Samples kept aside because a different sample of their station had their time.
    conflicts: int
    #: Distinct (station, time) among the samples: the points InfluxDB can hold.
    points: int
    #: Last batch each sink delivered.
    progress: dict[str, int]

    @property
    def samples_and_conflicts(self) -> int:
        """Every sample decoded and kept: stored, or kept aside as a conflict.

        A station's packets sent seconds apart instead of an hour (as simulated
        stations do) and read in the same millisecond get the same stamps, so
        one packet's samples are stored and the other's kept aside.
        """
        return self.samples + self.conflicts


def _connect(path: Path) -> sqlite3.Connection:
    """A read-only connection in a read transaction: every query sees one moment."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, isolation_level=None)
    db.execute("BEGIN")
    return db


@dataclass(frozen=True, slots=True)
class Progress:
    """Cheap enough to poll: how far committing, decoding and each sink have got."""

    #: Packets committed, and of those not decoded yet.
    packets: int
    new: int
    #: The newest batch's sequence number, and the last one each sink delivered.
    last_seq: int
    sinks: dict[str, int]

    def delivered(self, sink: str) -> bool:
        """True once ``sink`` has delivered every batch decoded so far."""
        return self.sinks.get(sink, 0) >= self.last_seq


def progress(path: Path) -> Progress:
    db = _connect(path)
    try:
        packets = db.execute("SELECT coalesce(max(id), 0) FROM packets").fetchone()[0]
        new = db.execute("SELECT count(*) FROM packets WHERE state = 'new'").fetchone()[0]
        last = db.execute("SELECT coalesce(max(seq), 0) FROM batches").fetchone()[0]
        sinks = db.execute("SELECT sink, seq FROM sink_progress").fetchall()
    finally:
        db.close()
    return Progress(int(packets), int(new), int(last), {str(k): int(v) for k, v in sinks})


def samples_after(path: Path, seq: int) -> int:
    """Samples in the batches after ``seq``: what a sink at ``seq`` has still to write."""
    db = _connect(path)
    try:
        return int(
            db.execute(
                "SELECT coalesce(sum(count), 0) FROM readings WHERE seq > ?", (seq,)
            ).fetchone()[0]
        )
    finally:
        db.close()


def ledger(path: Path) -> Ledger:
    db = _connect(path)
    try:
        states = dict(db.execute("SELECT state, count(*) FROM packets GROUP BY state").fetchall())
        batches, last_seq = db.execute(
            "SELECT count(*), coalesce(max(seq), 0) FROM batches"
        ).fetchone()
        decoded_twice = db.execute(
            "SELECT count(*) FROM (SELECT packet_id FROM batches "
            "GROUP BY packet_id HAVING count(*) > 1)"
        ).fetchone()[0]
        incomplete = db.execute(
            "SELECT count(*) FROM batches b WHERE (SELECT coalesce(sum(count), 0) FROM readings r "
            "WHERE r.seq = b.seq) + (SELECT count(*) FROM conflicts c WHERE c.seq = b.seq) "
            "!= json_extract(b.info, '$.received') - json_extract(b.info, '$.duplicates')"
        ).fetchone()[0]
        samples = db.execute("SELECT coalesce(sum(count), 0) FROM readings").fetchone()[0]
        conflicts = db.execute("SELECT count(*) FROM conflicts").fetchone()[0]
        points = len(
            {
                (device, time_ms)
                for device, times in db.execute("SELECT device_id, times FROM readings")
                for time_ms in readings.unpack_times(times)
            }
        )
        sinks = dict(db.execute("SELECT sink, seq FROM sink_progress").fetchall())
    finally:
        db.close()
    return Ledger(
        packets=sum(states.values()),
        new=states.get("new", 0),
        done=states.get("done", 0),
        kept=states.get("kept", 0),
        batches=batches,
        last_seq=last_seq,
        decoded_twice=decoded_twice,
        incomplete=incomplete,
        samples=samples,
        conflicts=conflicts,
        points=points,
        progress={str(k): int(v) for k, v in sinks.items()},
    )


#: Samples stored in a bridge's database, for a connection of one's own to it.
SAMPLE_COUNT = "SELECT coalesce(sum(count), 0) FROM readings"
#: The rows :func:`readings_samples` reads.
READINGS = 'SELECT device_id, station, keys, times, "values" FROM readings'


def readings_samples(
    rows: Iterable[tuple[Any, ...]],
) -> list[tuple[int, str, int, dict[str, float]]]:
    """Every sample of the rows :data:`READINGS` gave: (device id, station, time
    in ms, values), by station and time."""
    return sorted(
        (int(device), str(station), sample.time_ms, sample.values)
        for device, station, keys, times, values in rows
        for sample in readings.unpack(keys, times, values)
    )
