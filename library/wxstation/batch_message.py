"""The MQTT batch message both ways: what the bridge publishes for each packet on
``<base>/<id>/batch``, and what a reader accepts back.

Pure code: a :class:`~wxstation.samples.Batch` in, bytes out (:func:`encode_batch`);
bytes in, a :class:`BatchMessage` or a :class:`BatchMessageError` out
(:func:`decode_batch`). The MQTT sink publishes through the first, the Home
Assistant integration reads through the second.

Reading is an input boundary: anything that holds the broker's credentials can
publish on the batch topics. So a message is bounded to what one packet can hold
(its size in bytes checked before any JSON is parsed, then its samples counted
before any is read), every field is checked for its type, and times that no
station could have sent are refused. The bounds are tied to the message's own
``health.last_seen`` (when its packet arrived), not to the reader's clock: the
bridge keeps a batch until every sink delivered it (history gives way at the
database's cap only once delivered), so a batch replayed after an outage of any
length is as old as its packet and passes. docs/mqtt.md describes the format.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

import orjson

from wxstation.errors import WxStationError
from wxstation.parsers.derived import DERIVED
from wxstation.protocol import MAX_INTERVAL_S, MAX_RECORDS, Header
from wxstation.samples import Batch, Sample, format_time, format_times, parse_time
from wxstation.timing import CALIBRATION_WINDOW

__all__ = [
    "CLOCK_SKEW_MS",
    "EARLIEST_MS",
    "LAST_SEEN_SLACK_MS",
    "MAX_KEYS",
    "MAX_MESSAGE_BYTES",
    "MAX_SAMPLES",
    "MAX_SPAN_MS",
    "REPEAT_WARNING_S",
    "BatchMessage",
    "BatchMessageError",
    "Health",
    "OutOfRangeValue",
    "Refusals",
    "batch_payload",
    "decode_batch",
    "encode_batch",
]

#: The most samples a message holds: one per record of one packet.
MAX_SAMPLES = MAX_RECORDS
#: The most bytes a message holds. A full packet of the reference station, with
#: both derived values, makes about 12 KB; a packet of 350 one-byte records, one
#: value each under a forty-character key, about 30 KB. A quarter of a megabyte
#: leaves room for stations with long field names, while a message of that size
#: is read in milliseconds (a hundred thousand samples, some 10 MB, held Home
#: Assistant's loop for most of a second when they were parsed).
MAX_MESSAGE_BYTES = 256 * 1024
#: The most keys a message's samples have: all come from one station, whose
#: records hold at most 255 values (``sensor_count`` is one byte), and its
#: derived values. Each key becomes a sensor in Home Assistant.
MAX_KEYS = 0xFF + len(DERIVED)
_KEYS_REASON = f"one station's samples have at most {MAX_KEYS} keys"
#: How far after ``last_seen`` a sample may be. The bridge stamps the newest
#: sample at the packet's arrival (less the station's send delay), both rounded
#: to the millisecond; only a sample kept off another packet's stamps is moved
#: on, a millisecond at a time, at most one per stamp of the two packets (0.7 s).
LAST_SEEN_SLACK_MS = 1000
#: How far the oldest sample may be before ``last_seen``: a station's store of
#: :data:`MAX_RECORDS` records, one each of the longest interval a header can
#: announce, stretched by the most the bridge's clock factor stretches a
#: spacing (a packet a third of a wake interval late still calibrates); twice
#: that, because a packet can start with records the previous packet brought,
#: stamped then (about 708 days in all).
MAX_SPAN_MS = round(2 * MAX_RECORDS * MAX_INTERVAL_S * (1 + CALIBRATION_WINDOW) * 1000)
#: The earliest ``last_seen`` a station could have sent at: 2014-01-01, before
#: the ESP8266 the stations are built on was sold. Earlier is a clock that was
#: never set (a machine without a real-time clock starts at 1970).
EARLIEST_MS = 1_388_534_400_000
#: How far after the reader's clock ``last_seen`` may be: two machines' clocks
#: kept by NTP agree within milliseconds, and five minutes is what a clock
#: without NTP drifts (50 ppm) in two months. A batch is published within
#: moments of its packet's arrival, so a later ``last_seen`` is a clock that is
#: wrong, or a message that no bridge made.
CLOCK_SKEW_MS = 300_000
#: Seconds after which a problem that goes on is warned about again, with the
#: count of messages refused since: a day, where stations send every hour, so
#: that the log shows it still happens without a line per message.
REPEAT_WARNING_S = 86400.0

#: The most a header's fields hold, by their width on the wire (docs/protocol.md).
_HEADER_MAX = {
    "bytes_ready": 0xFFFF,
    "wake_every_s": 0xFFFF,
    "measure_every_s": 0xFFFF,
    "bytes_per_sample": 0xFF,
    "device_id": 0xFF,
    "sensor_count": 0xFF,
}
#: What an error shows of a value or key it refuses: enough to recognise it.
_SHOWN_CHARS = 60

#: What can be wrong with a message, as a stable word (a log is said once per
#: topic and problem, see :class:`Refusals`).
Reason = Literal[
    "too_large",
    "not_json",
    "wrong_type",
    "missing",
    "too_many",
    "not_a_time",
    "out_of_bounds",
    "after_last_seen",
    "too_old",
    "in_future",
    "wrong_device",
]


class BatchMessageError(WxStationError, ValueError):
    """A batch message refused: ``reason`` says what kind of problem, ``field``
    which field (a path such as ``samples[].time``, ``samples[].*`` for any of
    a sample's values), ``index`` which sample or entry, ``key`` which value,
    ``value`` what it held, and ``detail`` why that cannot be a bridge's.

    ``problem`` names the problem by ``reason`` and ``field`` alone, so that the
    same fault in another sample or value is the same problem, and a message's
    own keys cannot make a new problem of each message.
    """

    def __init__(
        self,
        reason: Reason,
        field: str,
        value: object,
        detail: str,
        *,
        index: int | None = None,
        key: str | None = None,
    ) -> None:
        self.reason = reason
        self.field = field
        self.value = value
        self.detail = detail
        self.index = index
        self.key = key
        where = field if index is None else field.replace("[]", f"[{index}]", 1)
        if key is not None:
            where = where.replace("*", _shown(key, quoted=False))
        # A missing field has no value to show.
        super().__init__(
            f"{where}: {detail}" if reason == "missing" else f"{where} {_shown(value)}: {detail}"
        )

    @property
    def problem(self) -> str:
        return f"{self.reason} {self.field}"


def _shown(value: object, *, quoted: bool = True) -> str:
    """``value`` as an error shows it: enough to recognise it."""
    shown = repr(value) if quoted else str(value)
    return shown if len(shown) <= _SHOWN_CHARS else shown[: _SHOWN_CHARS - 3] + "..."


@dataclass(frozen=True, slots=True)
class Health:
    """How the station was doing when the packet arrived (:meth:`Batch.health`)."""

    last_seen_ms: int
    samples: int
    announced: int
    received: int
    resent: int
    interval: float
    clock_error: float
    wake_every: int
    measure_every: int
    out_of_range: int
    id_clashes: int

    def as_dict(self) -> dict[str, Any]:
        """As the message has it: ``last_seen`` an RFC 3339 time."""
        data = asdict(self)
        data.pop("last_seen_ms")
        return {"last_seen": format_time(self.last_seen_ms), **data}


@dataclass(frozen=True, slots=True)
class OutOfRangeValue:
    """A value outside its plausible range, taken out of the sample at ``time_ms``."""

    time_ms: int
    key: str
    value: float


@dataclass(frozen=True, slots=True)
class BatchMessage:
    """One batch message as read: everything one packet brought."""

    device_id: int
    station: str
    header: Header
    health: Health
    problems: tuple[str, ...]
    out_of_range: tuple[OutOfRangeValue, ...]
    samples: tuple[Sample, ...]


def batch_payload(batch: Batch) -> dict[str, Any]:
    """Everything one packet brought, as JSON-ready data: each sample with its
    time, the header and the health."""
    times = format_times([sample.time_ms for sample in batch.samples])
    return {
        "device_id": batch.device_id,
        "station": batch.station,
        "header": batch.header.as_dict(),
        "health": batch.health(),
        "problems": list(batch.problems),
        "out_of_range": [
            {"time": format_time(one.time_ms), "key": one.key, "value": one.value}
            for one in batch.out_of_range
        ],
        "samples": [
            {"time": text, **sample.values}
            for text, sample in zip(times, batch.samples, strict=True)
        ],
    }


def encode_batch(batch: Batch) -> bytes:
    """The message the MQTT sink publishes for ``batch``: compact UTF-8 JSON."""
    return orjson.dumps(batch_payload(batch))


def decode_batch(data: bytes | str, *, now: float, device_id: int | None = None) -> BatchMessage:
    """Read one batch message; raises :class:`BatchMessageError` for one that
    no bridge could have published.

    ``now`` is the reader's clock (unix seconds), ``device_id`` the station the
    topic names, where known. Fields the message has beyond these are ignored,
    so that a newer bridge's messages are read.
    """
    top = _object(_parse(data), "message")
    device = _integer(top, "device_id", 1, 0xFF)
    if device_id is not None and device != device_id:
        raise BatchMessageError(
            "wrong_device", "device_id", device, f"the topic is station {device_id}'s"
        )
    header = _header(_get(top, "header", _object))
    if header.device_id != device:
        raise BatchMessageError(
            "wrong_device", "header.device_id", header.device_id, f"the message is {device}'s"
        )
    health = _health(_get(top, "health", _object), now)
    last_seen = health.last_seen_ms
    samples = _get(top, "samples", _list)
    if len(samples) > MAX_SAMPLES:
        raise BatchMessageError(
            "too_many", "samples", len(samples), f"one packet holds at most {MAX_SAMPLES}"
        )
    return BatchMessage(
        device_id=device,
        station=_get(top, "station", _text),
        header=header,
        health=health,
        problems=tuple(
            _text(one, "problems[]", i) for i, one in enumerate(_get(top, "problems", _list))
        ),
        out_of_range=tuple(
            _out_of_range(one, i, last_seen)
            for i, one in enumerate(_get(top, "out_of_range", _list))
        ),
        samples=_keyed(tuple(_sample(one, i, last_seen) for i, one in enumerate(samples))),
    )


def _keyed(samples: tuple[Sample, ...]) -> tuple[Sample, ...]:
    """``samples``, once their keys are no more than one station's."""
    keys = {key for sample in samples for key in sample.values}
    if len(keys) > MAX_KEYS:
        raise BatchMessageError("too_many", "samples", f"{len(keys)} keys", _KEYS_REASON)
    return samples


def _parse(data: bytes | str) -> Any:
    """The JSON of ``data``, once its size is within bounds."""
    # A string's length in characters is at most its length in UTF-8 bytes:
    # one too long is refused before it is encoded.
    size = len(data)
    if size <= MAX_MESSAGE_BYTES and isinstance(data, str):
        data = data.encode()
        size = len(data)
    if size > MAX_MESSAGE_BYTES:
        raise BatchMessageError(
            "too_large",
            "message size",
            size,
            f"more than the {MAX_MESSAGE_BYTES} bytes one packet's message can take",
        )
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise BatchMessageError("not_json", "message", data[:20], str(err)) from err


_T = TypeVar("_T")


def _get(data: Mapping[str, Any], key: str, read: Callable[[Any, str], _T], prefix: str = "") -> _T:
    """``data[key]`` read by ``read``; a missing key is refused."""
    if key not in data:
        raise BatchMessageError("missing", prefix + key, None, "the message lacks it")
    return read(data[key], prefix + key)


def _any(value: Any, name: str) -> Any:
    return value


def _object(value: Any, name: str, index: int | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BatchMessageError("wrong_type", name, value, "not a JSON object", index=index)
    return value


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise BatchMessageError("wrong_type", name, value, "not a JSON list")
    return value


def _text(value: Any, name: str, index: int | None = None) -> str:
    if not isinstance(value, str):
        raise BatchMessageError("wrong_type", name, value, "not a string", index=index)
    return value


def _number(value: Any, name: str, index: int | None = None, key: str | None = None) -> float:
    # JSON has no NaN or infinity, and orjson refuses a number beyond a double.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BatchMessageError("wrong_type", name, value, "not a number", index=index, key=key)
    number = float(value)
    if not math.isfinite(number):
        raise BatchMessageError("out_of_bounds", name, value, "not finite", index=index, key=key)
    return number


def _integer(data: Mapping[str, Any], key: str, low: int, high: int, prefix: str = "") -> int:
    name = prefix + key
    value = _get(data, key, _any, prefix)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BatchMessageError("wrong_type", name, value, "not a whole number")
    if not low <= value <= high:
        raise BatchMessageError("out_of_bounds", name, value, f"not within {low}..{high}")
    return value


def _header(data: Mapping[str, Any]) -> Header:
    values = {key: _integer(data, key, 0, high, "header.") for key, high in _HEADER_MAX.items()}
    return Header(**values)


def _health(data: Mapping[str, Any], now: float) -> Health:
    last_seen = _get(data, "last_seen", _time, "health.")
    if last_seen < EARLIEST_MS:
        raise BatchMessageError(
            "too_old",
            "health.last_seen",
            format_time(last_seen),
            f"before any station sent ({format_time(EARLIEST_MS)[:10]}): "
            "the bridge's clock was not set",
        )
    if last_seen > now * 1000 + CLOCK_SKEW_MS:
        raise BatchMessageError(
            "in_future",
            "health.last_seen",
            format_time(last_seen),
            f"later than this clock ({format_time(round(now * 1000))}) allows: "
            "the bridge's clock or this one is wrong",
        )

    def count(key: str, high: int = 0xFFFFFFFF) -> int:
        return _integer(data, key, 0, high, "health.")

    def number(key: str) -> float:
        return _get(data, key, _number, "health.")

    return Health(
        last_seen_ms=last_seen,
        samples=count("samples"),
        announced=count("announced"),
        received=count("received"),
        resent=count("resent"),
        interval=number("interval"),
        clock_error=number("clock_error"),
        wake_every=_integer(data, "wake_every", 1, MAX_INTERVAL_S, "health."),
        measure_every=_integer(data, "measure_every", 1, MAX_INTERVAL_S, "health."),
        out_of_range=count("out_of_range"),
        id_clashes=count("id_clashes"),
    )


def _time(value: Any, name: str, index: int | None = None) -> int:
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            pass
    raise BatchMessageError("not_a_time", name, value, "not an RFC 3339 time", index=index)


def _sample_time(value: Any, name: str, index: int, last_seen: int) -> int:
    """The time of a sample the packet of ``last_seen`` can have brought."""
    time_ms = _time(value, name, index)
    if time_ms > last_seen + LAST_SEEN_SLACK_MS:
        raise BatchMessageError(
            "after_last_seen",
            name,
            value,
            f"after the packet arrived (health.last_seen {format_time(last_seen)})",
            index=index,
        )
    if time_ms < last_seen - MAX_SPAN_MS:
        raise BatchMessageError(
            "too_old",
            name,
            value,
            f"longer before the packet arrived (health.last_seen {format_time(last_seen)}) "
            f"than a station's store can hold ({MAX_SPAN_MS / 86_400_000:.0f} days)",
            index=index,
        )
    return time_ms


def _sample(raw: Any, index: int, last_seen: int) -> Sample:
    sample = _object(raw, "samples[]", index)
    if "time" not in sample:
        raise BatchMessageError("missing", "samples[].time", None, "no time", index=index)
    time_ms = _sample_time(sample["time"], "samples[].time", index, last_seen)
    if len(sample) > MAX_KEYS + 1:
        raise BatchMessageError(
            "too_many", "samples[]", f"{len(sample) - 1} values", _KEYS_REASON, index=index
        )
    values = {
        key: _number(value, "samples[].*", index, key)
        for key, value in sample.items()
        if key != "time"
    }
    return Sample(time_ms, values)


def _out_of_range(raw: Any, index: int, last_seen: int) -> OutOfRangeValue:
    entry = _object(raw, "out_of_range[]", index)
    for key in ("time", "key", "value"):
        if key not in entry:
            raise BatchMessageError(
                "missing", f"out_of_range[].{key}", None, "the entry lacks it", index=index
            )
    return OutOfRangeValue(
        _sample_time(entry["time"], "out_of_range[].time", index, last_seen),
        _text(entry["key"], "out_of_range[].key", index),
        _number(entry["value"], "out_of_range[].value", index),
    )


@dataclass(slots=True)
class _Said:
    """A problem warned about on one topic."""

    at: float
    #: Messages refused for it since that warning.
    unsaid: int = 0
    #: Messages refused for it in all.
    refused: int = 1


@dataclass(slots=True)
class Refusals:
    """Which refused messages to warn about: one warning per topic and problem.

    A message refused for a problem already warned about on its topic is
    counted; it is warned about again :data:`REPEAT_WARNING_S` after the last
    warning, with the count since. Problems are a fixed set
    (:attr:`BatchMessageError.problem`), and the caller bounds the topics it
    names (one per station, and one for all topics that name none), so what
    this holds is bounded too, whatever is published.
    """

    repeat_after: float = REPEAT_WARNING_S
    _said: dict[tuple[str, str], _Said] = field(default_factory=dict, init=False, repr=False)

    def refused(self, topic: str, error: BatchMessageError, now: float) -> int | None:
        """Note a message on ``topic`` refused with ``error`` at ``now``: None
        to stay quiet, or the messages refused for the same problem since the
        last warning, unsaid, to warn now."""
        said = self._said.get((topic, error.problem))
        if said is None:
            self._said[topic, error.problem] = _Said(now)
            return 0
        said.refused += 1
        if now - said.at < self.repeat_after:
            said.unsaid += 1
            return None
        unsaid = said.unsaid
        said.at, said.unsaid = now, 0
        return unsaid

    def as_dict(self) -> dict[str, dict[str, dict[str, float]]]:
        """For diagnostics: per topic and problem, the messages refused in all
        and when the last warning was."""
        topics: dict[str, dict[str, dict[str, float]]] = {}
        for (topic, problem), said in self._said.items():
            topics.setdefault(topic, {})[problem] = {"refused": said.refused, "warned": said.at}
        return topics
