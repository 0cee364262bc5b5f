"""The bridge's database against its cap, retained on ``<base>/bridge/storage``.

Published when it changed, and at every connection, so that a broker that lost
it has it again (see docs/mqtt.md for the payload).
"""

from __future__ import annotations

from bridge.capacity import Projection
from bridge.sinks.discovery import Topics
from bridge.sinks.mqtt_connection import Background, MqttConnection
from bridge.sinks.payloads import Message, capacity_payload, encode

__all__ = ["CapacityPublisher"]


class CapacityPublisher:
    """Keeps the broker's retained projection of the database up to date."""

    def __init__(self, topics: Topics, connection: MqttConnection) -> None:
        self.topics = topics
        self._connection = connection
        #: The projection as last reported, and the payload the broker has.
        self._current: Message | None = None
        self._sent: bytes | None = None
        self._sending = Background("mqtt capacity")

    def report(self, projection: Projection) -> None:
        """Publish ``projection`` if it changed; the next connection does when there is none now."""
        message = Message(self.topics.capacity, encode(capacity_payload(projection)), retain=True)
        self._current = message
        if message.payload != self._sent:
            self._sending.run(self._send)

    def at_connect(self) -> list[Message]:
        """What a fresh connection publishes: the projection, once there is one."""
        if self._current is None:
            return []
        self._sent = self._current.payload
        return [self._current]

    async def stop(self) -> None:
        await self._sending.stop()

    async def _send(self) -> None:
        message = self._current
        if message is not None and await self._connection.publish_now(
            [message], "the database's room"
        ):
            self._sent = message.payload
