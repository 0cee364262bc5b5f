"""What the MQTT sink publishes for a batch: the station's state and the batch itself.

Pure code, no I/O, like :mod:`bridge.sinks.discovery` beside it: the MQTT sink
publishes what these functions build, and the Home Assistant integration's tests
feed the same payloads to Home Assistant. docs/mqtt.md describes the payloads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bridge.samples import Batch, format_time, format_times

__all__ = ["Message", "batch_payload", "encode", "state_payload"]


@dataclass(frozen=True, slots=True)
class Message:
    """One message to publish."""

    topic: str
    payload: bytes
    retain: bool
    #: None: the QoS of the config (``mqtt.qos``).
    qos: int | None = None


def encode(data: dict[str, Any]) -> bytes:
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


def batch_payload(batch: Batch) -> dict[str, Any]:
    """Everything one packet brought: each sample with its time, header and health."""
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
