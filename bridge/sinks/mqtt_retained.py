"""What the broker retains for the bridge, read back at each connection and set right.

At every connection the MQTT sink first reads the broker's retained discovery,
state and availability messages of its stations (:class:`RetainedReader`), so
that it publishes only what is missing or out of date, and removes what belongs
to stations it no longer serves (:func:`reconcile`). A broker that lost its
retained messages (no persistence, a restart) so gets all of them again, and a
bridge restarted against a broker that kept them sends none twice.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from bridge.sinks.mqtt_connection import Link
from wxstation.discovery import AVAILABLE, Topics
from wxstation.payloads import Message

__all__ = ["SCAN_TIMEOUT", "Reconciliation", "Retained", "RetainedReader", "Wanted", "reconcile"]

log = logging.getLogger(__name__)

#: Seconds the broker has to send what it retains for the bridge after a subscribe.
SCAN_TIMEOUT = 5.0


@dataclass
class Retained:
    """The bridge's retained messages on the broker, by device id, as payloads."""

    discovery: dict[int, bytes] = field(default_factory=dict)
    states: dict[int, bytes] = field(default_factory=dict)
    availability: dict[int, bytes] = field(default_factory=dict)
    #: The bridge's reports about itself (its database, its problems), by topic.
    reports: dict[str, bytes] = field(default_factory=dict)

    def availability_of(self, served: set[int]) -> dict[int, bool]:
        """The availability the broker holds of each station in ``served``."""
        return {
            device: payload == AVAILABLE.encode()
            for device, payload in self.availability.items()
            if device in served
        }


@dataclass
class _Reading:
    """A read under way: ended by the arrival of ``marker``."""

    marker: str
    retained: Retained = field(default_factory=Retained)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class RetainedReader:
    """Reads back what the broker retains for the bridge of ``topics``.

    The broker sends what it retains right after a subscription; a message the
    bridge then sends to itself arrives after all of it, so its arrival says
    that everything retained has been read. The connection's messages go
    through :meth:`take` meanwhile.
    """

    def __init__(self, topics: Topics, address: str, *, timeout: float = SCAN_TIMEOUT) -> None:
        self.topics = topics
        #: The broker's address, for the log line of a read that took too long.
        self.address = address
        self.timeout = timeout
        self._reading: _Reading | None = None

    def take(self, topic: str, payload: bytes, retain: bool) -> bool:
        """Keep a message that is part of a read under way; True if it was."""
        reading = self._reading
        if reading is None:
            return False
        if topic == reading.marker:
            reading.done.set()
            return True
        if not retain:
            return False
        kept = reading.retained
        topics = self.topics
        if topic in (topics.capacity, topics.problems):
            kept.reports[topic] = payload
            return True
        for device, found in (
            (topics.discovered_device(topic), kept.discovery),
            (topics.state_device(topic), kept.states),
            (topics.availability_device(topic), kept.availability),
        ):
            if device is not None:
                found[device] = payload
                return True
        return False

    async def read(self, link: Link) -> Retained:
        """Every retained discovery, state and availability message of the bridge,
        and its reports about itself.

        After :attr:`timeout` seconds without the end in sight, what arrived so
        far: the reconciliation then sends the rest again, which is harmless.
        """
        client = link.client
        reading = _Reading(f"{self.topics.base}/bridge/sync/{secrets.token_hex(6)}")
        wanted = [
            self.topics.discoveries,
            self.topics.states,
            self.topics.station_availabilities,
            self.topics.capacity,
            self.topics.problems,
            reading.marker,
        ]
        self._reading = reading
        try:
            await client.subscribe([(topic, 0) for topic in wanted], timeout=math.inf)
            await client.publish(reading.marker, b"sync", 1, timeout=math.inf)
            try:
                await asyncio.wait_for(reading.done.wait(), self.timeout)
            except TimeoutError:
                log.warning(
                    "MQTT: %s did not send all its retained messages within %.0f s; "
                    "publishing discovery and states again to be sure",
                    self.address,
                    self.timeout,
                )
        finally:
            self._reading = None
        await client.unsubscribe(wanted, timeout=math.inf)
        return reading.retained


@dataclass(frozen=True, slots=True)
class Wanted:
    """What the bridge wants the broker to retain for it."""

    #: The stations it publishes for.
    served: set[int]
    #: Their discovery, by device id (none with discovery off).
    discovery: Mapping[int, Message]
    #: Their newest state messages, by device id.
    states: Mapping[int, bytes]


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The messages that make what the broker retains what the bridge wants."""

    #: Retained messages removed: stale discovery, states and availability.
    clear: list[Message]
    #: Discovery, then states, that the broker lacks or holds out of date.
    resend: list[Message]
    #: The discovery the broker retains once these are sent, by device id.
    announced: dict[int, bytes]


def reconcile(retained: Retained, wanted: Wanted, topics: Topics) -> Reconciliation:
    """What to clear and what to send again, from what ``retained`` holds.

    The availability is the :class:`~wxstation.availability.AvailabilityTracker`'s:
    a served station's retained availability is what it has said (see
    :meth:`Retained.availability_of`).
    """
    clear: list[Message] = []
    announced: dict[int, bytes] = {}
    for device, payload in retained.discovery.items():
        if device in wanted.discovery:
            announced[device] = payload
            continue
        clear.append(Message(topics.discovery(device), b"", retain=True))
        log.info(
            "MQTT: removing the discovery of device %d (%s)",
            device,
            "discovery is off" if device in wanted.served else "not configured",
        )
    for device in sorted((retained.states.keys() | retained.availability.keys()) - wanted.served):
        log.info("MQTT: removing the state and availability of device %d", device)
        clear.extend(
            Message(topic, b"", retain=True)
            for topic in (topics.state(device), topics.station_availability(device))
        )
    resend: list[Message] = []
    for device, message in wanted.discovery.items():
        if announced.get(device) != message.payload:
            resend.append(message)
            announced[device] = message.payload
    resend.extend(
        Message(topics.state(device), payload, retain=True)
        for device, payload in wanted.states.items()
        if retained.states.get(device) != payload
    )
    return Reconciliation(clear, resend, announced)
