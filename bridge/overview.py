"""What the bridge knows of each station and each sink, as ``status`` and the status page show it.

Pure: the database's newest batches, each sink's progress and refusals, and the
time go in; plain values come out. The command line prints them, the status
page (:mod:`bridge.web`) draws them and serves them as JSON, so both say the
same of a station: its newest packet, the station's health from it
(:meth:`wxstation.samples.Batch.health`) and its availability by the one rule of
:mod:`wxstation.availability`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wxstation.availability import LastPacket
from wxstation.config import Config
from wxstation.samples import Batch, Sample, format_time

__all__ = [
    "SinkOverview",
    "StationOverview",
    "age",
    "sink_names",
    "sink_overviews",
    "station_overviews",
]


def age(seconds: float) -> str:
    """How long ago, in the unit a person reads best: ``12 s ago``, ``3.5 h ago``."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.0f} days ago"


@dataclass(frozen=True, slots=True)
class StationOverview:
    """One station: configured, heard from, or both."""

    device_id: int
    name: str
    #: Listed under ``stations`` in the config (else decoded as an unknown station).
    configured: bool
    #: Its newest decoded packet, None while none was decoded.
    newest: Batch | None
    #: Its newest stored sample (a packet of resent records may store none).
    newest_sample: Sample | None
    #: When the overview was made, unix seconds.
    now: float

    @property
    def last_packet(self) -> LastPacket | None:
        if self.newest is None:
            return None
        return LastPacket(self.newest.arrival, self.newest.header.wake_every_s)

    @property
    def available(self) -> bool:
        last = self.last_packet
        return last is not None and last.available(self.now)

    @property
    def missed(self) -> int | None:
        """Wake-ups missed in a row since the newest packet."""
        last = self.last_packet
        return None if last is None else last.missed(self.now)

    @property
    def latest(self) -> dict[str, float]:
        """The newest sample's values."""
        return {} if self.newest_sample is None else self.newest_sample.values

    def as_dict(self) -> dict[str, Any]:
        """JSON values: what ``/api/stations`` serves of the station."""
        batch = self.newest
        health: dict[str, Any] = batch.health() if batch is not None else {}
        last = self.last_packet
        return {
            "device_id": self.device_id,
            "name": self.name,
            "configured": self.configured,
            "available": self.available,
            "last_seen": health.get("last_seen"),
            "age_s": None if batch is None else round(self.now - batch.arrival, 1),
            "samples": health.get("samples"),
            "interval_s": health.get("interval"),
            "clock_error_pct": health.get("clock_error"),
            "wake_every_s": health.get("wake_every"),
            "measure_every_s": health.get("measure_every"),
            "missed_wake_ups": self.missed,
            "unavailable_at": None
            if last is None
            else format_time(round(last.unavailable_at * 1000)),
            "latest_time": None
            if self.newest_sample is None
            else format_time(self.newest_sample.time_ms),
            "latest": self.latest,
        }

    def line(self) -> str:
        """One line for ``status``."""
        head = f"{self.name} ({self.device_id})"
        batch = self.newest
        if batch is None:
            return f"{head}: no packet decoded yet"
        health = batch.health()
        return (
            f"{head}: {'available' if self.available else 'unavailable'}; last packet "
            f"{health['last_seen']} ({age(self.now - batch.arrival)}) with "
            f"{health['samples']} samples, one every {health['interval']:.1f} s, clock error "
            f"{health['clock_error']:+.2f} %; {self.missed} wake-ups missed"
        )


def station_overviews(
    config: Config, newest: Mapping[int, Batch], samples: Mapping[int, Sample], now: float
) -> list[StationOverview]:
    """The configured stations and every station with a decoded packet, by device id;
    ``newest`` and ``samples`` are each station's newest batch and sample."""
    devices = sorted({*config.stations, *newest})
    overviews = []
    for device in devices:
        station = config.stations.get(device)
        batch = newest.get(device)
        name = station.name if station else batch.station if batch else str(device)
        overviews.append(
            StationOverview(device, name, station is not None, batch, samples.get(device), now)
        )
    return overviews


@dataclass(frozen=True, slots=True)
class SinkOverview:
    """One sink's delivery, from the database."""

    name: str
    #: Batches stored but not yet delivered.
    backlog: int
    #: Batches the service refused for good, kept aside: (batch, the service's reason).
    refused: tuple[tuple[int, str], ...]

    def line(self) -> str:
        """One line for ``status``."""
        return (
            f"sink {self.name}: {self.backlog} batches to deliver, "
            f"{len(self.refused)} refused and kept aside"
        )


def sink_names(config: Config) -> set[str]:
    """The names of the sinks ``config`` sets up, as their progress is stored."""
    return {
        name for name, section in (("influxdb", config.influxdb), ("mqtt", config.mqtt)) if section
    } | {upload.name for upload in config.uploads}


def sink_overviews(
    config: Config,
    last_seq: int,
    progress: Mapping[str, int],
    rejected: Sequence[tuple[str, int, str]],
) -> list[SinkOverview]:
    """The configured sinks and every sink the database has progress or refusals of."""
    refused: dict[str, list[tuple[int, str]]] = {}
    for sink, seq, reason in rejected:
        refused.setdefault(sink, []).append((seq, reason))
    configured = sink_names(config)
    return [
        SinkOverview(name, last_seq - progress.get(name, 0), tuple(refused.get(name, ())))
        for name in sorted({*configured, *progress, *refused})
    ]
