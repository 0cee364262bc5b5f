"""How far a long command is (``ingest``, ``reprocess``, ``export``), on stderr.

On a terminal each step of the command is a bar (tqdm) with its count, rate and
time left, and log lines print above it; otherwise (a pipe, a log file, a
systemd unit) a step is a few plain lines, never a bar's redraws. Either way the
command ends with one summary line and the time it took. Stdout stays the
command's own: ``export`` writes its data there.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Self, TextIO, TypeVar

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

__all__ = ["PLAIN_INTERVAL", "PLAIN_STEPS", "SCALED_FROM", "Progress", "Step"]

#: Plain lines a step prints at most while it runs: one at each tenth of the
#: way, so that a log of a year's ingest holds a few lines, not one per packet.
PLAIN_STEPS = 10
#: Seconds between two plain lines at least: a step done within them prints
#: only its last line.
PLAIN_INTERVAL = 5.0
#: A plain line while a step runs, and the line that ends it (tqdm's fields).
PLAIN_RUNNING = (
    "{desc}: {n_fmt}{unit} of {total_fmt}{unit} ({percentage:.0f} %), {rate_fmt}, {remaining} left"
)
PLAIN_DONE = "{desc}: {n_fmt}{unit} in {elapsed}, {rate_fmt}"
#: Counts from which a step shows its figures scaled (10.1k packets): below
#: it, as they are (tqdm would write 3.00 packets). Sizes are always scaled.
SCALED_FROM = 1000

T = TypeVar("T")


class Step:
    """One step of a command: ``advance`` it by what was done."""

    def __init__(
        self,
        what: str,
        total: int,
        unit: str,
        *,
        stream: TextIO,
        terminal: bool,
        clock: Callable[[], float],
    ) -> None:
        self.what = what
        self.total = total
        #: Counts have a space before their unit (" packets"), sizes none ("B").
        self.unit = unit
        self._scaled = unit == "B" or total >= SCALED_FROM
        self._stream = stream
        self._clock = clock
        self._started = self._last_line = clock()
        self.done = 0
        self._next_line = self._tenth(1)
        self._bar = (
            tqdm(
                desc=what,
                total=total,
                unit=unit,
                unit_scale=self._scaled,
                file=stream,
                dynamic_ncols=True,
            )
            # Nothing to do shows no bar (tqdm takes a total of 0 for unknown).
            if terminal and total > 0
            else None
        )

    def advance(self, count: int = 1) -> None:
        """``count`` more of the step's units are done."""
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
        elif self.done >= self._next_line:
            self._plain_line()

    def track(self, items: Iterable[T]) -> Iterator[T]:
        """``items``, advancing by one after each."""
        for item in items:
            yield item
            self.advance()

    def close(self, *, finished: bool = True) -> None:
        """The step is over: the bar stays as it ended, or one plain line says so.

        A step that ``finished`` did all there was, whatever its total said
        (``export``'s is at most what it writes).
        """
        if finished:
            self.total = self.done
        if self._bar is not None:
            if finished:
                self._bar.total = self.done
                self._bar.refresh()
            self._bar.close()
        elif self.done:
            self._print(PLAIN_DONE)

    def _plain_line(self) -> None:
        now = self._clock()
        if now - self._last_line >= PLAIN_INTERVAL and self.done < self.total:
            self._last_line = now
            self._print(PLAIN_RUNNING)
        # The next tenth not reached yet, so that a big advance prints one line.
        self._next_line = self._tenth(self.done * PLAIN_STEPS // max(self.total, 1) + 1)

    def _tenth(self, number: int) -> int:
        return math.ceil(self.total * number / PLAIN_STEPS)

    def _print(self, layout: str) -> None:
        line = tqdm.format_meter(
            self.done,
            self.total,
            self._clock() - self._started,
            prefix=self.what,
            unit=self.unit,
            unit_scale=self._scaled,
            bar_format=layout,
        )
        print(line, file=self._stream, flush=True)


class Progress:
    """A command's progress on ``stream``: its steps one after the other, then
    its summary line.

    Use it as a context manager: on a terminal, log lines then print above the
    bar instead of through it. ``terminal`` is whether ``stream`` is one
    (asked of it when not given); ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        terminal: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.terminal = stream.isatty() if terminal is None else terminal
        self._clock = clock
        self._started = clock()
        self._held = contextlib.ExitStack()

    def __enter__(self) -> Self:
        if self.terminal:
            self._held.enter_context(logging_redirect_tqdm([logging.getLogger()]))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._held.close()

    @contextlib.contextmanager
    def step(self, what: str, total: int, unit: str = " packets") -> Iterator[Step]:
        """A step of ``total`` units (" packets", " samples", or "B" for bytes)."""
        step = Step(
            what, total, unit, stream=self.stream, terminal=self.terminal, clock=self._clock
        )
        try:
            yield step
        except BaseException:
            step.close(finished=False)
            raise
        step.close()

    def summary(self, text: str) -> None:
        """The command's last line: ``text`` and the time the command took."""
        print(f"{text}; took {self._clock() - self._started:.1f} s", file=self.stream, flush=True)
