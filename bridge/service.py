"""What the running bridge (:mod:`bridge.runtime.assembly`) and the offline
commands share: the database lock that keeps two bridges off one database, the
sinks the config turns on, the exit codes, and the offline work (``ingest``,
``reprocess``) that decodes in-process when no bridge is running and leaves it
to the running one otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from bridge.config import Config
from bridge.decoding import decode_one, log_result
from bridge.errors import DatabaseBusyError, DatabaseError
from bridge.runtime.store import decode_pending
from bridge.sinks import Sink
from bridge.spool import Spool
from bridge.timing import StationClock

__all__ = [
    "EXIT_CONFIG",
    "EXIT_DATABASE",
    "EXIT_INPUT",
    "EXIT_LISTEN",
    "DatabaseBusyError",
    "build_sinks",
    "database_lock",
    "decode_offline",
    "decode_pending",
    "decode_removed",
    "raise_file_limit",
]

log = logging.getLogger("bridge")

EXIT_CONFIG = 1
EXIT_LISTEN = 3
EXIT_DATABASE = 4
EXIT_INPUT = 5


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
    return sinks


def decode_offline(spool: Spool, config: Config) -> tuple[int, int]:
    """Decode every new packet now; returns (decoded, kept aside)."""
    clocks: dict[int, StationClock] = spool.clocks()
    decoded = kept = 0
    while results := decode_pending(spool, config, clocks):
        for result in results:
            log_result(result)
            if result.batch is None:
                kept += 1
            else:
                decoded += 1
    return decoded, kept


def decode_removed(spool: Spool, config: Config) -> tuple[int, int]:
    """Decode again the packets whose decoded history gave way at the cap;
    returns how many, and the samples they brought.

    Each such station's packets are replayed from its first one with a clock of
    their own (the station's clock in the database stays as it is), so the
    samples get the times they had; only the packets whose history was removed
    are stored again, as new batches that the sinks deliver again (InfluxDB
    writes the same points, Home Assistant takes a sample once).
    """
    packets = samples = 0
    for removed in spool.removed_history():
        clocks: dict[int, StationClock] = {}
        after = 0
        while rows := spool.packets_with_history(removed.device_id, after=after):
            after = rows[-1][0].id
            again = []
            for packet, gave_way in rows:
                result = decode_one(config, clocks, packet)
                if gave_way and result.batch is not None:
                    again.append((packet.id, result.batch))
            for stored in spool.record(again, [], {}):
                packets += 1
                samples += len(stored.batch.samples)
        spool.forget_removed(removed.device_id)
    return packets, samples


def raise_file_limit() -> None:
    """Allow as many open sockets as the system lets this process have: a burst
    of stations waking at once is a burst of connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
