"""Connection slots: how many connections the receiver serves at once, in all
and per source, and who is next when one ends."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Slots"]

T = TypeVar("T")


class Slots(Generic[T]):
    """At most ``total`` connections served at once, and at most ``per_source``
    of one source while ``limited`` says the source is to be held to it; the
    rest wait, first come first served.

    ``start(source, item)`` is called for each connection once it has its
    slots (at once, or when one comes free); every started connection is
    :meth:`release`\\ d once, which may be from within ``start``.
    """

    def __init__(
        self,
        total: int,
        per_source: int,
        limited: Callable[[str], bool],
        start: Callable[[str, T], None],
    ) -> None:
        self.total = total
        self.per_source = per_source
        self.limited = limited
        self.start = start
        self._busy = 0
        #: Connections of each source started or waiting for a slot of all.
        self._held: dict[str, int] = {}
        #: Waiting for a slot of their source; holding one, waiting for one of all.
        self._by_source: dict[str, deque[T]] = {}
        self._ready: deque[tuple[str, T]] = deque()
        self._starting = False

    @property
    def waiting(self) -> int:
        """Connections not started yet."""
        return len(self._ready) + sum(len(queue) for queue in self._by_source.values())

    def admit(self, source: str, item: T) -> None:
        """A new connection of ``source``: started now if there are slots, else queued."""
        self._take(source, item)
        self._start_ready()

    def release(self, source: str) -> None:
        """A started connection of ``source`` ended: its slots go to the next."""
        self._busy -= 1
        self._held[source] -= 1
        if not self._held[source]:
            del self._held[source]
        self.wake(source, 1)

    def wake(self, source: str, count: int | None = None) -> None:
        """Let ``count`` connections of the source waiting for its slots look again
        (all when None): a slot came free, or the source is no longer limited
        (a station's now, or refused, so that its waiting ones are closed)."""
        queue = self._by_source.get(source)
        if queue:
            for _ in range(len(queue) if count is None else min(count, len(queue))):
                self._take(source, queue.popleft())
            if not queue:
                del self._by_source[source]
        self._start_ready()

    def drain(self) -> list[T]:
        """Every connection not started yet, taken out of the queues."""
        waiting = []
        for source, item in self._ready:
            waiting.append(item)
            self._held[source] -= 1
            if not self._held[source]:
                del self._held[source]
        for queue in self._by_source.values():
            waiting += queue
        self._ready.clear()
        self._by_source.clear()
        return waiting

    def _take(self, source: str, item: T) -> None:
        held = self._held.get(source, 0)
        if held >= self.per_source and self.limited(source):
            self._by_source.setdefault(source, deque()).append(item)
            return
        self._held[source] = held + 1
        self._ready.append((source, item))

    def _start_ready(self) -> None:
        # A connection may end within ``start`` and release its slots, which
        # comes back here: the outer call goes on, so the stack stays flat.
        if self._starting:
            return
        self._starting = True
        try:
            while self._ready and self._busy < self.total:
                source, item = self._ready.popleft()
                self._busy += 1
                self.start(source, item)
        finally:
            self._starting = False
