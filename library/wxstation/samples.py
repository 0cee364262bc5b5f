"""A packet made into samples: decoded by the station's parser, checked, stamped by its clock.

:func:`make_batch` is the one place where decoding, quality control
(:mod:`wxstation.quality`) and timing meet. It is pure,
so the bridge's runtime, the ``decode`` command and the Home Assistant
integration all turn the same bytes into the same samples.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wxstation.parsers import Field, StationParser
from wxstation.protocol import Header
from wxstation.quality import OutOfRange, Quality
from wxstation.timing import SHARED_ID_CLASHES, StationClock, stamp_packet

__all__ = [
    "HEALTH_FIELDS",
    "Batch",
    "Sample",
    "export_record",
    "format_time",
    "format_times",
    "make_batch",
    "parse_moment",
    "parse_time",
    "shares_id",
]


#: The station's health as diagnostic sensors, for MQTT discovery and the Home
#: Assistant integration alike; the keys are those of :meth:`Batch.health`.
HEALTH_FIELDS = (
    Field("last_seen", "Last seen", device_class="timestamp", state_class=None),
    Field("samples", "Samples in last packet", precision=0, icon="mdi:counter"),
    Field("interval", "Sample interval", "s", "duration", precision=1),
    Field("clock_error", "Clock error", "%", precision=2, icon="mdi:clock-alert-outline"),
    Field("out_of_range", "Values out of range", precision=0, icon="mdi:alert-outline"),
)


def shares_id(health: Mapping[str, object]) -> bool:
    """Whether a station's health (:meth:`Batch.health`) says two stations send
    with its device id: its packets' spacing contradicted the wake interval
    often enough (see :mod:`wxstation.timing`)."""
    clashes = health.get("id_clashes", 0)
    return isinstance(clashes, int) and clashes >= SHARED_ID_CLASHES


def format_time(time_ms: int) -> str:
    """RFC 3339 in UTC with milliseconds: ``2026-09-21T13:20:00.000Z``.

    Built from ``time.gmtime``: every sample published is formatted, and this is
    twice as fast as going through ``datetime``.
    """
    seconds, millis = divmod(time_ms, 1000)
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{millis:03d}Z"
    )


def format_times(times_ms: Sequence[int]) -> list[str]:
    """:func:`format_time` of each time, the date and hour built once per hour:
    a batch's samples are an hour's, and this takes half the time."""
    texts = []
    hour = None
    prefix = ""
    for time_ms in times_ms:
        this_hour, millis = divmod(time_ms, 3_600_000)
        if this_hour != hour:
            hour = this_hour
            t = time.gmtime(this_hour * 3600)
            prefix = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:"
        minutes, millis = divmod(millis, 60_000)
        seconds, millis = divmod(millis, 1000)
        texts.append(f"{prefix}{minutes:02d}:{seconds:02d}.{millis:03d}Z")
    return texts


def parse_time(text: str) -> int:
    """Unix milliseconds of an RFC 3339 (or ISO 8601) time; one without an offset is UTC.

    Reads what :func:`format_time` writes and what people type (``2026-09-21``,
    ``2026-09-21T13:20:00+02:00``); raises ``ValueError`` for anything else.
    """
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def parse_moment(text: str) -> int:
    """Unix milliseconds of unix seconds or an RFC 3339 time, as a user gives a
    range (``export --since``, the status page's API); raises ``ValueError``."""
    try:
        return round(float(text) * 1000)
    except ValueError:
        return parse_time(text)


def export_record(
    device_id: int, station: str, time_ms: int, values: dict[str, float]
) -> dict[str, Any]:
    """One stored sample as ``export`` writes it and the status page's API serves it."""
    return {"device_id": device_id, "station": station, "time": format_time(time_ms), **values}


@dataclass(frozen=True, slots=True)
class Sample:
    """One measurement of a station: when it was taken and what it measured."""

    time_ms: int
    values: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {"time": format_time(self.time_ms), **self.values}


@dataclass(frozen=True, slots=True)
class Batch:
    """The samples one packet brought, with what the bridge learnt of the station."""

    device_id: int
    station: str
    arrival: float
    header: Header
    samples: tuple[Sample, ...]
    #: Records the header announced, and how many complete ones arrived.
    announced: int
    received: int
    #: Leading records the station had sent before, and how many of those were
    #: already stored (and so are not among ``samples``).
    resent: int
    duplicates: int
    #: Seconds between samples and the station's clock factor after this packet.
    spacing: float
    clock_factor: float
    calibrated: bool
    problems: tuple[str, ...] = ()
    #: Values outside their plausible range, taken out of their samples.
    out_of_range: tuple[OutOfRange, ...] = ()
    #: Packets of this device id in the last day whose spacing contradicted the
    #: wake interval (see :mod:`wxstation.timing`), this one included.
    id_clashes: int = 0
    #: This packet is a clash worth saying (see :attr:`StationClock.clash_is_news`).
    shared_id_news: bool = False

    @property
    def cut(self) -> bool:
        return self.received < self.announced

    @property
    def shared_id(self) -> bool:
        """True when two stations seem to send with this device id."""
        return self.id_clashes >= SHARED_ID_CLASHES

    def to_dict(self) -> dict[str, Any]:
        """Everything but the samples, as JSON-ready data (see :meth:`from_dict`)."""
        return {
            "device_id": self.device_id,
            "station": self.station,
            "arrival": self.arrival,
            "header": self.header.as_dict(),
            "announced": self.announced,
            "received": self.received,
            "resent": self.resent,
            "duplicates": self.duplicates,
            "spacing": self.spacing,
            "clock_factor": self.clock_factor,
            "calibrated": self.calibrated,
            "problems": list(self.problems),
            "out_of_range": [one.as_dict() for one in self.out_of_range],
            "id_clashes": self.id_clashes,
            "shared_id_news": self.shared_id_news,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], samples: tuple[Sample, ...]) -> Batch:
        fields = {
            **data,
            "header": Header(**data["header"]),
            "problems": tuple(data["problems"]),
            "out_of_range": tuple(OutOfRange.from_dict(o) for o in data.get("out_of_range", ())),
        }
        return cls(samples=samples, **fields)

    def health(self) -> dict[str, Any]:
        """How the station is doing, as the sinks report it."""
        return {
            "last_seen": format_time(round(self.arrival * 1000)),
            "samples": len(self.samples),
            "announced": self.announced,
            "received": self.received,
            "resent": self.resent,
            "interval": round(self.spacing, 3),
            "clock_error": round((self.clock_factor - 1.0) * 100.0, 3),
            "wake_every": self.header.wake_every_s,
            "measure_every": self.header.measure_every_s,
            "out_of_range": len(self.out_of_range),
            "id_clashes": self.id_clashes,
        }


def make_batch(
    station: str,
    parser: StationParser,
    clock: StationClock,
    data: bytes,
    arrival: float,
    *,
    quality: Quality | None = None,
    send_delay: float = 0.0,
) -> tuple[Batch, StationClock]:
    """Decode, check and stamp one packet; raises :class:`~wxstation.protocol.PacketError`.

    ``quality`` is the station's calibration and ranges (without it, the
    parser's ranges); ``send_delay`` the seconds from the newest sample to the
    packet's arrival.
    """
    decoded = parser.decode(data)
    header = decoded.header
    timed = stamp_packet(
        clock,
        arrival=arrival,
        wake_every_s=header.wake_every_s,
        measure_every_s=header.measure_every_s,
        records=decoded.records,
        announced=decoded.announced,
        store_records=parser.store_records,
        send_delay=send_delay,
    )
    checks = quality if quality is not None else Quality.of(parser)
    samples: list[Sample] = []
    out_of_range: list[OutOfRange] = []
    check = checks.check
    for stamp, values in zip(timed.stamps, decoded.values, strict=True):
        if stamp is None:
            continue
        time_ms = round(stamp * 1000)
        kept, outside = check(values)
        samples.append(Sample(time_ms, kept))
        if outside:
            out_of_range.extend(
                OutOfRange(time_ms, key, value, *checks.ranges[key])
                for key, value in outside.items()
            )
    batch = Batch(
        device_id=header.device_id,
        station=station,
        arrival=arrival,
        header=header,
        samples=tuple(samples),
        announced=decoded.announced,
        received=len(decoded.records),
        resent=timed.resent,
        duplicates=timed.duplicates,
        spacing=timed.spacing,
        clock_factor=timed.clock.clock_factor,
        calibrated=timed.calibrated,
        problems=decoded.problems,
        out_of_range=tuple(out_of_range),
        id_clashes=len(timed.clock.clashes),
        shared_id_news=timed.clash and timed.clock.clash_is_news,
    )
    return batch, timed.clock
