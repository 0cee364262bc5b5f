"""Waiting longer after each failure: the retry policy of every loop that reconnects.

The MQTT connection and the runtime's delivery to a sink both try again after a
failure, each wait twice the one before up to a ceiling, with some jitter so that
bridges restarted together (or a sink's retries and its connection's) do not
knock in step. Success starts the waits again from the first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass(slots=True)
class Backoff:
    """Doubling waits from ``first`` to ``most`` seconds, each jittered by ``jitter``
    (0.2: up to 20 % shorter or longer)."""

    first: float
    most: float
    jitter: float
    _next: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.most:
            raise ValueError(
                f"backoff from {self.first} s to {self.most} s: need 0 < first <= most"
            )
        if not 0 <= self.jitter < 1:
            raise ValueError(f"backoff jitter {self.jitter}: need 0 <= jitter < 1")
        self._next = self.first

    def step(self) -> float:
        """The next wait before jitter, and double it (up to ``most``) for the one after."""
        wait = self._next
        self._next = min(wait * 2, self.most)
        return wait

    def jittered(self, seconds: float) -> float:
        """``seconds`` made a little shorter or longer at random."""
        return seconds * random.uniform(1 - self.jitter, 1 + self.jitter)  # noqa: S311  (not security)

    def reset(self) -> None:
        """Start again from ``first``: the last attempt succeeded."""
        self._next = self.first
