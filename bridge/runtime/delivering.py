"""One driver per sink: stored batches delivered in order from where the sink's
progress says it stopped.

A driver takes its batches from memory while they are there, else reads them
back from the database, and reads the next batches while the sink delivers
these (a backlog drains with reading and the sink's service working at once).
While the service is unavailable it retries with backoff, so a failing sink
never holds up receiving or the others; what the service refuses for good is
found batch by batch and kept aside with the service's reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from bridge.backoff import Backoff
from bridge.runtime.memory import RecentBatches
from bridge.runtime.reporting import ProblemBoard
from bridge.runtime.status import RuntimeEvents, SinkState
from bridge.runtime.store import Store
from bridge.sinks import Sink, SinkRejectedError, SinkUnavailableError
from bridge.stages import StageClock
from wxstation.samples import Batch, format_time

__all__ = ["BACKOFF_JITTER", "FIRST_BACKOFF", "MAX_BACKOFF", "SinkDriver"]

log = logging.getLogger(__name__)

#: Seconds between attempts to reach an unavailable sink: doubling from the
#: first to the longest, each 10 % shorter or longer at random.
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0
BACKOFF_JITTER = 0.1
#: Seconds a driver with nothing to deliver waits before it looks again.
IDLE_POLL = 5.0

Numbered = list[tuple[int, Batch]]


async def _discard(task: asyncio.Task[Numbered]) -> None:
    """Cancel a task whose result is no longer wanted, and let it finish."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


class SinkDriver:
    """Delivers one sink's batches; :attr:`state` says how it goes, by ``clock``
    (the bridge's wall clock, unix seconds)."""

    def __init__(
        self,
        sink: Sink,
        store: Store,
        memory: RecentBatches,
        *,
        events: RuntimeEvents,
        problems: ProblemBoard,
        stages: StageClock,
        clock: Callable[[], float],
    ) -> None:
        self.sink = sink
        self._problems = problems
        #: The problem this sink's refusals raised, until it delivers again.
        self._problem: str | None = None
        self._store = store
        self._memory = memory
        self._events = events
        self._stages = stages
        self._clock = clock
        #: How the sink's delivery is going (read by the status).
        self.state = SinkState()
        self._new_batches = asyncio.Event()
        self._stop = asyncio.Event()
        self._backoff = Backoff(FIRST_BACKOFF, MAX_BACKOFF, BACKOFF_JITTER)
        #: Since when (monotonic) the service has been down, while it is.
        self._down_since: float | None = None

    def wake(self) -> None:
        """New batches were decoded."""
        if not self._new_batches.is_set():
            self._new_batches.set()

    def finish(self) -> None:
        """Deliver what is there (no more waits to retry), then end :meth:`run`
        once nothing is left or the service fails."""
        self._stop.set()

    async def _batches(self, after: int) -> Numbered:
        """The batches after ``after``, from memory while they are there, else stored."""
        limit = self.sink.batch_limit
        found = self._memory.after(after, limit)
        if found or after >= self._memory.newest:
            return found
        return await self._store.batches(after, limit)

    async def run(self) -> None:
        """Deliver, in order, from the sink's saved progress until :meth:`finish`."""
        name = self.sink.name
        seq = await self._store.progress(name)
        self._memory.started(name, seq)
        following: asyncio.Task[Numbered] | None = None
        while True:
            if following is None:
                self._new_batches.clear()
                batches = await self._batches(seq)
            else:
                batches, following = await following, None
            if not batches:
                if self._stop.is_set():
                    return
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._new_batches.wait(), IDLE_POLL)
                continue
            # Cleared before the read starts, so a batch decoded after it sets it again.
            self._new_batches.clear()
            following = asyncio.create_task(self._batches(batches[-1][0]))
            try:
                refused = await self._deliver(batches)
            except SinkUnavailableError as err:
                await _discard(following)
                following = None
                if not await self._unavailable(err):
                    return
                continue
            except BaseException:
                following.cancel()
                raise
            await self._delivered(batches, refused)
            seq = batches[-1][0]

    async def _delivered(self, batches: Numbered, refused: set[int]) -> None:
        name = self.sink.name
        if self._down_since is not None:
            log.info("%s is back after %.0f s", name, time.monotonic() - self._down_since)
            self._down_since = self.state.down_since = None
        self._backoff.reset()
        self.state.last_delivery = self._clock()
        self._events.delivered(name, [b for q, b in batches if q not in refused])
        if not refused and self._problem is not None:
            log.info("%s takes batches again", name)
            self._problems.clear(self._problem)
            self._problem = None
        seq = batches[-1][0]
        await self._store.set_progress(name, seq)
        self._memory.delivered(name, seq)

    async def _unavailable(self, err: SinkUnavailableError) -> bool:
        """Note the failure and wait to retry; False when stopping (no retry)."""
        name = self.sink.name
        # Memory does not wait for a sink that is down: it reads back from the
        # database once it is back.
        self._memory.down(name)
        if self._stop.is_set():
            return False
        state = self.state
        state.last_error, state.last_error_at = err.reason, self._clock()
        self._events.sink_failed(name, err.reason)
        if self._down_since is None:
            state.down_since = state.last_error_at
            self._down_since = time.monotonic()
            log.warning("%s unavailable, samples wait in the spool: %s", name, err.reason)
        wait = self._backoff.step()
        delay = err.retry_after if err.retry_after is not None else wait
        # Stopping ends the wait: one more try, and the driver returns if it fails.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self._backoff.jittered(delay))
        return True

    async def _deliver(self, batches: Numbered) -> set[int]:
        """Deliver, and when the sink refuses, find and keep aside the batches it
        refuses; returns their sequence numbers."""
        sink = self.sink
        try:
            await self._stages.measured(sink.name, sink.deliver([batch for _, batch in batches]))
            return set()
        except SinkRejectedError as err:
            if len(batches) == 1:
                await self._refused(*batches[0], err)
                return {batches[0][0]}
        refused: set[int] = set()
        for one in batches:
            refused |= await self._deliver([one])
        return refused

    async def _refused(self, seq: int, batch: Batch, err: SinkRejectedError) -> None:
        name, reason = self.sink.name, err.reason
        # A refusal that is a problem to put right (a wrong key) refuses every
        # batch alike until it is: one error line when it comes, each batch after
        # it at DEBUG; status, the page and Home Assistant show it meanwhile.
        problem = err.problem
        repeated = problem is not None and problem.key in self._problems
        if problem is not None:
            self._problems.raise_problem(problem)
            self._problem = problem.key
        log.log(
            logging.DEBUG if repeated else logging.ERROR,
            "%s refused the batch of %s (%d) from %s; kept aside: %s",
            name,
            batch.station,
            batch.device_id,
            format_time(round(batch.arrival * 1000)),
            reason,
        )
        now = self._clock()
        await self._store.reject(name, [seq], reason, now)
        self.state.last_error, self.state.last_error_at = reason, now
        self._events.sink_refused(name, batch, reason)
