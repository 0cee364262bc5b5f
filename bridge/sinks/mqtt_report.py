"""One retained report of the bridge about itself, kept up to date on the broker.

The MQTT sink has two: the database against its cap (``<base>/bridge/storage``)
and the bridge's problems (``<base>/bridge/problems``). Each is published when
it changed, and at a connection where the broker does not hold it (read back by
:mod:`bridge.sinks.mqtt_retained`), so that a broker that lost it has it again
(see docs/mqtt.md for the payloads).
"""

from __future__ import annotations

from bridge.sinks.mqtt_connection import Background, MqttConnection
from wxstation.payloads import Message

__all__ = ["RetainedReport"]


class RetainedReport:
    """Keeps the broker's retained message on ``topic`` up to date.

    ``what`` names the report in the log line of a failed publish. With
    ``initial``, the first connection publishes that before any report came:
    the report the bridge starts with, replacing what a previous run left.
    """

    def __init__(
        self, topic: str, connection: MqttConnection, what: str, initial: bytes | None = None
    ) -> None:
        self.topic = topic
        self.what = what
        self._connection = connection
        #: The report as last made, and the payload the broker has.
        self._current = None if initial is None else self._message(initial)
        self._sent: bytes | None = None
        self._sending = Background(f"mqtt {what}")

    def report(self, payload: bytes) -> None:
        """Publish ``payload`` if it changed; the next connection does when there is none now."""
        self._current = self._message(payload)
        if payload != self._sent:
            self._sending.run(self._send)

    def at_connect(self, held: bytes | None) -> list[Message]:
        """What a fresh connection publishes: the report, once there is one,
        unless the broker ``held`` it already."""
        if self._current is None:
            return []
        self._sent = self._current.payload
        return [] if held == self._current.payload else [self._current]

    async def stop(self) -> None:
        await self._sending.stop()

    def _message(self, payload: bytes) -> Message:
        return Message(self.topic, payload, retain=True)

    async def _send(self) -> None:
        # Until the broker has the newest: a report made while one was being
        # sent (a problem cleared right after it was raised) goes next.
        while (message := self._current) is not None and message.payload != self._sent:
            if not await self._connection.publish_now([message], self.what):
                return
            self._sent = message.payload
