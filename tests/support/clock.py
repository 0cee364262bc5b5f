"""A clock the test moves by hand."""

from __future__ import annotations


class Clock:
    """A wall clock (unix seconds) that moves only when a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
