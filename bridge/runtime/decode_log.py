"""The decoded packets' log lines: one a packet at a station's pace, a summary
when the rate makes them noise.

Stations wake every few minutes, so a bridge with a few dozen of them logs a
line a packet, as it always has (:func:`wxstation.decoding.log_result`). A backlog
being decoded, a replay or thousands of stations would write thousands of such
lines a second, and formatting them costs more than a third of decoding: past
:data:`LOG_LINES_PER_WINDOW` routine packets in :data:`LOG_WINDOW` seconds the
rest of the window is counted, and one line sums it up when the window ends.
A packet worth a warning (kept aside, cut, a conflict, a value out of range)
always gets its own lines.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from wxstation.decoding import DecodeResult, log_result, routine

__all__ = ["LOG_LINES_PER_WINDOW", "LOG_WINDOW", "DecodeLog"]

log = logging.getLogger("wxstation.decoding")

#: Seconds over which routine packets' lines are counted.
LOG_WINDOW = 10.0
#: Routine packets logged one line each within a window. Two a second is more
#: than 250 stations waking every two minutes send; past it, a reader learns
#: more from one line that says how many than from a screenful of them.
LOG_LINES_PER_WINDOW = 20


class DecodeLog:
    """Logs decoded packets, each or summed up by the window (``clock``: monotonic seconds)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._window_start: float | None = None
        self._lines = 0
        #: Routine packets of this window not logged one by one, their samples
        #: and stations.
        self._held = 0
        self._samples = 0
        self._stations: set[int] = set()

    def log(self, results: Sequence[DecodeResult]) -> None:
        """The lines of these packets, or their share of the window's summary."""
        self.flush()
        for result in results:
            if not routine(result):
                log_result(result)
                continue
            if self._window_start is None:
                self._window_start = self._clock()
            if self._lines < LOG_LINES_PER_WINDOW:
                self._lines += 1
                log_result(result)
                continue
            batch = result.batch
            assert batch is not None
            self._held += 1
            self._samples += len(batch.samples)
            self._stations.add(batch.device_id)

    def flush(self, *, final: bool = False) -> None:
        """End the window once it has passed (or now, ``final``), with its summary line."""
        start = self._window_start
        if start is None:
            return
        elapsed = self._clock() - start
        if elapsed < LOG_WINDOW and not final:
            return
        if self._held:
            log.info(
                "%d more packets decoded in %.0f s (%d samples from %d stations); "
                "routine packets are logged one by one up to %d in %g s",
                self._held,
                elapsed,
                self._samples,
                len(self._stations),
                LOG_LINES_PER_WINDOW,
                LOG_WINDOW,
            )
        self._window_start = None
        self._lines = self._held = self._samples = 0
        self._stations = set()
