"""The bridge's problems as the running bridge knows them, told to every sink.

The set itself is :class:`wxstation.problems.Problems`; this part holds it for the
runtime and hands the whole set to every sink whenever it changes
(:meth:`bridge.sinks.Sink.report_problems`), so the MQTT sink can keep it
retained for Home Assistant's repair issues.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bridge.sinks import Sink
from wxstation.problems import Problem, Problems

__all__ = ["ProblemBoard"]

log = logging.getLogger(__name__)


class ProblemBoard:
    """What is wrong now; every change is told to ``sinks``."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self._sinks = tuple(sinks)
        self._problems = Problems()

    def current(self) -> tuple[Problem, ...]:
        """Every problem that holds, the oldest first."""
        return self._problems.current()

    def __contains__(self, key: object) -> bool:
        return key in self._problems

    def raise_problem(self, problem: Problem) -> None:
        """``problem`` holds (again, or with new words)."""
        if self._problems.raise_problem(problem):
            self.tell()

    def clear(self, key: str) -> None:
        """The problem of ``key`` no longer holds."""
        if self._problems.clear(key):
            self.tell()

    def tell(self) -> None:
        """Hand the whole set to every sink (at start, and after each change)."""
        problems = self.current()
        for sink in self._sinks:
            try:
                sink.report_problems(problems)
            except Exception:
                # A sink that cannot take the report still delivers; the next
                # change tells it again.
                log.exception("%s did not take the bridge's problems", sink.name)
