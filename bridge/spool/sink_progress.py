"""Each sink's progress: ``sink_progress`` holds the last batch each sink
delivered, so a restart resumes exactly there; ``rejected`` the batches a sink
refused for good, with the sink's reason, until they are delivered again."""

from __future__ import annotations

from collections.abc import Sequence

from bridge.spool.base import Handle, transaction, typed_errors

__all__ = ["SinkProgress"]


@typed_errors
class SinkProgress:
    """Where each sink is, and what it refused."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    def get(self, sink: str) -> int:
        """The last batch ``sink`` delivered (0 before its first)."""
        row = self._handle.db.execute(
            "SELECT seq FROM sink_progress WHERE sink = ?", (sink,)
        ).fetchone()
        return int(row[0]) if row else 0

    def set(self, sink: str, seq: int) -> None:
        """``sink`` delivered every batch up to ``seq``."""
        # Not durable: lost in a power cut, the batches are delivered again,
        # which a sink takes without creating anything twice.
        db = self._handle.db
        with transaction(db, durable=False):
            db.execute(
                "INSERT INTO sink_progress (sink, seq) VALUES (?, ?) "
                "ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq",
                (sink, seq),
            )

    def reject(self, sink: str, seqs: Sequence[int], reason: str, at: float) -> None:
        """Keep aside batches a sink refused for good, with the sink's reason."""
        db = self._handle.db
        with transaction(db):
            db.executemany(
                "INSERT OR REPLACE INTO rejected (sink, seq, at, reason) VALUES (?, ?, ?, ?)",
                [(sink, seq, at, reason) for seq in seqs],
            )

    def rewind(self, sink: str) -> int:
        """Deliver a sink's kept-aside batches again: move its progress back to the
        first of them and forget them. Returns how many there were.

        Batches between them are delivered again too, which is harmless: samples
        keep their timestamps, so a repeated write lands on the same points.
        """
        db = self._handle.db
        with transaction(db):
            row = db.execute(
                "SELECT min(seq), count(*) FROM rejected WHERE sink = ?", (sink,)
            ).fetchone()
            first, count = row[0], int(row[1])
            if not count:
                return 0
            db.execute("DELETE FROM rejected WHERE sink = ?", (sink,))
            db.execute(
                "UPDATE sink_progress SET seq = min(seq, ?) WHERE sink = ?", (first - 1, sink)
            )
        return count

    def by_sink(self) -> dict[str, int]:
        """The last batch each sink with a saved progress delivered."""
        rows = self._handle.db.execute("SELECT sink, seq FROM sink_progress")
        return {sink: int(seq) for sink, seq in rows}

    def rejected(self, sink: str | None = None) -> list[tuple[str, int, str]]:
        """The kept-aside batches of ``sink`` (of every sink: None) as (sink, seq,
        reason), in order."""
        query = "SELECT sink, seq, reason FROM rejected"
        args: tuple[str, ...] = ()
        if sink is not None:
            query += " WHERE sink = ?"
            args = (sink,)
        return [
            (s, int(q), r) for s, q, r in self._handle.db.execute(query + " ORDER BY seq", args)
        ]
