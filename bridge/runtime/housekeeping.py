"""The database's upkeep while the bridge runs: the room left for packets,
delivered history giving way at the cap and the warnings that it comes near,
the counts of traffic that is not a station's, and retention.

Every :data:`ROOM_CHECK_INTERVAL` seconds one pass writes the noise counts,
lets delivered history give way near the cap, writes down the database's size
once an hour, and tells ``on_room`` whether packets still fit; the receiver
stops accepting while they do not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from bridge.errors import DatabaseError
from bridge.runtime.store import Store
from bridge.sinks import Sink
from wxstation.capacity import Projection
from wxstation.noise import NoiseTracker, source_of

__all__ = [
    "CAPACITY_WARN_EVERY",
    "NOISE_PRUNE_INTERVAL",
    "PRUNE_INTERVAL",
    "ROOM_CHECK_INTERVAL",
    "Housekeeping",
    "prune_history",
    "retention_cutoff_ms",
]

log = logging.getLogger(__name__)

#: Seconds between checks of the database size and free disk space.
ROOM_CHECK_INTERVAL = 2.0
#: Seconds between prunings of old non-station traffic when none arrives (it is
#: pruned whenever new counts are written, at most every ROOM_CHECK_INTERVAL).
NOISE_PRUNE_INTERVAL = 3600.0
#: Seconds between two warnings in the log that the database nears its cap
#: (the first, and the database reaching its cap, are logged at once).
CAPACITY_WARN_EVERY = 86400.0
#: Seconds between deletions of samples older than storage.retention_days.
PRUNE_INTERVAL = 3600.0


class Housekeeping:
    """The room left, capacity and noise, checked every :data:`ROOM_CHECK_INTERVAL`.

    ``clock`` is the bridge's wall clock (unix seconds): the database's size
    readings are stamped by it.
    """

    def __init__(
        self,
        store: Store,
        sinks: Sequence[Sink],
        *,
        on_room: Callable[[str | None], None],
        noise: NoiseTracker | None,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._sinks = tuple(sinks)
        self._on_room = on_room
        #: Counts and kept bytes of traffic that is not a station's, written
        #: with each look at the room left.
        self._noise = noise
        self._noise_pruned = 0.0
        self._clock = clock
        #: The last projection against the database's cap, and when it was logged.
        self.projection: Projection | None = None
        self._capacity_logged: tuple[float, bool] | None = None
        self._failing = False

    async def start(self) -> None:
        """The first pass, before the receiver's packets are committed."""
        if self._noise is not None:
            # The stations' addresses are theirs from the start, not from their
            # first packet after a restart: a host sharing one (behind NAT)
            # cannot get it refused first.
            for host, at in (await self._store.station_hosts()).items():
                self._noise.station(source_of(host), at)
        await self._check_capacity(force=True)
        short = await self._store.disk_short_of_cap()
        if short is not None:
            log.warning("%s", short)
        self._on_room(await self._store.room())

    async def run(self) -> None:
        """One pass every :data:`ROOM_CHECK_INTERVAL` seconds, for as long as the bridge runs."""
        while True:
            await asyncio.sleep(ROOM_CHECK_INTERVAL)
            try:
                await self._write_noise()
                await self._check_capacity()
                self._on_room(await self._store.room())
            except DatabaseError as err:
                # The committer says so when packets cannot be written; this is
                # the room check failing with it, said once until it works again.
                if not self._failing:
                    log.warning("cannot check the room left in the database: %s", err)
                self._failing = True
                continue
            self._failing = False

    async def finish(self) -> None:
        """Write what the noise tracker gathered since the last pass."""
        await self._write_noise()

    async def _check_capacity(self, *, force: bool = False) -> None:
        """Let delivered history give way near the cap, write down the database's
        size once an hour, and say so when the cap comes near."""
        now = self._clock()
        removal = await self._store.give_way([sink.name for sink in self._sinks], now)
        if removal is not None:
            log.warning("%s", removal)
        if not await self._store.add_reading(now) and not force and removal is None:
            return
        projection = await self._store.projection(now)
        self.projection = projection
        for sink in self._sinks:
            sink.report_capacity(projection)
        warning = projection.warning()
        if warning is None:
            self._capacity_logged = None
            return
        logged = self._capacity_logged
        at_cap = projection.at_cap
        # When it first comes, when the database comes to its cap, and then once
        # a day while the cap comes nearer; at the cap each removal says itself.
        if (
            logged is None
            or at_cap != logged[1]
            or (not at_cap and now - logged[0] >= CAPACITY_WARN_EVERY)
        ):
            self._capacity_logged = (now, at_cap)
            log.warning("%s", warning)

    async def _write_noise(self) -> None:
        """Write what the noise tracker gathered, and prune what is too old."""
        if self._noise is None:
            return
        kept, counts = self._noise.drain()
        now = time.monotonic()
        if not kept and not counts and now - self._noise_pruned < NOISE_PRUNE_INTERVAL:
            return
        self._noise_pruned = now
        try:
            await self._store.add_noise(kept, counts, self._clock())
        except DatabaseError as err:
            # Counts of traffic that is not a station's are worth less than the
            # room a retry would hold on to.
            log.warning("cannot store the counts of traffic that is not a station's: %s", err)


def retention_cutoff_ms(now: float, retention_days: float) -> int:
    """The time (epoch ms) before which decoded samples are deleted."""
    return round((now - retention_days * 86400) * 1000)


async def prune_history(
    store: Store,
    retention_days: float,
    clock: Callable[[], float],
    interval: float = PRUNE_INTERVAL,
) -> None:
    """Delete decoded samples older than ``retention_days`` now and every ``interval``."""
    while True:
        removed = await store.prune(retention_cutoff_ms(clock(), retention_days))
        if removed:
            log.info("deleted %d samples older than %g days", removed, retention_days)
        await asyncio.sleep(interval)
