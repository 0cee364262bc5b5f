"""What the running bridge (:mod:`bridge.runtime.assembly`) and the offline
commands (:mod:`bridge.offline`) share: the database lock that keeps two
bridges off one database, the sinks the config turns on, the open-files limit
and the exit codes.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from bridge.errors import DatabaseBusyError, DatabaseError
from bridge.sinks import Sink
from wxstation.config import Config

__all__ = [
    "EXIT_CONFIG",
    "EXIT_DATABASE",
    "EXIT_INPUT",
    "EXIT_LISTEN",
    "DatabaseBusyError",
    "build_sinks",
    "database_lock",
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
