"""The TCP listener for an embedder: each station's packet decoded as the bridge does.

The Home Assistant integration listens with it; it shares the bridge's
:class:`~wxstation.receiving.Receiver` (bounded accepts, a protocol object per
connection) and its rules for traffic that is not a station's
(:mod:`wxstation.noise`: a source is served a few connections at a time until
it sends a station's packet, and refused for the rest of a window once it sent
:data:`~wxstation.noise.READ_PER_WINDOW` connections that were not a station's;
the same warnings, one per source and window). It decodes with
:func:`~wxstation.decoding.decode_one`, but keeps no database: of such traffic,
what the bridge keeps for a person to look at (the first
:data:`~wxstation.noise.KEPT_PER_WINDOW` connections of a source in a window) is
handed to the embedder as a packet kept aside, the rest is counted in memory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from wxstation.config import Config
from wxstation.decoding import DecodeResult, decode_one, log_result, refusal
from wxstation.noise import NoiseEntry, NoiseTracker
from wxstation.packets import Received, StoredPacket
from wxstation.protocol import PacketError, parse_header
from wxstation.receiving import Receiver
from wxstation.timing import StationClock

__all__ = ["StationListener"]

_LOGGER = logging.getLogger(__name__)


class StationListener:
    """Listens for stations on TCP and decodes their packets as the bridge does.

    Each connection's bytes become a :class:`StoredPacket` numbered from
    ``next_id``, decoded by ``config`` and stamped with its station's clock in
    ``clocks`` (which it advances), logged as the bridge logs it, and handed to
    ``on_packet``: a :class:`DecodeResult` with the batch, or with the reason
    the packet is kept aside. The listener stores nothing; the embedder keeps
    what it must (``clocks``, ``next_id``, the packets kept aside) and gives it
    back at the next start. ``clock`` says when a packet arrived.

    Traffic that is not a station's is screened by the bridge's rules (see the
    module): a station's packet, or one the config refuses within its source's
    few, is handed over; what cannot be a station's packet is handed over
    (kept aside, undecodable) only within its source's few.
    """

    def __init__(
        self,
        config: Config,
        on_packet: Callable[[DecodeResult], None],
        *,
        clocks: dict[int, StationClock] | None = None,
        next_id: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.on_packet = on_packet
        self.clocks: dict[int, StationClock] = {} if clocks is None else clocks
        self.next_id = next_id
        self._receiver = Receiver(
            config.listen,
            self._received,
            clock=clock,
            refusal=self._refusal,
            noise=NoiseTracker(clock=clock, on_kept=self._kept),
        )

    @property
    def port(self) -> int:
        """The port listened on: the one the system picked for port 0, once started."""
        return self._receiver.port

    @property
    def connections(self) -> int:
        """Connections served since the start."""
        return self._receiver.connections

    @property
    def refused(self) -> int:
        """Connections closed unread since the start: their source sent too
        many that were not a station's."""
        return self._receiver.refused

    async def start(self) -> None:
        """Listen on ``config.listen``; raises OSError when the address cannot be bound."""
        await self._receiver.start()

    async def stop(self) -> None:
        """Stop listening, letting connections in progress finish."""
        await self._receiver.stop()

    def decode(self, packet: StoredPacket) -> DecodeResult:
        """Decode a packet again (one kept aside, after the config changed), as a
        new one is decoded, advancing its station's clock; neither logged nor
        handed to ``on_packet``."""
        return decode_one(self.config, self.clocks, packet)

    def _refusal(self, host: str, device_id: int) -> str | None:
        """Why a plausible packet from ``host`` is not a station's to the config
        as it is now (it may be changed between packets)."""
        return refusal(self.config, host, device_id)

    def _kept(self, entry: NoiseEntry) -> None:
        """A connection that was not a station's, one of its source's few kept:
        handed over as a packet kept aside, as anything undecodable is."""
        self._received(Received(entry.data, entry.received_at, entry.peer))

    def _received(self, received: Received) -> None:
        packet = StoredPacket(
            id=self.next_id,
            data=received.data,
            received_at=received.received_at,
            peer=received.peer,
            device_id=_device_id(received.data),
            state="new",
            reason=None,
        )
        self.next_id += 1
        result = self.decode(packet)
        log_result(result)
        try:
            self.on_packet(result)
        except Exception:
            _LOGGER.exception("the handler of packet %d from %s failed", packet.id, packet.peer)


def _device_id(data: bytes) -> int | None:
    """The device a packet comes from, once its header could be read."""
    try:
        return parse_header(data).device_id
    except PacketError as err:
        return err.device_id
