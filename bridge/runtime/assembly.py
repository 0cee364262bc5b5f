"""The running bridge put together: the parts built and connected, started,
and stopped within one budget (``wxstation-bridge run``).

:class:`Assembly` builds every part with its collaborators: the receiver puts
packets to the committer, the committer wakes the decoder once a group, the
decoder wakes the sinks' drivers, housekeeping and the committer say whether
packets fit (:class:`~bridge.runtime.status.Room`) and the receiver follows.
:func:`serve` adds what belongs to the process: the database's lock, signals,
the status page, the demo.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from bridge.demo import Demo, run_demo
from bridge.errors import DatabaseError
from bridge.logs import LoopExceptions
from bridge.runtime.committing import Committer
from bridge.runtime.decode_log import DecodeLog
from bridge.runtime.decoder import Decoder
from bridge.runtime.delivering import SinkDriver
from bridge.runtime.fallback import Fallback
from bridge.runtime.housekeeping import Housekeeping, prune_history
from bridge.runtime.memory import RecentBatches
from bridge.runtime.recovery import Damage, Recovery, open_or_replace
from bridge.runtime.reporting import ProblemBoard
from bridge.runtime.status import Room, RuntimeEvents, SinkStatus, Status
from bridge.runtime.store import Store
from bridge.service import (
    EXIT_DATABASE,
    EXIT_LISTEN,
    build_sinks,
    database_lock,
    raise_file_limit,
)
from bridge.sinks import Sink
from bridge.spool import Spool
from bridge.spool.salvage import is_corruption
from bridge.stages import StageClock
from wxstation.config import Config
from wxstation.decoding import refusal
from wxstation.noise import NoiseTracker
from wxstation.receiving import Receiver

if TYPE_CHECKING:
    from bridge.web import StatusServer
    from bridge.web.metrics import BridgeMetrics

__all__ = [
    "RECEIVER_GRACE",
    "SHUTDOWN_BUDGET",
    "SINK_STOP_MIN",
    "SINK_STOP_RESERVE",
    "Assembly",
    "serve",
]

log = logging.getLogger("bridge")

#: Seconds from SIGTERM until the bridge has stopped: the receiver finishes the
#: connections in hand, the runtime commits, decodes and delivers what it can,
#: the sinks close. One budget for all of it, well inside systemd's
#: ``TimeoutStopSec=30`` of deploy/wxstation-bridge.service, so the bridge is
#: never killed while committing. An InfluxDB write already under way when the
#: budget ends can keep the process up to ``influxdb.timeout`` (10 s) longer.
SHUTDOWN_BUDGET = 15.0
#: Seconds of the budget that connections still being read may take: a station
#: sends its packet within a second of connecting.
RECEIVER_GRACE = 5.0
#: Seconds of the shutdown budget kept for the sinks to close their connections
#: (MQTT says ``offline`` before it disconnects).
SINK_STOP_RESERVE = 2.0
#: Seconds a sink gets to close even when the budget is spent: a clean MQTT
#: disconnect is what keeps Home Assistant from waiting for the last will.
SINK_STOP_MIN = 0.5
#: Seconds before a part's loop that failed on a bug is started again.
RESTART_DELAY = 1.0


def _supervise(name: str, work: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
    """Run ``work`` as a task that a bug cannot end: it is logged and restarted."""

    async def supervised() -> None:
        while True:
            try:
                await work()
                return
            except asyncio.CancelledError:
                raise
            except DatabaseError as err:
                # The database failing (a damaged file is being replaced, a disk
                # failing): said in its words, the part goes on after a pause.
                log.error("the %s stopped: %s; restarting it", name, err)
                await asyncio.sleep(RESTART_DELAY)
            except Exception:
                log.exception("the %s failed; restarting it", name)
                await asyncio.sleep(RESTART_DELAY)

    return asyncio.create_task(supervised(), name=name)


async def _follow_room(room: Room, receiver: Receiver) -> None:
    """Stop accepting connections while packets do not fit, and accept again once they do."""
    while True:
        await room.changed.wait()
        room.changed.clear()
        reason = room.reason
        if (reason is None) == (receiver.paused is None):
            continue
        await (receiver.pause(reason) if reason else receiver.resume())


async def _stop_within(task: asyncio.Task[None], seconds: float) -> bool:
    """Wait up to ``seconds`` for ``task`` to end by itself; whether it did."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(task), seconds)
    return task.done()


class Assembly:
    """The receiver, committer, decoder, sinks' drivers and housekeeping of one
    bridge, built and connected; :attr:`status` is what it shows.

    ``clock`` is the wall clock (unix seconds) that packets' arrivals and
    everything judged by them are read from.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        sinks: Sequence[Sink],
        *,
        events: RuntimeEvents,
        stages: StageClock,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.store = store
        self.sinks = tuple(sinks)
        #: CPU time by stage (see :mod:`bridge.stages`).
        self.stages = stages
        noise = NoiseTracker(clock=clock)
        room = Room()
        memory = RecentBatches(sink.name for sink in self.sinks)
        #: What a person has to put right, told to every sink.
        self.problems = ProblemBoard(self.sinks)
        self.drivers = tuple(
            SinkDriver(
                sink,
                store,
                memory,
                events=events,
                problems=self.problems,
                stages=stages,
                clock=clock,
            )
            for sink in self.sinks
        )
        self.decoder = Decoder(
            config,
            store,
            memory,
            on_batches=functools.partial(_wake_all, self.drivers),
            events=events,
            stages=stages,
            decode_log=DecodeLog(),
        )
        on_fresh = functools.partial(_wake_all, (self.decoder, *self.drivers))
        #: A damaged database replaced with a fresh one, and salvaged.
        self.recovery = Recovery(
            store,
            self.problems,
            memory,
            path=config.storage.path,
            on_fresh=on_fresh,
            clock=clock,
        )
        #: Packets held while the database's disk fails writes.
        self.fallback = Fallback(
            store,
            self.problems,
            path=config.storage.path,
            directory=config.storage.fallback_path,
            reopen=self._reopen,
            on_committed=self.decoder.wake,
            events=events,
            clock=clock,
        )
        self.committer = Committer(
            store,
            on_committed=self.decoder.wake,
            on_room=room.write_failed,
            events=events,
            fallback=self.fallback,
            faults=self._write_failed,
        )
        self.housekeeping = Housekeeping(
            store, self.sinks, on_room=room.measured, noise=noise, clock=clock
        )
        self.receiver = Receiver(
            config.listen,
            self.committer.put,
            refusal=functools.partial(refusal, config),
            noise=noise,
            stages=stages,
            clock=clock,
        )
        self._room = room
        self._memory = memory
        self._clock = clock
        self.status = Status(
            self.receiver,
            room,
            [SinkStatus(d.sink.name, d.state, d.sink) for d in self.drivers],
            held=lambda: self.fallback.reason,
            damage=lambda: self.recovery.notice,
            opened=lambda: store.opened,
            problems=self.problems.current,
        )
        self._flow: list[asyncio.Task[None]] = []
        self._upkeep: list[asyncio.Task[None]] = []

    async def listen(self) -> None:
        """Listen for stations; raises OSError when the address cannot be bound."""
        await self.receiver.start()

    async def _write_failed(self, err: BaseException) -> bool:
        """A write failed: whether a fresh database took the damaged one's place
        or the fallback holds packets from now on (the committer's ``faults``)."""
        if is_corruption(err):
            return await self.recovery.follow()
        return self.fallback.engage(err)

    async def _reopen(self) -> None:
        """Open the database again after its disk failed, and go on from what
        the disk holds: batches numbered after the last one decoded, the
        stations' clocks as committed (decoding that did not reach the disk is
        done again, with the clocks it had)."""
        await self.store.reopen(self._memory.newest)
        await self.decoder.start()

    async def _read_start(self) -> None:
        await self.decoder.start()
        await self.housekeeping.start()

    async def start(self, damage: Damage | None = None) -> None:
        """Read where the last run stopped, start the sinks and every part's loop;
        salvage the ``damage`` found at opening, if any. A damaged file found
        by these first reads is replaced and salvaged the same way."""
        if damage is not None:
            self.recovery.found_at_start(damage)
        following = functools.partial(_follow_room, self._room, self.receiver)
        self._upkeep = [_supervise("room", following)]
        try:
            await self._read_start()
        except DatabaseError as err:
            if not is_corruption(err) or not await self.recovery.follow():
                raise
            await self._read_start()
        await self.fallback.start()
        last_packets = await self.store.last_packets()
        # The truth at start (none known yet), replacing what a last run left.
        self.problems.tell()
        for sink in self.sinks:
            try:
                sink.restore(last_packets)
                await sink.start()
            except Exception:
                # Its driver retries delivery; a sink down at start-up is no reason
                # not to receive.
                log.exception("%s did not start", sink.name)
        self._flow = [
            _supervise("committer", self.committer.run),
            _supervise("decoder", self.decoder.run),
            *(_supervise(f"sink {d.sink.name}", d.run) for d in self.drivers),
        ]
        self._upkeep.append(_supervise("housekeeping", self.housekeeping.run))
        self._upkeep.append(_supervise("fallback", self.fallback.run))
        retention = self.config.storage.retention_days
        if retention > 0:
            pruning = prune_history(self.store, retention, self._clock)
            self._upkeep.append(asyncio.create_task(pruning, name="retention"))

    async def reprocess(self, device_id: int | None) -> int:
        """Queue kept-aside packets (of one station, or all) for decoding now; returns how many."""
        queued = await self.store.requeue_kept(device_id)
        self.decoder.wake()
        return queued

    async def stop(self, budget: float = SHUTDOWN_BUDGET) -> None:
        """Stop within ``budget`` seconds: the receiver finishes the connections
        in hand (at most :data:`RECEIVER_GRACE`), everything received is
        committed (a packet in memory is the only copy there is), then decoded;
        the sinks deliver what they can with what is left, less
        :data:`SINK_STOP_RESERVE` for closing their connections. What is not
        delivered stays in the database for the next start."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget

        def left(reserve: float = 0.0) -> float:
            return max(0.0, deadline - reserve - loop.time())

        for task in self._upkeep:
            task.cancel()
        await asyncio.gather(*self._upkeep, return_exceptions=True)
        await self.receiver.stop(grace=min(RECEIVER_GRACE, left()))
        if self._flow:
            await self._drain(left)
        for sink in self.sinks:
            try:
                await asyncio.wait_for(sink.stop(), max(left(), SINK_STOP_MIN))
            except TimeoutError:
                log.warning("sink %s did not close within the shutdown budget", sink.name)
            except Exception:
                log.exception("sink %s did not stop cleanly", sink.name)

    async def _drain(self, left: Callable[..., float]) -> None:
        """Commit, decode and deliver what is in hand, within what is ``left`` of the budget."""
        committer, decoder, *drivers = self._flow
        self.committer.finish()
        for driver in self.drivers:
            driver.finish()
        if await _stop_within(committer, left()):
            await self.fallback.finish()
            await self.housekeeping.finish()
        else:
            log.error(
                "stopping with %d packets not committed: the database did not take "
                "them within the shutdown budget",
                self.committer.pending,
            )
        self.decoder.finish()
        await _stop_within(decoder, left(SINK_STOP_RESERVE))
        _wake_all(self.drivers)
        if drivers:
            _, late = await asyncio.wait(drivers, timeout=left(SINK_STOP_RESERVE))
            for task in late:
                task.cancel()
        for task in self._flow:
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._flow, return_exceptions=True)


def _wake_all(parts: Sequence[SinkDriver | Decoder]) -> None:
    for part in parts:
        part.wake()


# --- the process ---------------------------------------------------------------------


async def serve(
    config: Config,
    *,
    demo: Demo | None = None,
    sinks: list[Sink] | None = None,
    on_ready: Callable[[Assembly], None] | None = None,
    on_web: Callable[[StatusServer], None] | None = None,
    stop: asyncio.Event | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """Run the bridge until SIGTERM, SIGINT or ``stop``; returns the exit code.

    ``clock`` is the wall clock (unix seconds) that packets' arrivals and
    everything judged by them are read from.
    """
    raise_file_limit()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(LoopExceptions())
    storage = config.storage
    try:
        with contextlib.ExitStack() as resources:
            try:
                resources.enter_context(database_lock(storage.path))
                spool = Spool(
                    storage.path, max_size_mb=storage.max_size_mb, min_free_mb=storage.min_free_mb
                )
                damage = open_or_replace(spool)
                resources.callback(spool.close)
            except (DatabaseError, OSError) as err:
                log.error("cannot use the database %s: %s", storage.path, err)
                return EXIT_DATABASE
            store = Store(spool, StageClock())
            resources.callback(store.close)
            code = await _run(config, store, sinks, demo, on_ready, on_web, stop, clock, damage)
            if code == 0:
                await _log_stopped(store)
            return code
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        loop.set_exception_handler(previous_handler)


async def _run(
    config: Config,
    store: Store,
    sinks: list[Sink] | None,
    demo: Demo | None,
    on_ready: Callable[[Assembly], None] | None,
    on_web: Callable[[StatusServer], None] | None,
    stop: asyncio.Event,
    clock: Callable[[], float],
    damage: Damage | None,
) -> int:
    """The assembly and its status page, from listening until ``stop``;
    ``damage``: the database found damaged at opening, to salvage."""
    metrics = None
    if config.http.enabled:
        # Imported here: the integration uses the runtime and has no use for it.
        from bridge.web.metrics import BridgeMetrics

        metrics = BridgeMetrics(clock)
    assembly = Assembly(
        config,
        store,
        build_sinks(config) if sinks is None else sinks,
        events=metrics or RuntimeEvents(),
        stages=store.stages,
        clock=clock,
    )
    try:
        await assembly.listen()
    except OSError as err:
        hint = _listen_hint(err, "listen.port")
        log.error("cannot listen on %s:%s: %s", config.listen.host, config.listen.port, hint)
        return EXIT_LISTEN
    background: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(
            signal.SIGUSR1,
            lambda: background.append(asyncio.create_task(_log_stages(assembly))),
        )
    web = None
    try:
        await assembly.start(damage)
        await _log_startup(assembly)
        if metrics is not None:
            web = await _start_web(config, assembly, metrics, clock)
        if demo is not None:
            background.append(asyncio.create_task(run_demo(config, assembly.status.port, demo)))
        if on_web is not None and web is not None:
            on_web(web)
        if on_ready is not None:
            on_ready(assembly)
        await stop.wait()
        log.info("stopping: no new connections, finishing what is in hand")
        for task in background:
            task.cancel()
        stopping = loop.time()
        await assembly.stop(SHUTDOWN_BUDGET)
        log.info("shutdown took %.1f s", loop.time() - stopping)
    finally:
        if web is not None:
            await web.stop()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
    return 0


async def _start_web(
    config: Config, assembly: Assembly, metrics: BridgeMetrics, clock: Callable[[], float]
) -> StatusServer | None:
    """The status page, or None when its port cannot be had: stations come first."""
    from bridge.web import StatusServer

    web = StatusServer(config, assembly.status, metrics, assembly.reprocess, clock)
    try:
        await web.start()
    except OSError as err:
        log.error(
            "cannot serve the status page on %s:%d: %s; receiving without it "
            "(set http.port, or http.enabled: false)",
            config.http.host,
            config.http.port,
            _listen_hint(err),
        )
        return None
    log.info("status page: %s (also /metrics, /api/stations, /healthz)", web.url)
    return web


async def _log_stages(assembly: Assembly) -> None:
    """Log the CPU time by stage and the threads' totals (on ``SIGUSR1``): one
    JSON line, for the benchmark and for anyone asking where the CPU goes."""
    report = {
        **assembly.stages.snapshot(),
        # Read on the event loop's thread and the database's; the InfluxDB
        # writer's is what the process used besides the two.
        "loop_thread": time.thread_time(),
        "spool_thread": await assembly.store.thread_time(),
        "process": time.process_time(),
    }
    log.info("CPU by stage: %s", json.dumps(report))


def _listen_hint(err: OSError, key: str = "http.port") -> str:
    if err.errno == errno.EADDRINUSE:
        return f"another program uses it: stop that program or set {key}"
    return str(err.strerror or err)


async def _log_startup(assembly: Assembly) -> None:
    config = assembly.config
    counts = await assembly.store.counts()
    log.info(
        "wxstation bridge listening on %s:%d; database %s (%d packets, %d kept aside)",
        config.listen.host,
        assembly.status.port,
        config.storage.path,
        sum(counts.values()),
        counts.get("kept", 0),
    )
    for device_id, station in sorted(config.stations.items()):
        log.info("station %d: %s (%s parser)", device_id, station.name, station.parser.kind)
    if config.unknown_stations.action == "decode":
        log.info("unknown stations: decoded with the %s parser", config.unknown_stations.parser)
    else:
        log.info("unknown stations: kept aside until configured")
    names = ", ".join(sink.name for sink in assembly.sinks) or "none besides the database"
    log.info("sinks: %s", names)


async def _log_stopped(store: Store) -> None:
    counts = await store.counts()
    log.info(
        "stopped; %d packets decoded, %d kept aside, %d waiting",
        counts.get("done", 0),
        counts.get("kept", 0),
        counts.get("new", 0),
    )
