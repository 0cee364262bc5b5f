"""What the MQTT sink publishes for a batch: the station's state and the batch itself.

Pure code, no I/O, like :mod:`wxstation.discovery` beside it: the MQTT sink
publishes what these functions build, and the Home Assistant integration's tests
feed the same payloads to Home Assistant. The batch message is
:mod:`wxstation.batch_message`'s, which reads it back too. docs/mqtt.md describes
the payloads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from wxstation.batch_message import batch_payload, encode_batch
from wxstation.capacity import Projection
from wxstation.problems import Problem
from wxstation.samples import Batch, format_time

__all__ = [
    "Message",
    "batch_payload",
    "capacity_payload",
    "encode",
    "encode_batch",
    "problems_payload",
    "state_payload",
]


@dataclass(frozen=True, slots=True)
class Message:
    """One message to publish."""

    topic: str
    payload: bytes
    retain: bool
    #: None: the QoS of the config (``mqtt.qos``).
    qos: int | None = None


def encode(data: dict[str, Any] | list[Any]) -> bytes:
    """JSON as the sink publishes it: compact, UTF-8 (units like ``°C`` as they are).

    orjson: a twentieth of the standard encoder's time for a batch's payload,
    which was a seventh of the bridge's CPU per packet.
    """
    return orjson.dumps(data)


def state_payload(
    batch: Batch, keys: Sequence[str], previous: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The station's retained state once ``batch`` arrived.

    The newest sample's time and values, with every key the station reports
    present (``null`` when the newest sample lacks it, so Home Assistant shows
    "unknown" rather than an old value), and the station's health under
    ``health``. A packet without new samples keeps the ``previous`` values and
    updates the health; without previous values there is no state to give.
    """
    if batch.samples:
        newest = batch.samples[-1]
        reading: dict[str, Any] = {"time": format_time(newest.time_ms)}
        reading.update(dict.fromkeys(keys))
        reading.update(newest.values)
    elif previous is not None:
        reading = {key: value for key, value in previous.items() if key != "health"}
    else:
        return None
    reading["health"] = batch.health()
    return reading


def capacity_payload(projection: Projection) -> dict[str, Any]:
    """The bridge's database against its cap: sizes in MB, the growth a day,
    the days and the day until delivered history gives way (``null`` when the
    database does not grow or the rate is not known yet), whether it already
    does, the oldest decoded history kept, and the log's warning when within
    30 days (else ``null``)."""
    per_day = projection.per_day
    oldest = projection.oldest_history_ms
    return {
        "used_mb": round(projection.used / 1e6, 1),
        "cap_mb": round(projection.cap / 1e6, 1),
        "growth_mb_per_day": None if per_day is None else round(per_day / 1e6, 2),
        "days_left": None if projection.days_left is None else round(projection.days_left),
        "reaches_cap": projection.reaches_cap,
        "at_cap": projection.at_cap,
        "oldest_history": None if oldest is None else format_time(oldest)[:10],
        "warning": projection.warning(),
    }


def problems_payload(problems: Sequence[Problem]) -> list[dict[str, str]]:
    """The bridge's problems, each with its key, kind, words, since when and what
    to do, the oldest first; ``[]`` when there are none."""
    return [problem.as_dict() for problem in sorted(problems, key=lambda p: (p.since, p.key))]
