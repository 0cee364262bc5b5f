"""What the running bridge shows: one read-only :class:`Status`, and the events it counts.

The assembly builds the status once, from the parts it built; the status page,
``/metrics`` and ``/healthz`` read it and nothing else of the runtime.
:class:`RuntimeEvents` is what the parts tell whoever counts their work (the
bridge's metrics), passed to each part when it is built.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bridge.sinks import Sink
from wxstation.decoding import DecodeResult
from wxstation.packets import Received
from wxstation.problems import Problem
from wxstation.samples import Batch

__all__ = ["Room", "RuntimeEvents", "SinkState", "SinkStatus", "Status"]


class RuntimeEvents:
    """What the runtime tells whoever counts its work (the bridge's metrics).

    Each method is called on the event loop, right after the step it names,
    once per group of packets or batches; the defaults do nothing.
    """

    def committed(self, items: Sequence[Received]) -> None:
        """These packets are in the database."""

    def decoded(self, results: Sequence[DecodeResult]) -> None:
        """These packets were decoded and their samples stored, or kept aside."""

    def delivered(self, sink: str, batches: Sequence[Batch]) -> None:
        """A sink took these batches."""

    def sink_failed(self, sink: str, reason: str) -> None:
        """A sink's service was unavailable; its driver tries again after a wait."""

    def sink_refused(self, sink: str, batch: Batch, reason: str) -> None:
        """A sink refused a batch for good; it is kept aside."""


@dataclass
class SinkState:
    """How a sink's delivery is going, as its driver knows it (times by the bridge's clock)."""

    #: Since when (unix seconds) the sink's service has been unavailable.
    down_since: float | None = None
    #: The latest failure in the service's words, and when.
    last_error: str | None = None
    last_error_at: float | None = None
    #: When the sink last took batches.
    last_delivery: float | None = None


class Room:
    """Why packets do not fit, as the two parts that can tell say it: the
    committer (the database failed a write) and housekeeping (the cap, the
    disk). A failed write outranks the room measured, which cannot see it."""

    def __init__(self) -> None:
        self._failed: str | None = None
        self._measured: str | None = None
        #: Set whenever :attr:`reason` changes; the assembly pauses or resumes
        #: the receiver on it.
        self.changed = asyncio.Event()

    @property
    def reason(self) -> str | None:
        """Why packets do not fit; None while they do."""
        return self._failed or self._measured

    def write_failed(self, reason: str | None) -> None:
        """The committer's word: why the last write failed, or None once one succeeded."""
        before = self.reason
        self._failed = reason
        self._tell(before)

    def measured(self, reason: str | None) -> None:
        """Housekeeping's word: why packets do not fit by the room left, or None."""
        before = self.reason
        self._measured = reason
        self._tell(before)

    def _tell(self, before: str | None) -> None:
        if self.reason != before:
            self.changed.set()


class ReceiverView(Protocol):
    """What the status reads of the receiver."""

    @property
    def port(self) -> int: ...

    @property
    def paused(self) -> str | None: ...

    @property
    def listening(self) -> bool: ...

    @property
    def connections(self) -> int: ...

    @property
    def refused(self) -> int: ...

    @property
    def timed_out(self) -> int: ...


@dataclass(frozen=True, slots=True)
class SinkStatus:
    """A sink as the running bridge knows it: its driver's state and its connection."""

    name: str
    state: SinkState
    sink: Sink

    @property
    def connected(self) -> bool | None:
        """Whether the sink holds a live connection to its service (None: it keeps none)."""
        return self.sink.connected


def _none() -> str | None:
    return None


class Status:
    """The running bridge's state, read-only: the receiver's counts, the room
    left for packets, each sink's delivery, the disk's faults.

    ``held`` says why packets are held off the database (its disk fails
    writes), ``damage`` what became of a damaged database; both None while
    there is nothing to say. ``opened`` counts the times the database was
    opened again.
    """

    def __init__(
        self,
        receiver: ReceiverView,
        room: Room,
        sinks: Sequence[SinkStatus],
        *,
        held: Callable[[], str | None] = _none,
        damage: Callable[[], str | None] = _none,
        opened: Callable[[], int] = int,
        problems: Callable[[], Sequence[Problem]] = tuple,
    ) -> None:
        self._receiver = receiver
        self._problems = problems
        self._room = room
        self._held = held
        self._damage = damage
        self._opened = opened
        #: Each sink by name, in the order they were configured.
        self.sinks: Mapping[str, SinkStatus] = {sink.name: sink for sink in sinks}

    @property
    def port(self) -> int:
        """The stations' port (the one the system picked for port 0)."""
        return self._receiver.port

    @property
    def listening(self) -> bool:
        return self._receiver.listening

    @property
    def paused(self) -> str | None:
        """Why the receiver does not accept connections, while it does not."""
        return self._receiver.paused

    @property
    def connections(self) -> int:
        """Connections served (read) since the start."""
        return self._receiver.connections

    @property
    def refused(self) -> int:
        """Connections closed unread: their address sends what is not a station's."""
        return self._receiver.refused

    @property
    def timed_out(self) -> int:
        """Connections closed because they went silent or ran past the deadline."""
        return self._receiver.timed_out

    @property
    def room(self) -> str | None:
        """Why the database does not take packets; None while it does."""
        return self._room.reason

    @property
    def held(self) -> str | None:
        """Why packets are held off the database, and how many; None while they are not."""
        return self._held()

    @property
    def damage(self) -> str | None:
        """What became of a damaged database since the start (moved aside,
        salvaged); None when there was none. The bridge is healthy meanwhile:
        it takes packets into a fresh one."""
        return self._damage()

    @property
    def problems(self) -> Sequence[Problem]:
        """What a person has to put right now (a refused upload, a failing disk),
        as Home Assistant's repair issues show it; empty while all is well."""
        return self._problems()

    @property
    def opened(self) -> int:
        """How many times the running bridge opened its database again (a fresh
        one after a damaged one, the same after its disk failed): a reader with
        a connection of its own opens it again when this changes."""
        return self._opened()

    def restart_helps(self) -> str | None:
        """Why restarting the bridge would help, or None: it does not listen for
        stations, and no cause it knows of (the database's room, a failing disk)
        explains it. What a watchdog that restarts asks (``/livez``): a restart
        cannot mend a disk, and would end the packets it holds in memory."""
        if self.listening or self.held is not None or self.room is not None:
            return None
        return f"not listening for stations: {self.paused or 'stopped'}"

    def health(self) -> str | None:
        """Why the bridge is not healthy, or None when it is: it listens for
        stations and its database takes their packets."""
        if self.held is not None:
            return self.held
        if self.room is not None:
            return f"the database does not take packets: {self.room}"
        if not self.listening:
            return f"not listening for stations: {self.paused or 'stopped'}"
        return None
