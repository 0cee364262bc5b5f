"""What a process costs, read from ``/proc``: resident memory and CPU time."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CpuWindow", "cpu_seconds", "memory_kb", "percentile"]

_TICKS = os.sysconf("SC_CLK_TCK")


def memory_kb(pid: int) -> dict[str, int]:
    """``VmRSS`` (resident now) and ``VmHWM`` (resident at its peak) in kB."""
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process (all its threads) has used."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # The command name in parentheses may hold spaces: count from its end.
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


@dataclass
class CpuWindow:
    """CPU use of some processes between :meth:`start` and :meth:`stop`."""

    pids: dict[str, int]
    began: float = 0.0
    wall: float = 0.0
    used: dict[str, float] | None = None
    _start: dict[str, float] | None = None

    def start(self) -> CpuWindow:
        self._start = {name: _cpu_or_nan(pid) for name, pid in self.pids.items()}
        self.began = time.monotonic()
        return self

    def stop(self) -> CpuWindow:
        assert self._start is not None
        self.wall = time.monotonic() - self.began
        self.used = {name: _cpu_or_nan(pid) - self._start[name] for name, pid in self.pids.items()}
        return self

    def percent(self, name: str) -> float:
        """Percent of one core the process used over the window."""
        assert self.used is not None
        return 100.0 * self.used[name] / self.wall if self.wall > 0 else math.nan


def _cpu_or_nan(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:  # the process has ended
        return math.nan


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
