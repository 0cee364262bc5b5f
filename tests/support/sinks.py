"""Sinks for the runtime's tests: real :class:`~bridge.sinks.Sink` objects
whose delivery the test holds up or fails."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bridge.sinks import Sink, SinkUnavailableError
from wxstation.samples import Batch

__all__ = ["GatedSink"]


class GatedSink(Sink):
    """Delivers when its gate is open, fails as unavailable while ``down``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.gate = asyncio.Event()
        self.gate.set()
        self.down = False
        self.arrivals: list[float] = []

    async def deliver(self, batches: Sequence[Batch]) -> None:
        if self.down:
            raise SinkUnavailableError("down for the test")
        await self.gate.wait()
        self.arrivals.extend(batch.arrival for batch in batches)
