"""The stations' retained state messages: each station's newest sample and health.

A delivery moves a station's state forward (never back: a packet decoded late
carries older samples); a connection adopts the states an earlier run left on
the broker, so that a bridge with a new database still knows its stations.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from wxstation.availability import AvailabilityTracker, LastPacket
from wxstation.config import Config
from wxstation.discovery import Topics
from wxstation.payloads import Message, encode, state_payload
from wxstation.samples import Batch, parse_time

__all__ = ["StateUpdate", "StationStates"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Known:
    """The state the broker retains, or is being sent, for one station."""

    arrival_ms: int
    state: dict[str, Any] | None = None
    payload: bytes | None = None


@dataclass(frozen=True, slots=True)
class StateUpdate:
    """The states one delivery moves forward: kept once the broker has them."""

    known: dict[int, _Known]
    #: Each station's newest state, one message per station.
    messages: list[Message]
    #: The stations these messages are of.
    devices: set[int]


def _arrival_ms(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


class StationStates:
    """The state each station's topic retains, and the stations that have one.

    ``tracker`` learns the stations whose states an earlier run left; ``clock``
    (unix seconds) says whether such a station, no longer configured, still sends.
    """

    def __init__(
        self,
        config: Config,
        topics: Topics,
        tracker: AvailabilityTracker,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.topics = topics
        self.tracker = tracker
        self.clock = clock
        self._known: dict[int, _Known] = {}
        self._keys_cache: dict[int, list[str]] = {}

    def devices(self) -> set[int]:
        """The stations that have a state."""
        return set(self._known)

    def payloads(self) -> dict[int, bytes]:
        """Each station's state message, as the broker should retain it."""
        return {d: k.payload for d, k in self._known.items() if k.payload is not None}

    def update(self, batches: Sequence[Batch], qos: int | None) -> StateUpdate:
        """The states ``batches`` bring, as messages at ``qos``; nothing is kept
        until :meth:`keep`."""
        changed: dict[int, _Known] = {}
        newest: dict[int, dict[str, Any]] = {}
        for batch in batches:
            device = batch.device_id
            previous = changed.get(device) or self._known.get(device)
            arrival_ms = round(batch.arrival * 1000)
            # Batches come in order, but a packet decoded late (reprocess) carries
            # older samples: the retained state only ever moves forward.
            if previous is None or arrival_ms > previous.arrival_ms:
                state = state_payload(
                    batch, self._keys(device), previous.state if previous else None
                )
                changed[device] = _Known(arrival_ms, state)
                if state is not None:
                    newest[device] = state
        messages = []
        # Encoded once per delivery, however many of the station's batches it has.
        for device, state in newest.items():
            payload = encode(state)
            changed[device] = replace(changed[device], payload=payload)
            messages.append(Message(self.topics.state(device), payload, retain=True, qos=qos))
        return StateUpdate(changed, messages, set(newest))

    def keep(self, update: StateUpdate) -> None:
        """Take the states of a delivery the broker acknowledged."""
        self._known.update(update.known)

    def adopt(self, retained: Mapping[int, bytes]) -> None:
        """Learn the stations whose states the broker retains from an earlier run."""
        now = self.clock()
        for device, payload in retained.items():
            if device in self._known:
                continue
            try:
                state = json.loads(payload)
                health = state["health"]
                arrival_ms = _arrival_ms(health["last_seen"])
                wake = int(health["wake_every"])
            except (ValueError, TypeError, KeyError):
                log.debug("MQTT: ignoring a state of device %d it cannot read", device)
                continue
            if arrival_ms is None or wake <= 0:
                continue
            heard = LastPacket(arrival_ms / 1000, wake)
            # Usually the database has this packet or a newer one; a new database
            # learns the station from here.
            self.tracker.hear(device, heard)
            # A station no longer configured is kept only while it is still sending
            # and the bridge still decodes it (unknown_stations: decode).
            if device not in self.config.stations and not (
                heard.available(now) and self.config.decodes(device)
            ):
                continue
            self._known[device] = _Known(arrival_ms, state, payload)

    def _keys(self, device: int) -> list[str]:
        if device not in self._keys_cache:
            station = self.config.station(device)
            self._keys_cache[device] = [f.key for f in station.parser.all_fields] if station else []
        return self._keys_cache[device]
