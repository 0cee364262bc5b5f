"""wxstation: the weather stations' wire format, decoding and names, shared by
the bridge and the Home Assistant integration.

What a Home Assistant integration or another embedder uses is imported from
here, the package itself: what is listed in ``__all__`` keeps its name and
meaning across releases, while the modules behind it may move. It offers

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

The bridge (the ``wxstation-bridge`` distribution, package ``bridge``) builds
on the modules themselves: ``wxstation.protocol`` (the wire format),
``wxstation.framing`` and ``wxstation.receiving`` (TCP), ``wxstation.parsers``,
``wxstation.timing``, ``wxstation.samples``, ``wxstation.quality``,
``wxstation.discovery`` and ``wxstation.payloads`` (MQTT), among others.
"""

from __future__ import annotations

from wxstation.availability import AvailabilityChange, AvailabilityTracker, LastPacket, is_available
from wxstation.batch_message import BatchMessage, BatchMessageError, Refusals, decode_batch
from wxstation.config import (
    DEFAULT_PORT,
    Config,
    ListenConfig,
    StationConfig,
    UnknownStations,
    default_station_name,
)
from wxstation.decoding import DecodeResult
from wxstation.discovery import AVAILABLE, MANUFACTURER, NODE, Topics, component, device_model
from wxstation.listener import StationListener
from wxstation.packets import StoredPacket
from wxstation.parsers import (
    BUILTIN_PARSERS,
    Field,
    ParserLookupError,
    StationParser,
    find_parser_class,
)
from wxstation.problems import Problem, ProblemFormatError, read_problems
from wxstation.protocol import DEFAULT_WAKE_EVERY_S
from wxstation.samples import HEALTH_FIELDS, Batch, Sample, parse_time, shares_id
from wxstation.timing import StationClock

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
