"""Each sink's progress: ``sink_progress`` holds the last batch each sink
delivered, so a restart resumes exactly there; ``rejected`` the batches a sink
refused for good, with the sink's reason, until they are delivered again."""

from __future__ import annotations

from collections.abc import Sequence

from bridge.spool.base import Tables, transaction, typed_errors

__all__ = ["SinkTables"]


@typed_errors
class SinkTables(Tables):
    """Where each sink is, and what it refused."""

    def progress(self, sink: str) -> int:
        row = self.db.execute("SELECT seq FROM sink_progress WHERE sink = ?", (sink,)).fetchone()
        return int(row[0]) if row else 0

    def set_progress(self, sink: str, seq: int) -> None:
        # Not durable: lost in a power cut, the batches are delivered again,
        # which a sink takes without creating anything twice.
        with transaction(self.db, durable=False):
            self.db.execute(
                "INSERT INTO sink_progress (sink, seq) VALUES (?, ?) "
                "ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq",
                (sink, seq),
            )

    def reject(self, sink: str, seqs: Sequence[int], reason: str, at: float) -> None:
        """Keep aside batches a sink refused for good, with the sink's reason."""
        with transaction(self.db):
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
        with transaction(self.db):
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
