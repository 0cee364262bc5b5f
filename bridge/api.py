"""The bridge's stable surface for the Home Assistant integration and other embedders.

An embedder imports from here and nowhere else in ``bridge``: what is listed in
``__all__`` keeps its name and meaning across releases, while the modules
behind it may move. It offers

- :class:`StationListener`: a TCP listener for stations that decodes each
  packet by the bridge's own rules and hands the result to a callback, without
  the bridge's database or runtime;
- the models a decoded packet is made of (:class:`Batch`, :class:`Sample`,
  :class:`StoredPacket`, :class:`StationClock`), the config the listener
  decodes with (:class:`Config` and its parts), and the parsers' lookup;
- the names the bridge publishes under over MQTT (:class:`Topics`, the
  discovery node and components) and the defaults a station's firmware uses;
- the rule of when a station counts as gone (:func:`is_available`), and the
  :class:`AvailabilityTracker` that applies it to many stations over time;
- the bridge's problems as it publishes them (:class:`Problem`,
  :func:`read_problems`);
- the batch message read back with the bounds of what a bridge publishes
  (:func:`decode_batch`, :class:`BatchMessageError`), and which refusals to
  warn about (:class:`Refusals`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bridge.availability import AvailabilityChange, AvailabilityTracker, LastPacket, is_available
from bridge.batch_message import BatchMessage, BatchMessageError, Refusals, decode_batch
from bridge.config import (
    DEFAULT_PORT,
    Config,
    ListenConfig,
    StationConfig,
    UnknownStations,
    default_station_name,
)
from bridge.decoding import DecodeResult, decode_one, log_result
from bridge.parsers import (
    BUILTIN_PARSERS,
    Field,
    ParserLookupError,
    StationParser,
    find_parser_class,
)
from bridge.problems import Problem, ProblemFormatError, read_problems
from bridge.protocol import DEFAULT_WAKE_EVERY_S, PacketError, parse_header
from bridge.runtime.receiving import Receiver
from bridge.samples import HEALTH_FIELDS, Batch, Sample, parse_time, shares_id
from bridge.sinks.discovery import AVAILABLE, MANUFACTURER, NODE, Topics, component, device_model
from bridge.spool import Received, StoredPacket
from bridge.timing import StationClock

__all__ = [
    "AVAILABLE",
    "BUILTIN_PARSERS",
    "DEFAULT_PORT",
    "DEFAULT_WAKE_EVERY_S",
    "HEALTH_FIELDS",
    "MANUFACTURER",
    "NODE",
    "AvailabilityChange",
    "AvailabilityTracker",
    "Batch",
    "BatchMessage",
    "BatchMessageError",
    "Config",
    "DecodeResult",
    "Field",
    "LastPacket",
    "ListenConfig",
    "ParserLookupError",
    "Problem",
    "ProblemFormatError",
    "Refusals",
    "Sample",
    "StationClock",
    "StationConfig",
    "StationListener",
    "StationParser",
    "StoredPacket",
    "Topics",
    "UnknownStations",
    "component",
    "decode_batch",
    "default_station_name",
    "device_model",
    "find_parser_class",
    "is_available",
    "parse_time",
    "read_problems",
    "shares_id",
]

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
        self._receiver = Receiver(config.listen, self._received, clock=clock)

    @property
    def port(self) -> int:
        """The port listened on: the one the system picked for port 0, once started."""
        return self._receiver.port

    @property
    def connections(self) -> int:
        """Connections served since the start."""
        return self._receiver.connections

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
