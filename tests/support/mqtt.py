"""Watching a real broker as any MQTT client does, and the bridge's MQTT sink running.

:class:`Watcher` subscribes with plain paho-mqtt on its own thread and keeps
every message, so what a test checks is what any consumer, Home Assistant
included, receives.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiomqtt
import paho.mqtt.client as paho

from bridge.sinks.mqtt import MqttSink
from tests.support.servers import Mosquitto
from tests.support.waiting import eventually
from wxstation.config import Config

__all__ = ["Seen", "Watcher", "batch_messages", "retained", "running_sink"]


@dataclass(frozen=True)
class Seen:
    """One message as a subscriber received it."""

    topic: str
    payload: bytes
    retain: bool
    #: As received by a subscriber at QoS 1: the lower of that and the publisher's.
    qos: int = 1

    def json(self) -> Any:
        return json.loads(self.payload)


class Watcher:
    """A subscriber on paho's own thread that keeps every message it receives."""

    def __init__(
        self, broker: Mosquitto, *topics: str, client_id: str = "", persistent: bool = False
    ) -> None:
        self._lock = threading.Lock()
        self._messages: list[Seen] = []
        self._subscribed = threading.Event()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent
        )
        self.client.reconnect_delay_set(0.1, 0.5)
        if broker.credentials is not None:
            self.client.username_pw_set(*broker.credentials)
        self.client.on_connect = lambda client, *_: client.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._keep
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(5), "the test subscriber could not subscribe"

    def _keep(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self._messages.append(
                Seen(message.topic, bytes(message.payload), message.retain, message.qos)
            )

    @property
    def messages(self) -> list[Seen]:
        with self._lock:
            return list(self._messages)

    def on(self, topic: str) -> list[Seen]:
        return [m for m in self.messages if m.topic == topic]

    def last(self, topic: str) -> Seen | None:
        seen = self.on(topic)
        return seen[-1] if seen else None

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def retained(broker: Mosquitto, *filters: str) -> dict[str, Seen]:
    """What the broker retains under ``filters``, as a new subscriber sees it."""
    marker = "test/retained-read"
    watcher = Watcher(broker, *filters, marker)
    try:
        watcher.publish(marker, b"1")
        await eventually(lambda: bool(watcher.on(marker)), "the broker's retained messages", 15)
        return {m.topic: m for m in watcher.messages if m.retain}
    finally:
        watcher.close()


@asynccontextmanager
async def running_sink(config: Config, **options: Any) -> AsyncIterator[MqttSink]:
    """The bridge's MQTT sink of ``config`` (``options`` go to :class:`MqttSink`),
    started and connected; stopped at the end of the block."""
    assert config.mqtt is not None
    sink = MqttSink(config.mqtt, config, **options)
    await sink.start()
    try:
        await eventually(lambda: sink.connected, "the sink to connect", 20)
        yield sink
    finally:
        await sink.stop()


@asynccontextmanager
async def batch_messages(broker: Mosquitto) -> AsyncIterator[list[dict[str, Any]]]:
    """Every message on the bridge's MQTT batch topics while the block runs, as JSON."""
    seen: list[dict[str, Any]] = []
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe("wxstation/+/batch", qos=1)

        async def keep() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                seen.append(json.loads(message.payload))

        task = asyncio.create_task(keep())
        try:
            yield seen
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
