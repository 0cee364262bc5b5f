"""``wxstation-bridge run``: the receiver, the pipeline and the sinks, as one service.

Also the database lock that keeps two bridges off one database, and the
offline work (``ingest``, ``reprocess``) that decodes in-process when no
bridge is running and leaves it to the running one otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import json
import logging
import resource
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from bridge.config import Config, local_url_host
from bridge.decoding import refusal
from bridge.errors import DatabaseBusyError, DatabaseError
from bridge.noise import NoiseTracker
from bridge.pipeline import Pipeline, SpoolThread
from bridge.runtime.receiving import Receiver
from bridge.sim import run_fleet
from bridge.sinks import Sink
from bridge.spool import Spool
from bridge.stages import StageClock

if TYPE_CHECKING:
    from bridge.web import StatusServer

__all__ = [
    "EXIT_CONFIG",
    "EXIT_DATABASE",
    "EXIT_INPUT",
    "EXIT_LISTEN",
    "DatabaseBusyError",
    "build_sinks",
    "database_lock",
    "raise_file_limit",
    "serve",
]

log = logging.getLogger("bridge")

EXIT_CONFIG = 1
EXIT_LISTEN = 3
EXIT_DATABASE = 4
EXIT_INPUT = 5
#: Seconds from SIGTERM until the bridge has stopped: the receiver finishes the
#: connections in hand, the pipeline commits, decodes and delivers what it can,
#: the sinks close. One budget for all of it, well inside systemd's
#: ``TimeoutStopSec=30`` of deploy/wxstation-bridge.service, so the bridge is
#: never killed while committing. An InfluxDB write already under way when the
#: budget ends can keep the process up to ``influxdb.timeout`` (10 s) longer.
SHUTDOWN_BUDGET = 15.0
#: Seconds of the budget that connections still being read may take: a station
#: sends its packet within a second of connecting.
RECEIVER_GRACE = 5.0
#: Seconds between deletions of samples older than storage.retention_days.
PRUNE_INTERVAL = 3600.0
#: Packets a demo fleet sends before it stops: in effect, until the bridge stops.
DEMO_PACKETS = 10**9


@contextlib.contextmanager
def database_lock(path: Path, *, wait: bool = False) -> Iterator[IO[str]]:
    """Hold ``<database>.lock`` for as long as a process works on the database."""
    lock = path.parent / (path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock.open("a+")
    except OSError as err:
        raise DatabaseError(path, f"cannot create {lock}: {err.strerror or err}") from err
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError as err:
            raise DatabaseBusyError(path) from err
        yield handle
    finally:
        handle.close()


def build_sinks(config: Config) -> list[Sink]:
    """The sinks the config turns on, besides the embedded store."""
    # Imported here: each client library loads only when its sink is configured.
    sinks: list[Sink] = []
    if config.influxdb is not None:
        from bridge.sinks.influx import InfluxSink

        sinks.append(InfluxSink(config.influxdb, config))
    if config.mqtt is not None:
        from bridge.sinks.mqtt import MqttSink

        sinks.append(MqttSink(config.mqtt, config))
    if config.uploads:
        # Weather networks: one sink per configured upload (docs/uploads.md).
        from bridge.sinks.uploads import upload_sinks

        sinks.extend(upload_sinks(config))
    return sinks


def raise_file_limit() -> None:
    """Allow as many open sockets as the system lets this process have: a burst
    of stations waking at once is a burst of connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass(frozen=True, slots=True)
class Demo:
    """Simulated stations that a demo run sends to itself, in real time.

    They wake every 10 s with a sample every 2 s (the firmware's intervals are
    settings), so a newcomer sees calibrated samples flow within seconds.
    """

    stations: int = 3
    wake_every_s: int = 10
    measure_every_s: int = 2


async def serve(
    config: Config,
    *,
    demo: Demo | None = None,
    sinks: list[Sink] | None = None,
    on_ready: Callable[[Receiver, Pipeline], None] | None = None,
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
    loop.set_exception_handler(loop_exception)

    storage = config.storage
    with contextlib.ExitStack() as resources:
        try:
            resources.enter_context(database_lock(storage.path))
            spool = Spool(
                storage.path, max_size_mb=storage.max_size_mb, min_free_mb=storage.min_free_mb
            )
            resources.enter_context(spool)
        except (DatabaseError, OSError) as err:
            log.error("cannot use the database %s: %s", storage.path, err)
            return EXIT_DATABASE
        thread = SpoolThread(spool)
        resources.callback(thread.close)
        noise = NoiseTracker(clock=clock)
        stages = StageClock()
        pipeline = Pipeline(
            config,
            thread,
            build_sinks(config) if sinks is None else sinks,
            noise=noise,
            stages=stages,
            clock=clock,
        )
        receiver = Receiver(
            config.listen,
            pipeline.put,
            refusal=functools.partial(refusal, config),
            noise=noise,
            stages=stages,
            clock=clock,
        )
        background: list[asyncio.Task[None]] = []

        def report_stages() -> None:
            background.append(asyncio.create_task(_log_stages(stages, thread)))

        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGUSR1, report_stages)

        def room(reason: str | None) -> None:
            if (reason is None) == (receiver.paused is None):
                return
            action = receiver.pause(reason) if reason else receiver.resume()
            background.append(asyncio.create_task(action))

        pipeline.on_room = room
        web = None
        if config.http.enabled:
            # Imported here: the integration uses this module and has no use for it.
            from bridge.web import StatusServer

            web = StatusServer(config, receiver, pipeline)
            pipeline.events = web.metrics
        try:
            await receiver.start()
        except OSError as err:
            hint = _listen_hint(err, "listen.port")
            log.error("cannot listen on %s:%s: %s", config.listen.host, config.listen.port, hint)
            return EXIT_LISTEN
        try:
            await pipeline.start()
            _log_startup(config, receiver, spool, pipeline)
            if web is not None:
                try:
                    await web.start()
                    log.info("status page: %s (also /metrics, /api/stations, /healthz)", web.url)
                except OSError as err:
                    # Stations come first: the bridge receives without its page.
                    log.error(
                        "cannot serve the status page on %s:%d: %s; receiving without it "
                        "(set http.port, or http.enabled: false)",
                        config.http.host,
                        config.http.port,
                        _listen_hint(err),
                    )
                    web = None
            if demo is not None:
                background.append(asyncio.create_task(_run_demo(config, receiver, demo)))
            if storage.retention_days > 0:
                pruning = prune_history(thread, storage.retention_days, clock)
                background.append(asyncio.create_task(pruning))
            if on_web is not None and web is not None:
                on_web(web)
            if on_ready is not None:
                on_ready(receiver, pipeline)
            await stop.wait()
            log.info("stopping: no new connections, finishing what is in hand")
            for task in background:
                task.cancel()
            stopping = loop.time()
            await receiver.stop(grace=RECEIVER_GRACE)
            await pipeline.stop(max(0.0, SHUTDOWN_BUDGET - (loop.time() - stopping)))
            log.info("shutdown took %.1f s", loop.time() - stopping)
        finally:
            if web is not None:
                await web.stop()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            loop.set_exception_handler(previous_handler)
        counts = spool.packets.counts()
        log.info(
            "stopped; %d packets decoded, %d kept aside, %d waiting",
            counts.get("done", 0),
            counts.get("kept", 0),
            counts.get("new", 0),
        )
    return 0


async def _log_stages(stages: StageClock, thread: SpoolThread) -> None:
    """Log the CPU time by stage and the threads' totals (on ``SIGUSR1``): one
    JSON line, for the benchmark and for anyone asking where the CPU goes."""
    report = {
        **stages.snapshot(),
        # Read on the event loop's thread and the database's; the InfluxDB
        # writer's is what the process used besides the two.
        "loop_thread": time.thread_time(),
        "spool_thread": await thread.call(time.thread_time),
        "process": time.process_time(),
    }
    log.info("CPU by stage: %s", json.dumps(report))


def _listen_hint(err: OSError, key: str = "http.port") -> str:
    if err.errno == errno.EADDRINUSE:
        return f"another program uses it: stop that program or set {key}"
    return str(err.strerror or err)


class _Throttle:
    """At most one report per ``every`` seconds, and how many were held back."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.last: float | None = None
        self.held = 0

    def count(self, now: float) -> int | None:
        """None to stay silent; otherwise the number held back since the last report."""
        if self.last is not None and now - self.last < self.every:
            self.held += 1
            return None
        held, self.held, self.last = self.held, 0, now
        return held


_OUT_OF_FILES = _Throttle(60.0)


def loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The event loop's handler for errors in callbacks nobody awaits.

    The MQTT client asks the loop, from paho's callbacks, to watch its socket; when
    the broker drops the connection at that moment the socket is closed before the
    loop gets to it, and the loop reports a bad file descriptor with a traceback.
    The client notices the lost connection itself and reconnects, so that one case
    is a warning. So is running out of file descriptors while accepting (a flood
    of connections faster than they are closed; one line a minute at most): the
    loop stops accepting for a second and goes on by itself, and the stations'
    connections wait in the kernel's backlog meanwhile. Everything else goes to
    the loop's default handler.
    """
    error = context.get("exception")
    if isinstance(error, OSError) and error.errno in (errno.EMFILE, errno.ENFILE):
        # The loop reports it for every connection it fails to take, thousands a
        # second in a flood: one line a minute says it, with how often.
        repeats = _OUT_OF_FILES.count(time.monotonic())
        if repeats is not None:
            log.warning(
                "out of file descriptors accepting connections (%s%s); accepting again "
                "in a second. Raise the open-files limit (LimitNOFILE) if this is not "
                "a flood",
                error,
                f"; {repeats} more times in the last minute" if repeats else "",
            )
        return
    callback = repr(context.get("handle"))
    if (
        isinstance(error, OSError)
        and error.errno == errno.EBADF
        and ("add_writer" in callback or "add_reader" in callback)
    ):
        log.warning("a socket closed before the event loop could watch it (%s)", error)
        return
    loop.default_exception_handler(context)


def _log_startup(config: Config, receiver: Receiver, spool: Spool, pipeline: Pipeline) -> None:
    counts = spool.packets.counts()
    log.info(
        "wxstation bridge listening on %s:%d; database %s (%d packets, %d kept aside)",
        config.listen.host,
        receiver.port,
        spool.path,
        sum(counts.values()),
        counts.get("kept", 0),
    )
    for device_id, station in sorted(config.stations.items()):
        log.info("station %d: %s (%s parser)", device_id, station.name, station.parser.kind)
    if config.unknown_stations.action == "decode":
        log.info("unknown stations: decoded with the %s parser", config.unknown_stations.parser)
    else:
        log.info("unknown stations: kept aside until configured")
    names = ", ".join(sink.name for sink in pipeline.sinks) or "none besides the database"
    log.info("sinks: %s", names)


async def _run_demo(config: Config, receiver: Receiver, demo: Demo) -> None:
    """Simulated stations sending to this bridge until it stops."""
    parsers = {device: station.parser for device, station in config.stations.items()}
    host = local_url_host(config.listen.host).strip("[]")
    log.info("demo: %d simulated stations send to %s:%d", demo.stations, host, receiver.port)
    await asyncio.sleep(0.2)
    await run_fleet(
        host,
        receiver.port,
        parsers,
        stations=demo.stations,
        rate=demo.stations / demo.wake_every_s,
        packets=DEMO_PACKETS,
        start=time.time() - demo.wake_every_s,
        wake_every_s=demo.wake_every_s,
        measure_every_s=demo.measure_every_s,
    )


def retention_cutoff_ms(now: float, retention_days: float) -> int:
    """The time (epoch ms) before which decoded samples are deleted."""
    return round((now - retention_days * 86400) * 1000)


async def prune_history(
    thread: SpoolThread,
    retention_days: float,
    clock: Callable[[], float] = time.time,
    interval: float = PRUNE_INTERVAL,
) -> None:
    """Delete decoded samples older than ``retention_days`` now and every ``interval``."""
    while True:
        removed = await thread.call(
            thread.spool.samples.prune, retention_cutoff_ms(clock(), retention_days)
        )
        if removed:
            log.info("deleted %d samples older than %g days", removed, retention_days)
        await asyncio.sleep(interval)


def demo_database() -> Path:
    """A throwaway database for ``run --demo`` without a config file."""
    return Path(tempfile.mkdtemp(prefix="wxstation-demo-")) / "wxstation.db"


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    # The client libraries speak at INFO about every request; keep their warnings.
    for noisy in ("urllib3", "influxdb_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
