"""CPU time by stage of the bridge's work: where the time per packet goes.

Counters of thread CPU time (:func:`time.thread_time`) around each stage, cheap
enough to stay on (two clock reads per measured step, a few per packet). On
``SIGUSR1`` the bridge logs them with its threads' totals as one line, ``CPU by
stage: {...}``; the benchmark reads two such lines to print CPU microseconds
per packet by stage (see docs/performance.md).

A coroutine's stage counts only its own steps (:func:`StageClock.measured`),
not what other tasks do while it waits, so stages on the event loop do not
count each other's time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Coroutine, Generator, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["STAGES", "StageClock"]

T = TypeVar("T")

#: The stages, in the order a packet passes them.
STAGES = (
    "receive",  # accepting and reading connections: framing, screening, handing over (event loop)
    "commit",  # committing received packets (database thread)
    "decode",  # parsing and timing (database thread)
    "store",  # storing decoded packets, clocks and states (database thread)
    "read_back",  # reading batches back for a sink that is behind (database thread)
    "progress",  # saving a sink's progress (database thread)
    "log",  # one log line per decoded packet (event loop)
    "mqtt",  # the MQTT sink's delivery coroutine (event loop)
    "influxdb",  # the InfluxDB sink's delivery coroutine (event loop; its writes run on a thread)
)


class StageClock:
    """CPU seconds and calls per stage, added up since start."""

    def __init__(self) -> None:
        self.cpu = dict.fromkeys(STAGES, 0.0)
        self.calls = dict.fromkeys(STAGES, 0)

    def add(self, stage: str, seconds: float) -> None:
        self.cpu[stage] = self.cpu.get(stage, 0.0) + seconds
        self.calls[stage] = self.calls.get(stage, 0) + 1

    @contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        """Count the CPU time of the block (on the thread it runs on) to ``stage``."""
        began = time.thread_time()
        try:
            yield
        finally:
            self.add(stage, time.thread_time() - began)

    async def measured(self, stage: str, work: Coroutine[Any, Any, T]) -> T:
        """Await ``work``, counting only its own steps' CPU time to ``stage``."""
        self.add(stage, 0.0)
        return await _Steps(work, self.cpu, stage)

    def snapshot(self) -> dict[str, Any]:
        return {"cpu": dict(self.cpu), "calls": dict(self.calls)}


class _Steps(Awaitable[T]):
    """Drives a coroutine step by step, timing each step on the event loop's thread."""

    def __init__(self, work: Coroutine[Any, Any, T], cpu: dict[str, float], stage: str) -> None:
        self.work = work
        self.cpu = cpu
        self.stage = stage

    def __await__(self) -> Generator[Any, Any, T]:
        work, cpu, stage = self.work, self.cpu, self.stage
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            began = time.thread_time()
            try:
                step = work.send(sent) if thrown is None else work.throw(thrown)
            except StopIteration as done:
                cpu[stage] += time.thread_time() - began
                return done.value  # type: ignore[no-any-return]
            except BaseException:
                cpu[stage] += time.thread_time() - began
                raise
            cpu[stage] += time.thread_time() - began
            try:
                sent, thrown = (yield step), None
            except BaseException as err:  # cancellation or a failed future: into the coroutine
                sent, thrown = None, err
