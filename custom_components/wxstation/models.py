"""What the integration knows of a station: one report per packet, and the latest state."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from wxstation import (
    BUILTIN_PARSERS,
    DEFAULT_WAKE_EVERY_S,
    Batch,
    Field,
    LastPacket,
    Sample,
    StationParser,
    find_parser_class,
)


def resolve_parser(name: str) -> tuple[str, StationParser]:
    """The parser a name means, and a spec for it that needs no lookup again.

    Finding a parser by entry point reads the installed packages' metadata, so
    this runs in the executor once; the ``module:Class`` spec it returns is then
    an import of a module already loaded.
    """
    parser_class = find_parser_class(name)
    spec = (
        name
        if name in BUILTIN_PARSERS
        else f"{parser_class.__module__}:{parser_class.__qualname__}"
    )
    return spec, parser_class()


@dataclass(frozen=True, slots=True)
class StationReport:
    """One packet's samples, decoded here (TCP) or by a bridge (MQTT)."""

    device_id: int
    #: The name the source knows the station by; the user's name wins over it.
    station: str
    arrival: float
    samples: tuple[Sample, ...]
    health: dict[str, Any]
    fields: tuple[Field, ...]
    wake_every_s: int
    #: The kind of parser that decoded it, where known.
    parser: str | None = None

    @classmethod
    def from_batch(
        cls, batch: Batch, fields: tuple[Field, ...], station: str, parser: str | None
    ) -> StationReport:
        return cls(
            device_id=batch.device_id,
            station=station,
            arrival=batch.arrival,
            samples=batch.samples,
            health=batch.health(),
            fields=fields,
            wake_every_s=batch.header.wake_every_s,
            parser=parser,
        )


@dataclass(slots=True)
class StationState:
    """A station's newest values and health, kept across restarts."""

    device_id: int
    reported_name: str
    #: Every field the station reported, in its parser's order, by key.
    fields: dict[str, Field] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    #: When the newest sample was taken (ms) and when its packet arrived (s).
    time_ms: int | None = None
    arrival: float = 0.0
    health: dict[str, Any] = field(default_factory=dict)
    wake_every_s: int = DEFAULT_WAKE_EVERY_S
    parser: str | None = None

    @property
    def last_packet(self) -> LastPacket:
        """What the bridge's availability rule needs of the newest packet."""
        return LastPacket(self.arrival, self.wake_every_s)

    def as_dict(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "reported_name": self.reported_name,
            "fields": [asdict(one) for one in self.fields.values()],
            "values": self.values,
            "time_ms": self.time_ms,
            "arrival": self.arrival,
            "health": self.health,
            "wake_every_s": self.wake_every_s,
            "parser": self.parser,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StationState:
        # JSON gives a field's range back as a list.
        fields = [
            Field(**{**one, "range": tuple(one["range"]) if one.get("range") else None})
            for one in data["fields"]
        ]
        return cls(
            device_id=int(data["device_id"]),
            reported_name=str(data["reported_name"]),
            fields={one.key: one for one in fields},
            values={str(k): float(v) for k, v in data["values"].items()},
            time_ms=data["time_ms"],
            arrival=float(data["arrival"]),
            health=dict(data["health"]),
            wake_every_s=int(data["wake_every_s"]),
            parser=data.get("parser"),
        )
