"""Decoded batches kept in memory for the sinks, so none is read back from the
database while every working sink keeps up.

A sink takes its batches from here whenever they are there instead of reading
back what was just written (that cost as much as decoding). When a working sink
falls :data:`RECENT_BATCHES` behind, decoding waits for it (the packets wait
committed in the database), so memory stays bounded; a sink whose service is
down is not waited for: it reads from the database once it is back, until it
has caught up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from wxstation.samples import Batch

__all__ = ["RECENT_BATCHES", "RecentBatches"]

#: Decoded batches kept in memory for the sinks, at most. About 10 kB per batch
#: of an hour's samples. The InfluxDB sink gathers for up to ``flush_interval``
#: (1 s) before a small write, so at 500 packets/s it holds about 500: with room
#: for only that many, decoding waited for it (78 ms at the 99th percentile).
RECENT_BATCHES = 1000
#: Seconds decoding waits for room before it looks again (a sink that went down
#: meanwhile no longer holds it up).
ROOM_POLL = 5.0


class RecentBatches:
    """The batches not yet delivered by every sink that memory waits for, by
    sequence number, oldest first."""

    def __init__(self, sinks: Iterable[str]) -> None:
        self._recent: dict[int, Batch] = {}
        #: The last batch decoded.
        self.newest = 0
        self._limit = RECENT_BATCHES
        #: The last batch each sink delivered, and the sinks whose service is down.
        self._delivered = dict.fromkeys(sinks, 0)
        self._down: set[str] = set()
        #: Set whenever batches leave memory: decoding waits on it when it is full.
        self._room = asyncio.Event()
        self._released = False

    def resume(self, newest: int) -> None:
        """Where the last run's decoding ended: the newest stored batch."""
        self.newest = max(self.newest, newest)

    def release(self) -> None:
        """Stop holding up decoding (stopping: what does not fit is read back)."""
        self._released = True
        self._room.set()

    async def room(self, group: int) -> int:
        """How many packets to decode next, at most ``group``: as many as memory
        has room for, once it has any."""
        while len(self._recent) >= self._limit and not self._released:
            self._room.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._room.wait(), ROOM_POLL)
        if self._released:
            return group
        return max(1, min(group, self._limit - len(self._recent)))

    def remember(self, seq: int, batch: Batch) -> None:
        """Keep a batch just decoded, while there is room."""
        self.newest = max(self.newest, seq)
        self._trim()
        if len(self._recent) < self._limit:
            self._recent[seq] = batch

    def started(self, sink: str, seq: int) -> None:
        """Where ``sink``'s saved progress says it stopped."""
        self._delivered[sink] = seq

    def positions(self) -> dict[str, int]:
        """The last batch each sink delivered, as memory knows it."""
        return dict(self._delivered)

    def delivered(self, sink: str, seq: int) -> None:
        """Note what ``sink`` delivered, and drop what no sink needs any more."""
        self._delivered[sink] = seq
        self._down.discard(sink)
        self._trim()

    def down(self, sink: str) -> None:
        """``sink``'s service is down: memory does not wait for it."""
        self._down.add(sink)
        self._trim()

    def after(self, seq: int, limit: int) -> list[tuple[int, Batch]]:
        """The batches in memory right after ``seq``, at most ``limit``."""
        found: list[tuple[int, Batch]] = []
        seq += 1
        while len(found) < limit and (batch := self._recent.get(seq)) is not None:
            found.append((seq, batch))
            seq += 1
        return found

    def _waited_for(self, sink: str) -> bool:
        """Whether memory keeps batches for ``sink``: its service is up and the
        batches it needs next are in memory (or not decoded yet)."""
        if sink in self._down:
            return False
        oldest = next(iter(self._recent), self.newest + 1)
        return self._delivered[sink] >= oldest - 1

    def _trim(self) -> None:
        """Drop the batches every sink that memory waits for has delivered."""
        floor = min(
            (seq for name, seq in self._delivered.items() if self._waited_for(name)),
            default=self.newest,
        )
        recent = self._recent
        dropped = False
        while recent and (oldest := next(iter(recent))) <= floor:
            del recent[oldest]
            dropped = True
        if dropped:
            self._room.set()
