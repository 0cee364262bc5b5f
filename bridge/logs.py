"""The bridge's log: its format, and the event loop's errors that are not bugs."""

from __future__ import annotations

import asyncio
import errno
import logging
import time
from typing import Any

__all__ = ["LoopExceptions", "Throttle", "configure_logging"]

log = logging.getLogger("bridge")

#: Seconds between two reports that the process ran out of file descriptors.
OUT_OF_FILES_EVERY = 60.0


def configure_logging(level: str) -> None:
    """Log to stderr at ``level``, a line each with the time and the level."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    # The client libraries speak at INFO about every request; keep their warnings.
    for noisy in ("urllib3", "influxdb_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class Throttle:
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


class LoopExceptions:
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

    def __init__(self) -> None:
        self._out_of_files = Throttle(OUT_OF_FILES_EVERY)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in (errno.EMFILE, errno.ENFILE):
            # The loop reports it for every connection it fails to take, thousands a
            # second in a flood: one line a minute says it, with how often.
            repeats = self._out_of_files.count(time.monotonic())
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
