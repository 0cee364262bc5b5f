"""Traffic that was not a station's (see :mod:`wxstation.noise`): ``noise_sources``
holds per source its counts, first and last seen, and a sample; ``noise_kept``
the bytes of the few connections kept to look at. Bounded, and the first room
given back when the database is full."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass

from bridge.spool.base import Handle, give_back_pages, transaction, typed_errors
from wxstation import noise
from wxstation.protocol import screen

__all__ = ["Noise", "NoisySource"]


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


@typed_errors
class Noise:
    """Storing what the noise tracker gathered, within its bounds (kept bytes:
    a share of the database's cap, see :func:`wxstation.noise.budget`)."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    def add(
        self,
        kept: Sequence[noise.NoiseEntry],
        counts: Sequence[noise.SourceCount],
        now: float,
    ) -> None:
        """Store what :meth:`wxstation.noise.NoiseTracker.drain` gave, then hold it to
        its bounds: the budget of kept bytes (oldest dropped first), the days
        each is kept, and the number of sources."""
        db = self._handle.db
        with transaction(db):
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
                (noise.budget(self._handle.max_size),),
            )
            db.execute(
                "DELETE FROM noise_sources WHERE last_seen < ? OR source NOT IN "
                "(SELECT source FROM noise_sources ORDER BY last_seen DESC LIMIT ?)",
                (now - noise.SOURCE_DAYS * 86400, noise.MAX_SOURCES),
            )

    def give_back(self) -> bool:
        """Delete what traffic that is not a station's takes, and give the pages
        and the write-ahead log back to the disk; True when anything was deleted.

        That is every kept connection, and kept-aside packets whose bytes cannot
        be a station's (stored before the bridge told them apart; no config can
        decode them). The per-source counts stay: they are small.
        """
        db = self._handle.db
        deleted = 0
        with transaction(db):
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
        give_back_pages(db)
        return deleted > 0

    def sources(self, limit: int = 10) -> list[NoisySource]:
        """The sources that sent the most connections that were not a station's."""
        rows = self._handle.db.execute(
            "SELECT source, connections, bytes, refused, first_seen, last_seen, reason, sample "
            "FROM noise_sources ORDER BY connections + refused DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [NoisySource(*row) for row in rows]

    def kept(self) -> tuple[int, int]:
        """Connections of non-station traffic whose bytes are kept, and those bytes."""
        count, size = self._handle.db.execute(
            "SELECT count(*), coalesce(sum(length(data)), 0) FROM noise_kept"
        ).fetchone()
        return int(count), int(size)
