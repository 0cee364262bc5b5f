"""Spool -> decode -> timestamps -> sinks, in arrival order per station.

Three kinds of work run on the event loop, each as its own task:

- the **committer** gathers what connections delivered and commits it to the
  spool in groups (one fsync for many packets), then wakes the decoder;
- the **decoder** turns new packets into batches (or keeps them aside with the
  reason) and stores batches, samples and station clocks in one transaction;
- one **sink driver** per sink delivers stored batches in order from where that
  sink's progress says it stopped, retrying with backoff while the sink is
  unavailable, so a failing sink never holds up receiving or the others. Sinks
  take their batches from memory; a working sink that falls
  :data:`RECENT_BATCHES` behind holds up decoding (never receiving) until it
  catches up.

Every spool call runs on one dedicated thread (:class:`SpoolThread`), so the
event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from bridge.backoff import Backoff
from bridge.capacity import Projection
from bridge.config import Config
from bridge.decoding import DecodeResult, decode_one, log_result
from bridge.errors import DatabaseError
from bridge.noise import NoiseTracker, source_of
from bridge.samples import Batch, format_time
from bridge.sinks import Sink, SinkRejectedError, SinkUnavailableError
from bridge.spool import Received, Spool, StoredBatch
from bridge.stages import StageClock
from bridge.timing import StationClock

__all__ = ["Pipeline", "PipelineEvents", "SinkState", "SpoolThread", "decode_pending"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Packets decoded per transaction: large enough to amortise the commit, small
#: enough that the first samples of a backlog reach the sinks quickly.
DECODE_GROUP = 500
#: Seconds the committer waits after a packet arrives for others to commit with
#: it: at a few hundred packets per second, a few share each fsync instead of
#: one each, for at most this much more delay before a packet is on disk.
GATHER_WINDOW = 0.002
#: Seconds between checks of the database size and free disk space.
ROOM_CHECK_INTERVAL = 2.0
#: Seconds between attempts to commit after the disk was full.
FULL_RETRY_INTERVAL = 5.0
#: Seconds between attempts to reach an unavailable sink: doubling from the
#: first to the longest, each 10 % shorter or longer at random.
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 60.0
BACKOFF_JITTER = 0.1
#: Seconds between looks for packets queued by another process (``reprocess``).
POLL_INTERVAL = 5.0
#: Seconds before a pipeline task that failed on a bug is started again.
RESTART_DELAY = 1.0
#: Seconds between prunings of old non-station traffic when none arrives (it is
#: pruned whenever new counts are written, at most every ROOM_CHECK_INTERVAL).
NOISE_PRUNE_INTERVAL = 3600.0
#: Seconds of the shutdown budget kept for the sinks to close their connections
#: (MQTT says ``offline`` before it disconnects).
SINK_STOP_RESERVE = 2.0
#: Seconds a sink gets to close even when the budget is spent: a clean MQTT
#: disconnect is what keeps Home Assistant from waiting for the last will.
SINK_STOP_MIN = 0.5
#: Seconds between two warnings in the log that the database nears its cap
#: (the first, and the database reaching its cap, are logged at once).
CAPACITY_WARN_EVERY = 86400.0
#: Decoded batches kept in memory for the sinks, at most. A sink takes its
#: batches from here whenever they are there instead of reading back from the
#: database what was just written (that cost as much as decoding). When a sink
#: that is working falls this far behind, decoding waits for it (the packets wait
#: committed in the database), so memory stays bounded and nothing is read back;
#: a sink whose service is down is not waited for: it reads from the database
#: once it is back, until it has caught up. About 10 kB per batch of an hour's
#: samples.
RECENT_BATCHES = 1000


class SpoolThread:
    """Runs the spool's calls one at a time on a thread of their own."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wxstation-spool")

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(function, *args, **kwargs)
        )

    def close(self) -> None:
        self._executor.shutdown(wait=True)


# --- decoding and storing -------------------------------------------------------


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


async def _discard(task: asyncio.Task[T]) -> None:
    """Cancel a task whose result is no longer wanted, and let it finish."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


# --- the running pipeline --------------------------------------------------------


class PipelineEvents:
    """What the pipeline tells whoever counts its work (the bridge's metrics).

    Each method is called on the event loop, right after the step it names; the
    defaults do nothing.
    """

    def committed(self, items: Sequence[Received]) -> None:
        """These packets are in the database."""

    def decoded(self, results: Sequence[DecodeResult]) -> None:
        """These packets were decoded and their samples stored, or kept aside."""

    def delivered(self, sink: str, batches: Sequence[Batch]) -> None:
        """A sink took these batches."""

    def sink_failed(self, sink: str, reason: str) -> None:
        """A sink's service was unavailable; its driver tries again after a wait."""

    def sink_refused(self, sink: str, batch: Batch, reason: str) -> None:
        """A sink refused a batch for good; it is kept aside."""


@dataclass
class SinkState:
    """How a sink's delivery is going, as the running bridge knows it."""

    #: Since when (unix seconds) the sink's service has been unavailable.
    down_since: float | None = None
    #: The latest failure in the service's words, and when.
    last_error: str | None = None
    last_error_at: float | None = None
    #: When the sink last took batches.
    last_delivery: float | None = None


class Pipeline:
    """The bridge's work after a connection closed: commit, decode, deliver."""

    def __init__(
        self,
        config: Config,
        spool: SpoolThread,
        sinks: Sequence[Sink] = (),
        *,
        on_room: Callable[[str | None], None] = lambda reason: None,
        noise: NoiseTracker | None = None,
        stages: StageClock | None = None,
        events: PipelineEvents | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        #: CPU time by stage (see :mod:`bridge.stages`).
        self.stages = stages or StageClock()
        self.spool = spool
        self.sinks = tuple(sinks)
        self.on_room = on_room
        self.events = events or PipelineEvents()
        #: Each sink's delivery, by the sink's name.
        self.sink_states = {sink.name: SinkState() for sink in self.sinks}
        #: Why packets do not fit, as last told to ``on_room``; None while they do.
        self.room: str | None = None
        #: Counts and kept bytes of traffic that is not a station's, written
        #: with each look at the room left.
        self.noise = noise
        self._noise_pruned = 0.0
        self.clocks: dict[int, StationClock] = {}
        self._pending: list[Received] = []
        self._to_commit = asyncio.Event()
        self._to_decode = asyncio.Event()
        self._new_batches = {sink.name: asyncio.Event() for sink in self.sinks}
        #: Decoded batches not yet delivered by every sink that waits for them,
        #: by sequence number, oldest first; ``_newest`` is the last one decoded.
        self._recent: dict[int, Batch] = {}
        self._newest = 0
        #: Set whenever batches leave memory: decoding waits on it when it is full.
        self._room = asyncio.Event()
        #: The last batch each sink delivered, and the sinks whose service is
        #: down (memory does not wait for them).
        self._delivered = {sink.name: 0 for sink in self.sinks}
        self._down: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._draining = False
        self._room_checked = 0.0
        #: The wall clock (unix seconds) that the database's size readings, the
        #: history kept from the last days and refused batches are stamped by.
        self.clock = clock
        #: The last projection against the database's cap, and when it was logged.
        self.projection: Projection | None = None
        self._capacity_logged: tuple[float, bool] | None = None
        #: Decoded batches, for whoever wants to watch (tests, the demo).
        self.listeners: list[Callable[[Batch], None]] = []

    async def start(self) -> None:
        self.clocks = await self.spool.call(self.spool.spool.samples.clocks)
        self._newest = await self.spool.call(self.spool.spool.samples.last_seq)
        if self.noise is not None:
            # The stations' addresses are theirs from the start, not from their
            # first packet after a restart: a host sharing one (behind NAT)
            # cannot get it refused first.
            for host, at in (await self.spool.call(self.spool.spool.packets.station_hosts)).items():
                self.noise.station(source_of(host), at)
        await self._check_capacity(force=True)
        short = await self.spool.call(self.spool.spool.disk_short_of_cap)
        if short is not None:
            log.warning("%s", short)
        reason = await self.spool.call(self.spool.spool.room)
        self._tell_room(reason)
        last_packets = await self.spool.call(self.spool.spool.samples.last_packets)
        for sink in self.sinks:
            try:
                sink.restore(last_packets)
                await sink.start()
            except Exception:
                # Its driver retries delivery; a sink down at start-up is no reason
                # not to receive.
                log.exception("%s did not start", sink.name)
        self._tasks = [
            self._supervise("committer", self._committer),
            self._supervise("decoder", self._decoder),
            *(
                self._supervise(f"sink {sink.name}", functools.partial(self._drive, sink))
                for sink in self.sinks
            ),
        ]
        self._to_decode.set()  # packets left new by the last run

    def _supervise(self, name: str, work: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run ``work`` as a task that a bug cannot end: it is logged and restarted."""

        async def supervised() -> None:
            while True:
                try:
                    await work()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("the %s failed; restarting it", name)
                    await asyncio.sleep(RESTART_DELAY)

        return asyncio.create_task(supervised(), name=name)

    def wake_decoder(self) -> None:
        """Look for new packets now (``reprocess`` queued some) instead of at the next poll."""
        self._to_decode.set()

    def _tell_room(self, reason: str | None) -> None:
        self.room = reason
        self.on_room(reason)

    def put(self, item: Received) -> None:
        """Hand over what a connection delivered, to be committed with the next
        group; returns at once."""
        self._pending.append(item)
        self._to_commit.set()

    async def stop(self, budget: float) -> None:
        """Commit and decode what is in hand and let the sinks deliver, all
        within ``budget`` seconds, then stop.

        Committing comes first (a packet in memory is the only copy there is),
        then decoding; sinks get what is left, less :data:`SINK_STOP_RESERVE`
        for closing their connections. What is not delivered stays in the
        database for the next start.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget

        def left(reserve: float = 0.0) -> float:
            return max(0.0, deadline - reserve - loop.time())

        self._stopping = True
        self._stop_requested.set()
        self._to_commit.set()
        self._to_decode.set()
        committer, decoder, *drivers = self._tasks
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(committer), left())
        if not committer.done():
            log.error(
                "stopping with %d packets not committed: the database did not take "
                "them within the shutdown budget",
                len(self._pending),
            )
        # Everything is committed: one last decoding pass, then the decoder ends.
        self._draining = True
        self._to_decode.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(decoder), left(SINK_STOP_RESERVE))
        for event in self._new_batches.values():
            event.set()
        if drivers:
            _, late = await asyncio.wait(drivers, timeout=left(SINK_STOP_RESERVE))
            for task in late:
                task.cancel()
        for task in self._tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sink in self.sinks:
            try:
                await asyncio.wait_for(sink.stop(), max(left(), SINK_STOP_MIN))
            except TimeoutError:
                log.warning("sink %s did not close within the shutdown budget", sink.name)
            except Exception:
                log.exception("sink %s did not stop cleanly", sink.name)

    async def _committer(self) -> None:
        while True:
            if not self._pending:
                if self._stopping:
                    await self._write_noise()
                    return
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._to_commit.wait(), ROOM_CHECK_INTERVAL)
                self._to_commit.clear()
                await self._check_room()
                continue
            if not self._stopping:
                # Packets trickling in share the next commit's fsync.
                await asyncio.sleep(GATHER_WINDOW)
            group, self._pending = self._pending, []
            try:
                await self.spool.call(self._measured, "commit", self.spool.spool.packets.add, group)
            except Exception as err:
                # Disk full or the database failing: keep the packets in memory,
                # stop accepting more, and try again. Nothing else may lose them.
                self._pending[:0] = group
                self._tell_room(f"cannot write the database: {err}")
                log.error("cannot commit %d packets (%s); retrying", len(group), err)
                await asyncio.sleep(FULL_RETRY_INTERVAL)
                self._room_checked = 0.0
                continue
            self.events.committed(group)
            self._to_decode.set()
            await self._check_room()

    def _measured(self, stage: str, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)``, its CPU time counted to ``stage``: on the spool's thread."""
        with self.stages.measure(stage):
            return function(*args)

    async def _check_room(self) -> None:
        """Tell ``on_room`` whether packets still fit, at most every few seconds."""
        now = time.monotonic()
        if now - self._room_checked >= ROOM_CHECK_INTERVAL:
            self._room_checked = now
            await self._write_noise()
            await self._check_capacity()
            self._tell_room(await self.spool.call(self.spool.spool.room))

    async def _check_capacity(self, *, force: bool = False) -> None:
        """Let delivered history give way near the cap, write down the database's
        size once an hour, and say so when the cap comes near."""
        spool = self.spool.spool
        now = self.clock()
        removal = await self.spool.call(
            spool.history.give_way, [sink.name for sink in self.sinks], now
        )
        if removal is not None:
            log.warning("%s", removal)
        if (
            not await self.spool.call(spool.history.record_size, now)
            and not force
            and removal is None
        ):
            return
        projection = await self.spool.call(spool.history.projection, now)
        self.projection = projection
        for sink in self.sinks:
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
        if self.noise is None:
            return
        kept, counts = self.noise.drain()
        now = time.monotonic()
        if not kept and not counts and now - self._noise_pruned < NOISE_PRUNE_INTERVAL:
            return
        self._noise_pruned = now
        try:
            await self.spool.call(self.spool.spool.noise.add, kept, counts, self.noise.clock())
        except DatabaseError as err:
            # Counts of traffic that is not a station's are worth less than the
            # room a retry would hold on to.
            log.warning("cannot store the counts of traffic that is not a station's: %s", err)

    async def _decoder(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._to_decode.wait(), POLL_INTERVAL)
            self._to_decode.clear()
            last_pass = self._draining
            while True:
                limit = await self._room_for_batches()
                try:
                    results = await self.spool.call(
                        decode_pending,
                        self.spool.spool,
                        self.config,
                        self.clocks,
                        limit,
                        self.stages,
                    )
                except DatabaseError as err:
                    log.error("cannot store decoded packets (%s); retrying", err)
                    await asyncio.sleep(FULL_RETRY_INTERVAL)
                    continue
                self.events.decoded(results)
                with self.stages.measure("log"):
                    for result in results:
                        log_result(result)
                for result in results:
                    if result.batch is not None:
                        self._remember(result)
                        for listener in self.listeners:
                            listener(result.batch)
                if any(r.batch is not None for r in results):
                    for event in self._new_batches.values():
                        event.set()
                if len(results) < limit:
                    break
            if last_pass:
                return

    async def _room_for_batches(self) -> int:
        """How many packets to decode next: as many as memory has room for, once
        it has any. Memory is full with :data:`RECENT_BATCHES` batches that a
        working sink has not delivered. Once stopping, nothing waits (what does
        not fit is read back from the database)."""
        while len(self._recent) >= RECENT_BATCHES and not self._draining:
            self._room.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._room.wait(), POLL_INTERVAL)
        if self._draining:
            return DECODE_GROUP
        return max(1, min(DECODE_GROUP, RECENT_BATCHES - len(self._recent)))

    def _remember(self, result: DecodeResult) -> None:
        if result.seq is None or result.batch is None:
            return
        self._newest = max(self._newest, result.seq)
        self._trim()
        if len(self._recent) < RECENT_BATCHES:
            self._recent[result.seq] = result.batch

    def _waited_for(self, sink: str) -> bool:
        """Whether memory keeps batches for ``sink``: its service is up and the
        batches it needs next are in memory (or not decoded yet)."""
        if sink in self._down:
            return False
        oldest = next(iter(self._recent), self._newest + 1)
        return self._delivered[sink] >= oldest - 1

    def _trim(self) -> None:
        """Drop the batches every sink that memory waits for has delivered."""
        floor = min(
            (seq for name, seq in self._delivered.items() if self._waited_for(name)),
            default=self._newest,
        )
        recent = self._recent
        dropped = False
        while recent and (oldest := next(iter(recent))) <= floor:
            del recent[oldest]
            dropped = True
        if dropped:
            self._room.set()

    def _forget(self, sink: Sink, seq: int) -> None:
        """Note what ``sink`` delivered, and drop what no sink needs any more."""
        self._delivered[sink.name] = seq
        self._down.discard(sink.name)
        self._trim()

    async def _batches(self, sink: Sink, after: int) -> list[tuple[int, Batch]]:
        """The batches after ``after``, from memory while they are there, else stored."""
        found: list[tuple[int, Batch]] = []
        seq = after + 1
        while len(found) < sink.batch_limit and (batch := self._recent.get(seq)) is not None:
            found.append((seq, batch))
            seq += 1
        if found or after >= self._newest:
            return found
        return await self.spool.call(
            self._measured,
            "read_back",
            functools.partial(
                self.spool.spool.samples.batches, after=after, limit=sink.batch_limit
            ),
        )

    async def _drive(self, sink: Sink) -> None:
        """Deliver stored batches to one sink, in order, from its saved progress."""
        spool = self.spool.spool
        seq = await self.spool.call(spool.progress.get, sink.name)
        self._delivered[sink.name] = seq
        event = self._new_batches[sink.name]
        backoff = Backoff(FIRST_BACKOFF, MAX_BACKOFF, BACKOFF_JITTER)
        state = self.sink_states[sink.name]
        down_since: float | None = None
        #: The batches after the ones being delivered, read meanwhile: a backlog
        #: then drains with reading and the sink's service working at once.
        following: asyncio.Task[list[tuple[int, Batch]]] | None = None
        while True:
            if following is None:
                event.clear()
                batches = await self._batches(sink, seq)
            else:
                batches, following = await following, None
            if not batches:
                if self._stopping:
                    return
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(event.wait(), POLL_INTERVAL)
                continue
            # Cleared before the read starts, so a batch decoded after it sets it again.
            event.clear()
            following = asyncio.create_task(self._batches(sink, batches[-1][0]))
            try:
                refused = await self._deliver(sink, batches)
            except SinkUnavailableError as err:
                await _discard(following)
                following = None
                # Memory does not wait for a sink that is down: it reads back
                # from the database once it is back.
                self._down.add(sink.name)
                self._trim()
                if self._stopping:
                    return
                state.last_error, state.last_error_at = err.reason, time.time()
                self.events.sink_failed(sink.name, err.reason)
                if down_since is None:
                    state.down_since = state.last_error_at
                    down_since = time.monotonic()
                    log.warning(
                        "%s unavailable, samples wait in the spool: %s", sink.name, err.reason
                    )
                wait = backoff.step()
                delay = err.retry_after if err.retry_after is not None else wait
                # Shutdown ends the wait: one more try, and the driver returns if it fails.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(
                        self._stop_requested.wait(),
                        backoff.jittered(delay),
                    )
                continue
            except BaseException:
                following.cancel()
                raise
            if down_since is not None:
                log.info("%s is back after %.0f s", sink.name, time.monotonic() - down_since)
                down_since = state.down_since = None
            backoff.reset()
            state.last_delivery = time.time()
            self.events.delivered(sink.name, [b for q, b in batches if q not in refused])
            seq = batches[-1][0]
            await self.spool.call(self._measured, "progress", spool.progress.set, sink.name, seq)
            self._forget(sink, seq)

    async def _deliver(self, sink: Sink, batches: list[tuple[int, Batch]]) -> set[int]:
        """Deliver, and when the sink refuses, find and keep aside the batches it
        refuses; returns their sequence numbers."""
        try:
            await self.stages.measured(sink.name, sink.deliver([batch for _, batch in batches]))
            return set()
        except SinkRejectedError as err:
            if len(batches) == 1:
                seq, batch = batches[0]
                log.error(
                    "%s refused the batch of %s (%d) from %s; kept aside: %s",
                    sink.name,
                    batch.station,
                    batch.device_id,
                    format_time(round(batch.arrival * 1000)),
                    err.reason,
                )
                await self.spool.call(
                    self.spool.spool.progress.reject, sink.name, [seq], err.reason, self.clock()
                )
                state = self.sink_states[sink.name]
                state.last_error, state.last_error_at = err.reason, time.time()
                self.events.sink_refused(sink.name, batch, err.reason)
                return {seq}
        refused: set[int] = set()
        for one in batches:
            refused |= await self._deliver(sink, [one])
        return refused
