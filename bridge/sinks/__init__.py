"""Sinks: where decoded samples go after the bridge's own store.

A sink receives batches in order and either delivers all of them or raises:
:class:`SinkUnavailableError` when trying again later can succeed (the service is
down, overloaded, or the network failed), :class:`SinkRejectedError` when the service
refused the data for good. The runtime keeps each sink's progress in the spool,
retries the first with backoff and keeps the second aside with the reason, so a
sink never loses a sample and never blocks receiving.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

from bridge.errors import WxStationError
from wxstation.availability import LastPacket
from wxstation.capacity import Projection
from wxstation.problems import Problem
from wxstation.samples import Batch

__all__ = ["Sink", "SinkError", "SinkRejectedError", "SinkUnavailableError"]


class SinkError(WxStationError):
    """A sink could not deliver; ``reason`` says why in the service's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SinkUnavailableError(SinkError):
    """Delivery failed for now; ``retry_after`` is the service's own hint, in seconds."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class SinkRejectedError(SinkError):
    """The service refused the data for good; retrying the same data cannot help.

    ``problem``, when given, is what a person has to put right for the service
    to take data again (a wrong key): the runtime raises it for Home Assistant's
    repair issues and clears it once the sink delivers again.
    """

    def __init__(self, reason: str, problem: Problem | None = None) -> None:
        super().__init__(reason)
        self.problem = problem


class Sink(ABC):
    """Somewhere batches are delivered, in order, at least once."""

    #: Names the sink in logs and in the spool's progress table; never change it
    #: for a sink that has delivered, or it starts again from the first batch.
    name: str = "sink"
    #: Most batches handed to one :meth:`deliver` call.
    batch_limit: int = 200

    @property
    def connected(self) -> bool | None:
        """Whether the sink holds a live connection to its service; None for a
        sink that connects for each delivery (InfluxDB's HTTP)."""
        return None

    def restore(self, last_packets: Mapping[int, LastPacket]) -> None:  # noqa: B027  (optional hook)
        """Learn each station's newest packet from the database; called once before :meth:`start`.

        Batches a sink has not delivered yet are among them, so this is the
        bridge's own knowledge of the stations, whatever the sink's progress.
        """

    async def start(self) -> None:  # noqa: B027  (optional hook)
        """Connect; called once before the first delivery."""

    @abstractmethod
    async def deliver(self, batches: Sequence[Batch]) -> None:
        """Deliver every batch, or raise :class:`SinkError`.

        Delivering the same batch twice must not create anything twice: samples
        keep their timestamps, so a repeated write lands on the same points.
        """

    def report_capacity(self, projection: Projection) -> None:  # noqa: B027  (optional hook)
        """Learn where the bridge's database stands against its cap; called
        hourly, and whenever history gave way."""

    def report_problems(self, problems: Sequence[Problem]) -> None:  # noqa: B027  (optional hook)
        """Learn the bridge's problems: the whole set that holds now (empty when
        none does), never a change alone, so that the newest call is the truth.

        Called once before :meth:`start` with what the bridge knows at its start,
        and again whenever the set changes (see :mod:`wxstation.problems`)."""

    async def stop(self) -> None:  # noqa: B027  (optional hook)
        """Flush and disconnect; called once at shutdown."""
