"""The decode loop: new packets turned into batches (or kept aside with the
reason), stored with the stations' clocks in one transaction, a group at a time.

The decoder wakes once per committed group (:meth:`Decoder.wake`), or every
:data:`POLL_INTERVAL` for packets another process queued (``reprocess``). Each
group's batches go to memory for the sinks (:class:`RecentBatches`), and the
sinks' drivers are woken once per group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from bridge.errors import DatabaseError
from bridge.logs import Throttle
from bridge.runtime.committing import FULL_RETRY_INTERVAL
from bridge.runtime.decode_log import DecodeLog
from bridge.runtime.memory import RecentBatches
from bridge.runtime.status import RuntimeEvents
from bridge.runtime.store import DECODE_GROUP, Store
from bridge.stages import StageClock
from wxstation.config import Config
from wxstation.timing import StationClock

__all__ = ["POLL_INTERVAL", "Decoder"]

log = logging.getLogger(__name__)

#: Seconds between looks for packets queued by another process (``reprocess``).
POLL_INTERVAL = 5.0
#: Seconds between two lines saying decoded packets cannot be stored: while a
#: disk fails the retries come every few seconds, and one line a minute says it.
FAILURE_LOG_EVERY = 60.0
#: Seconds from the start of one decoding pass to the next, at the least: a
#: packet after a quiet spell is decoded at once, while at hundreds of packets
#: a second the groups committed meanwhile decode together, in one transaction
#: and one wake-up of the sinks (at 500 packets/s, five packets instead of one
#: or two), for at most this much more delay.
DECODE_SPACING = 0.01


class Decoder:
    """Decodes what was committed; hands the batches to ``memory`` and wakes ``on_batches``."""

    def __init__(
        self,
        config: Config,
        store: Store,
        memory: RecentBatches,
        *,
        on_batches: Callable[[], None],
        events: RuntimeEvents,
        stages: StageClock,
        decode_log: DecodeLog,
    ) -> None:
        self._config = config
        self._store = store
        self._memory = memory
        self._on_batches = on_batches
        self._events = events
        self._stages = stages
        self._log = decode_log
        #: The stations' clocks as committed, read at :meth:`start`.
        self._clocks: dict[int, StationClock] = {}
        self._to_decode = asyncio.Event()
        self._draining = False
        #: A database failing to store decoded packets, said once a minute: the
        #: committer's and the fallback's lines say the rest.
        self._failing = Throttle(FAILURE_LOG_EVERY)

    async def start(self) -> None:
        """Read the stations' clocks; packets left new by the last run are decoded first."""
        self._clocks = await self._store.clocks()
        self._memory.resume(await self._store.last_seq())
        self._to_decode.set()

    def wake(self) -> None:
        """Look for new packets now."""
        if not self._to_decode.is_set():
            self._to_decode.set()

    def finish(self) -> None:
        """One last pass over what is committed, then :meth:`run` ends."""
        self._draining = True
        self._memory.release()
        self._to_decode.set()

    async def run(self) -> None:
        """Decode until :meth:`finish`, and after it what is left."""
        loop = asyncio.get_running_loop()
        began = -DECODE_SPACING
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._to_decode.wait(), POLL_INTERVAL)
            wait = began + DECODE_SPACING - loop.time()
            if wait > 0 and not self._draining:
                await asyncio.sleep(wait)
            began = loop.time()
            self._to_decode.clear()
            last_pass = self._draining
            await self._decode_all()
            self._log.flush(final=last_pass)
            if last_pass:
                return

    async def _decode_all(self) -> None:
        """Decode groups until fewer than a group's worth are new."""
        while True:
            limit = await self._memory.room(DECODE_GROUP)
            try:
                results = await self._store.decode(self._config, self._clocks, limit)
            except DatabaseError as err:
                held = self._failing.count(time.monotonic())
                if held is not None:
                    log.error(
                        "cannot store decoded packets (%s); retrying every %g s%s",
                        err,
                        FULL_RETRY_INTERVAL,
                        f" ({held} more failed tries since the last line)" if held else "",
                    )
                await asyncio.sleep(FULL_RETRY_INTERVAL)
                continue
            if self._failing.last is not None:
                log.info("decoded packets are stored again")
                self._failing = Throttle(FAILURE_LOG_EVERY)
            self._events.decoded(results)
            with self._stages.measure("log"):
                self._log.log(results)
            batches = False
            for result in results:
                if result.batch is not None and result.seq is not None:
                    self._memory.remember(result.seq, result.batch)
                    batches = True
            if batches:
                self._on_batches()
            if len(results) < limit:
                return
