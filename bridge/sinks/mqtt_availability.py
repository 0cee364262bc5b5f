"""The stations' retained availability on ``<base>/<device id>/availability``.

What to say is the :class:`~wxstation.availability.AvailabilityTracker`'s: from the
bridge's database at every connection, with every delivery (the sink asks), and
from a timer here the moment a station is gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from bridge.sinks.mqtt_connection import Background, MqttConnection
from wxstation.availability import AvailabilityTracker
from wxstation.config import Config
from wxstation.discovery import AVAILABLE, NOT_AVAILABLE, Topics
from wxstation.payloads import Message
from wxstation.samples import format_time

__all__ = ["AVAILABILITY_RECHECK", "StationAvailability"]

log = logging.getLogger(__name__)

#: Longest wait, in seconds, between two looks at the stations' availability.
#: The timer waits for the next station to go, but on the event loop's clock,
#: while the rule's deadlines are wall-clock times: this bounds how late a step
#: of the wall clock (NTP, a machine back from suspend) is noticed.
AVAILABILITY_RECHECK = 60.0


class StationAvailability:
    """Turns the tracker's changes into retained messages, and says ``offline`` on time.

    ``served`` names the stations the bridge publishes for; ``clock`` is the wall
    clock the rule judges by (unix seconds); ``recheck`` is the longest wait of
    the timer, in seconds.
    """

    def __init__(
        self,
        tracker: AvailabilityTracker,
        config: Config,
        topics: Topics,
        connection: MqttConnection,
        served: Callable[[], set[int]],
        *,
        clock: Callable[[], float],
        recheck: float = AVAILABILITY_RECHECK,
    ) -> None:
        self.tracker = tracker
        self.config = config
        self.topics = topics
        self.clock = clock
        self.recheck = recheck
        self._connection = connection
        self._served = served
        self._timer = Background("mqtt availability")

    def messages(self, devices: Iterable[int], qos: int | None = None) -> list[Message]:
        """The availability messages of ``devices`` whose availability the broker
        lacks, at ``qos`` (None: the configured one); from now on counted as sent."""
        messages = []
        for change in self.tracker.changes(devices, self.clock()):
            device = change.device_id
            payload = AVAILABLE if change.available else NOT_AVAILABLE
            messages.append(
                Message(
                    self.topics.station_availability(device),
                    payload.encode(),
                    retain=True,
                    qos=qos,
                )
            )
            if change.before is None:
                continue
            station = self.config.station(device)
            name = f"{station.name} ({device})" if station else f"device {device}"
            if change.available:
                log.info("MQTT: %s is reporting again: online", name)
            elif change.last_packet is not None:
                log.info(
                    "MQTT: %s has sent nothing since %s: offline",
                    name,
                    format_time(round(change.last_packet.arrival * 1000)),
                )
        return messages

    def unsent(self, messages: Iterable[Message]) -> None:
        """Take back the availability of messages that may not have reached the broker."""
        self.tracker.unsay(
            device
            for message in messages
            if (device := self.topics.availability_device(message.topic)) is not None
        )

    def start(self) -> None:
        """Start the timer."""
        self._timer.run(self._watch)

    async def stop(self) -> None:
        await self._timer.stop()

    async def _watch(self) -> None:
        """Say ``offline`` for each station the moment the rule says it is gone."""
        while True:
            if self._connection.link is not None:
                messages = self.messages(self._served())
                if messages and not await self._connection.publish_now(messages, "availability"):
                    self.unsent(messages)
            await asyncio.sleep(self._wait())

    def _wait(self) -> float:
        """Seconds until the next station turns unavailable, at most :attr:`recheck`."""
        now = self.clock()
        due = self.tracker.next_check(now)
        return self.recheck if due is None else min(due - now, self.recheck)
