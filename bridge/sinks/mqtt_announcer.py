"""Home Assistant discovery of the served stations: sent when the broker lacks it,
and again when Home Assistant says it is back.

A station's discovery payload depends only on the config (fixed for a run), so
it is built once; a delivery sends it only when the broker does not retain it
already. Home Assistant's ``online`` on ``<prefix>/status`` asks every publisher
to announce again, after a random wait of at most :data:`BIRTH_DELAY_MAX`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable

from bridge.sinks.mqtt_connection import Background, MqttConnection
from wxstation.config import Config, MqttConfig
from wxstation.discovery import (
    AVAILABLE,
    DiscoveryStation,
    Topics,
    bridge_version,
    device_config,
)
from wxstation.payloads import Message, encode

__all__ = ["BIRTH_DELAY_MAX", "Announcer"]

log = logging.getLogger(__name__)

#: Longest random wait, in seconds, between Home Assistant's ``online`` and the
#: announcement that answers it: every publisher on the broker answers the same
#: message, and Home Assistant asks them not to do so all at once.
BIRTH_DELAY_MAX = 5.0


class Announcer:
    """The discovery of each station ``served`` names, as the broker should retain it.

    ``connection`` is where an announcement that answers Home Assistant goes;
    ``birth_delay`` is the longest random wait before it.
    """

    def __init__(
        self,
        mqtt: MqttConfig,
        config: Config,
        topics: Topics,
        connection: MqttConnection,
        served: Callable[[], set[int]],
        *,
        birth_delay: float = BIRTH_DELAY_MAX,
    ) -> None:
        self.mqtt = mqtt
        self.config = config
        self.topics = topics
        self.birth_delay = birth_delay
        self._connection = connection
        self._served = served
        self._version = bridge_version()
        self._cache: dict[int, Message | None] = {}
        #: Discovery payloads the broker retains, by device id.
        self._retained: dict[int, bytes] = {}
        self._again = Background("mqtt announcement")

    def wanted(self, served: Iterable[int]) -> dict[int, Message]:
        """The discovery of every station in ``served``, by device id (none with discovery off)."""
        if not self.mqtt.discovery:
            return {}
        messages = {device: self._announcement(device) for device in sorted(served)}
        return {device: message for device, message in messages.items() if message is not None}

    def missing(self, device: int, pending: dict[int, bytes]) -> Message | None:
        """The station's discovery if neither the broker nor ``pending`` (the
        payloads a delivery sends) has it; then added to ``pending``."""
        if not self.mqtt.discovery:
            return None
        announcement = self._announcement(device)
        current = pending.get(device, self._retained.get(device))
        if announcement is None or announcement.payload == current:
            return None
        pending[device] = announcement.payload
        return announcement

    def retained(self, payloads: dict[int, bytes]) -> None:
        """Take ``payloads`` as everything the broker retains (read at a connection)."""
        self._retained = dict(payloads)

    def sent(self, payloads: dict[int, bytes]) -> None:
        """Note payloads the broker acknowledged."""
        self._retained.update(payloads)

    def is_birth(self, topic: str, payload: bytes, retain: bool) -> bool:
        """Whether a message is Home Assistant saying it is back: then announce again.

        A retained ``online`` is an old one, not Home Assistant starting now.
        """
        if topic != self.topics.birth or payload != AVAILABLE.encode() or retain:
            return False
        if self.mqtt.discovery:
            self._again.run(self._announce_again)
        return True

    async def stop(self) -> None:
        await self._again.stop()

    async def _announce_again(self) -> None:
        await asyncio.sleep(random.uniform(0, self.birth_delay))  # noqa: S311  (not security)
        wanted = self.wanted(self._served())
        if not await self._connection.publish_now(
            list(wanted.values()), "the stations' discovery again"
        ):
            return  # without a connection, the next one announces everything anyway
        self.sent({device: m.payload for device, m in wanted.items()})
        log.info("MQTT: Home Assistant is online; announced %d stations again", len(wanted))

    def _announcement(self, device: int) -> Message | None:
        # Building it for every batch cost as much as the batch's own message.
        if device not in self._cache:
            station = self.config.station(device)
            self._cache[device] = (
                None
                if station is None
                else Message(
                    self.topics.discovery(device),
                    encode(
                        device_config(
                            DiscoveryStation.of(station),
                            self.topics,
                            qos=self.mqtt.qos,
                            sw_version=self._version,
                        )
                    ),
                    retain=True,
                )
            )
        return self._cache[device]
