"""The database as the running bridge awaits it.

:class:`Store` is the one door from the runtime to the database: it owns the
spool's thread (every call runs there, one at a time, so the event loop never
waits on the disk) and names each call for what the runtime needs. Nothing
else in the runtime touches :class:`~bridge.spool.Spool`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from bridge.errors import DatabaseError
from bridge.spool import Spool, StoredBatch
from bridge.spool.giving_way import Removal
from bridge.spool.salvage import (
    SalvageReport,
    is_corruption,
    number_after,
    salvage,
    start_fresh,
)
from bridge.stages import StageClock
from bridge.worker import Worker
from wxstation.availability import LastPacket
from wxstation.capacity import Projection
from wxstation.config import Config
from wxstation.decoding import DecodeResult, decode_one
from wxstation.noise import NoiseEntry, SourceCount
from wxstation.packets import Received
from wxstation.samples import Batch
from wxstation.timing import StationClock

__all__ = ["DECODE_GROUP", "Store", "decode_pending"]

T = TypeVar("T")

#: Packets decoded per transaction: large enough to amortise the commit, small
#: enough that the first samples of a backlog reach the sinks quickly.
DECODE_GROUP = 500


def decode_pending(
    spool: Spool,
    config: Config,
    clocks: dict[int, StationClock],
    limit: int = DECODE_GROUP,
    stages: StageClock | None = None,
) -> list[DecodeResult]:
    """Decode up to ``limit`` new packets and store the outcome in one transaction.

    Synchronous: run it on the spool's thread. ``clocks`` is the caller's copy of
    the station clocks, updated only once the transaction has committed.
    """
    stages = stages or StageClock()
    with stages.measure("decode"):
        packets = spool.packets.in_state("new", limit=limit)
        if not packets:
            return []
        working = dict(clocks)
        results = [decode_one(config, working, packet) for packet in packets]
    changed = {
        device: clock for device, clock in working.items() if clocks.get(device) is not clock
    }
    with stages.measure("store"):
        stored = iter(
            spool.samples.record(
                [(r.packet.id, r.batch) for r in results if r.batch is not None],
                [(r.packet.id, r.kept) for r in results if r.kept is not None],
                changed,
            )
        )
    clocks.update(changed)
    return [r if r.batch is None else _stored(r, next(stored)) for r in results]


def _stored(result: DecodeResult, stored: StoredBatch) -> DecodeResult:
    return replace(
        result,
        batch=stored.batch,
        seq=stored.seq,
        repeated=stored.repeated,
        conflicts=stored.conflicts,
    )


def _reopen(spool: Spool, newest: int) -> None:
    # Closing a connection on a disk that failed may fail too; the new one is
    # what counts.
    with contextlib.suppress(sqlite3.Error, DatabaseError):
        spool.close()
    spool.open()
    number_after(spool, newest)


class _Watched:
    """The spool's worker, telling who watches of every call that finds the
    file damaged, with the :attr:`generation` of the file the call was made on
    (a fresh database after a damaged one is the next)."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self.generation = 0
        self.on_damage: Callable[[BaseException, int], None] | None = None

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        generation = self.generation
        try:
            return await self._worker.call(function, *args, **kwargs)
        except Exception as err:
            if self.on_damage is not None and is_corruption(err):
                self.on_damage(err, generation)
            raise

    def close(self) -> None:
        self._worker.close()


class Store:
    """The running bridge's database: typed, awaited calls on the spool's own thread.

    ``stages`` counts the CPU time of the calls the benchmark tells apart
    (``commit``, ``decode``, ``store``, ``read_back``, ``progress``).
    """

    def __init__(self, spool: Spool, stages: StageClock) -> None:
        self._spool = spool
        #: CPU time by stage (see :mod:`bridge.stages`).
        self.stages = stages
        self._worker = _Watched(Worker("wxstation-spool"))
        self._opened = 0

    def _measured(self, stage: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(...)``, its CPU time counted to ``stage``: on the spool's thread."""
        with self.stages.measure(stage):
            return function(*args, **kwargs)

    async def call(self, function: Callable[[Spool], T]) -> T:
        """``function(spool)`` on the spool's thread: for tests and the benchmark,
        which look into the database the bridge holds open."""
        return await self._worker.call(function, self._spool)

    def close(self) -> None:
        """Finish the calls under way and end the thread (the spool stays open)."""
        self._worker.close()

    # --- a damaged or failing disk -----------------------------------------------------

    @property
    def generation(self) -> int:
        """How many times the database was replaced with a fresh one."""
        return self._worker.generation

    def watch_damage(self, on_damage: Callable[[BaseException, int], None]) -> None:
        """Tell ``on_damage`` of every call that finds the file damaged, with
        the :attr:`generation` it was made on."""
        self._worker.on_damage = on_damage

    @property
    def opened(self) -> int:
        """How many times the database was opened again since the start."""
        return self._opened

    async def start_fresh(self, why: str, newest: int, progress: Mapping[str, int]) -> Path:
        """Move the database aside and go on with a fresh one (see
        :func:`~bridge.spool.salvage.start_fresh`); returns where it went."""
        self._worker.generation += 1
        moved = await self._worker.call(start_fresh, self._spool, why, newest, progress)
        self._opened += 1
        return moved

    async def salvage(self, damaged: Path) -> SalvageReport:
        """Copy what can be read of ``damaged`` into the database."""
        return await self._worker.call(salvage, damaged, self._spool)

    async def reopen(self, newest: int) -> None:
        """Open the database again (a connection that met a disk error may hold
        on to it), numbering the next batches after ``newest``."""
        await self._worker.call(_reopen, self._spool, newest)
        self._opened += 1

    # --- at start ---------------------------------------------------------------------

    async def clocks(self) -> dict[int, StationClock]:
        return await self._worker.call(self._spool.samples.clocks)

    async def last_seq(self) -> int:
        """The newest decoded batch's sequence number (0 for none)."""
        return await self._worker.call(self._spool.samples.last_seq)

    async def station_hosts(self) -> dict[str, float]:
        """The addresses stations sent from, and when last."""
        return await self._worker.call(self._spool.packets.station_hosts)

    async def last_packets(self) -> dict[int, LastPacket]:
        return await self._worker.call(self._spool.samples.last_packets)

    async def disk_short_of_cap(self) -> str | None:
        return await self._worker.call(self._spool.disk_short_of_cap)

    async def counts(self) -> dict[str, int]:
        """Packets by state."""
        return await self._worker.call(self._spool.packets.counts)

    # --- packets in, decoded ------------------------------------------------------

    async def add_packets(self, items: Sequence[Received]) -> None:
        """Commit what connections delivered, in one transaction."""
        await self._worker.call(self._measured, "commit", self._spool.packets.add, items)

    async def decode(
        self, config: Config, clocks: dict[int, StationClock], limit: int
    ) -> list[DecodeResult]:
        """:func:`decode_pending` on the spool's thread."""
        return await self._worker.call(
            decode_pending, self._spool, config, clocks, limit, self.stages
        )

    async def requeue_kept(self, device_id: int | None) -> int:
        """Queue kept-aside packets (of one station, or all) for decoding again."""
        return await self._worker.call(self._spool.packets.requeue_kept, device_id)

    # --- the sinks' progress ---------------------------------------------------------

    async def batches(self, after: int, limit: int) -> list[tuple[int, Batch]]:
        """Stored batches after sequence number ``after``, read back from the database."""
        return await self._worker.call(
            self._measured, "read_back", self._spool.samples.batches, after=after, limit=limit
        )

    async def progress(self, sink: str) -> int:
        return await self._worker.call(self._spool.progress.get, sink)

    async def set_progress(self, sink: str, seq: int) -> None:
        await self._worker.call(self._measured, "progress", self._spool.progress.set, sink, seq)

    async def reject(self, sink: str, seqs: Sequence[int], reason: str, at: float) -> None:
        """Keep aside batches a sink refused for good, with its reason."""
        await self._worker.call(self._spool.progress.reject, sink, seqs, reason, at)

    # --- room, capacity, noise, retention -------------------------------------------

    async def room(self) -> str | None:
        """Why packets do not fit, or None while they do."""
        return await self._worker.call(self._spool.room)

    async def give_way(self, sinks: Collection[str], now: float) -> Removal | None:
        return await self._worker.call(self._spool.history.give_way, sinks, now)

    async def add_reading(self, now: float) -> bool:
        """Write down the database's size if an hour passed; True when it did."""
        return await self._worker.call(self._spool.history.record_size, now)

    async def projection(self, now: float) -> Projection:
        return await self._worker.call(self._spool.history.projection, now)

    async def add_noise(
        self, kept: Sequence[NoiseEntry], counts: Sequence[SourceCount], now: float
    ) -> None:
        await self._worker.call(self._spool.noise.add, kept, counts, now)

    async def prune(self, before_ms: int) -> int:
        """Delete decoded samples taken before ``before_ms``; returns how many."""
        return await self._worker.call(self._spool.samples.prune, before_ms)

    async def thread_time(self) -> float:
        """The CPU time the spool's thread used so far."""
        return await self._worker.call(time.thread_time)
