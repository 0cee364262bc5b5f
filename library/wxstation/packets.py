"""What a connection delivered, and the packet it becomes.

:class:`Received` is the bytes of one connection with when and from where
they came; :class:`StoredPacket` is that packet once numbered and given a
state: ``new`` (not yet decoded), ``done`` (decoded into a batch) or ``kept``
(kept aside with a ``reason``). The bridge stores them in its database; the
Home Assistant integration keeps the packets it could not decode in its own
store. A :class:`Conflict` is two different samples of a station at one time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wxstation.samples import format_time

__all__ = ["Conflict", "Received", "StoredPacket", "peer_host"]


@dataclass(frozen=True, slots=True)
class Received:
    """What one connection delivered."""

    data: bytes
    received_at: float
    peer: str


@dataclass(frozen=True, slots=True)
class StoredPacket:
    id: int
    data: bytes
    received_at: float
    peer: str
    device_id: int | None
    state: str
    reason: str | None

    @property
    def peer_host(self) -> str:
        return peer_host(self.peer)

    def as_capture(self) -> dict[str, object]:
        """The line ``ingest`` reads and ``export --raw`` writes."""
        return {"received_at": self.received_at, "peer": self.peer, "data": self.data.hex()}

    def as_dict(self) -> dict[str, Any]:
        """The packet in JSON values, without its state: how the integration
        stores a packet it keeps aside and shows it in diagnostics."""
        return {
            "id": self.id,
            "data": self.data.hex(),
            "received_at": self.received_at,
            "peer": self.peer,
            "device_id": self.device_id,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], state: str = "kept") -> StoredPacket:
        """The packet :meth:`as_dict` gave."""
        return cls(
            id=int(raw["id"]),
            data=bytes.fromhex(raw["data"]),
            received_at=float(raw["received_at"]),
            peer=str(raw["peer"]),
            device_id=raw["device_id"],
            state=state,
            reason=raw["reason"],
        )


def peer_host(peer: str) -> str:
    """The host of a peer written ``host:port`` (``[v6 address]:port``)."""
    host, _, _ = peer.rpartition(":")
    return host.strip("[]") or peer


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two different samples of one station with the same time: the one in the
    store, and another that is kept aside beside it."""

    device_id: int
    station: str
    time_ms: int
    stored: dict[str, float]
    other: dict[str, float]

    def __str__(self) -> str:
        return (
            f"{self.station} ({self.device_id}) at {format_time(self.time_ms)}: "
            f"stored {json.dumps(self.stored)}, other {json.dumps(self.other)}"
        )
