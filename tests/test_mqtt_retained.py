"""What the broker retains for the bridge, read back and set right, against a real Mosquitto.

The reader and the reconciliation run on the MQTT sink's own connection
(:class:`MqttConnection`, whose ``prepare`` they are in the sink); the broker
is seeded and inspected with a plain paho-mqtt client (tests/support/).
"""

from __future__ import annotations

from collections.abc import Iterator

import aiomqtt
import pytest

from bridge.sinks.mqtt_connection import ACK_TIMEOUT, Link, MqttConnection
from bridge.sinks.mqtt_retained import (
    SCAN_TIMEOUT,
    Reconciliation,
    Retained,
    RetainedReader,
    Wanted,
    reconcile,
)
from tests.support.mqtt import Watcher, retained
from tests.support.servers import Mosquitto
from tests.support.waiting import eventually
from wxstation.config import MqttConfig
from wxstation.discovery import Topics
from wxstation.payloads import Message

TOPICS = Topics()
OTHER = Topics("home")
#: Retained messages that are not this bridge's: no read sees them, nothing clears them.
FOREIGN = {
    OTHER.discovery(9): b'{"other bridge": true}',
    OTHER.station_availability(9): b"online",
    OTHER.state(9): b'{"other": 1}',
    "homeassistant/device/zigbee2mqtt_0x01/config": b'{"not ours": true}',
}


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    with Mosquitto() as server:
        yield server


def seed(broker: Mosquitto, messages: dict[str, bytes]) -> None:
    watcher = Watcher(broker, "test/none")
    try:
        for topic, payload in messages.items():
            watcher.publish(topic, payload, retain=True)
    finally:
        watcher.close()


def announcement(device: int, payload: bytes) -> Message:
    return Message(TOPICS.discovery(device), payload, retain=True)


async def connect_once(broker: Mosquitto, wanted: Wanted) -> tuple[Retained, Reconciliation]:
    """One connection of the sink's kind: read back what the broker retains, publish
    the reconciliation, disconnect; returns what was read and what was sent."""
    found: list[tuple[Retained, Reconciliation]] = []
    reader = RetainedReader(TOPICS, f"{broker.host}:{broker.port}")

    async def prepare(link: Link) -> None:
        kept = await reader.read(link)
        plan = reconcile(kept, wanted, TOPICS)
        await link.publish([*plan.clear, *plan.resend])
        found.append((kept, plan))

    def receive(message: aiomqtt.Message) -> None:
        payload = message.payload if isinstance(message.payload, bytes) else b""
        reader.take(message.topic.value, payload, message.retain)

    connection = MqttConnection(
        MqttConfig(host=broker.host, port=broker.port),
        client_id="test-reconciliation",
        will=Message(TOPICS.availability, b"offline", retain=True),
        prepare=prepare,
        on_message=receive,
        prepare_timeout=SCAN_TIMEOUT + ACK_TIMEOUT,
    )
    connection.start()
    try:
        await eventually(lambda: connection.connected, "the connection", 20)
    finally:
        await connection.stop()
    (result,) = found
    return result


@pytest.mark.servers
async def test_the_bridges_retained_messages_are_read_back_and_set_right(
    broker: Mosquitto,
) -> None:
    """Test that the read finds exactly this bridge's retained discovery, states and
    availability; that the reconciliation clears what belongs to stations no longer
    served, sends again only what is missing or out of date, and leaves others' topics;
    and that a second connection then finds nothing to do."""
    seed(
        broker,
        {
            TOPICS.discovery(1): b'{"stale": true}',
            TOPICS.discovery(2): b'{"station": 2}',
            TOPICS.discovery(9): b'{"removed": true}',
            TOPICS.state(1): b'{"old": 1}',
            TOPICS.state(2): b'{"new": 2}',
            TOPICS.state(9): b'{"removed": 9}',
            TOPICS.station_availability(1): b"online",
            TOPICS.station_availability(9): b"offline",
            **FOREIGN,
        },
    )
    wanted = Wanted(
        served={1, 2, 3},
        discovery={
            1: announcement(1, b'{"station": 1}'),
            2: announcement(2, b'{"station": 2}'),
            3: announcement(3, b'{"station": 3}'),
        },
        states={1: b'{"new": 1}', 2: b'{"new": 2}'},
    )

    kept, plan = await connect_once(broker, wanted)

    assert kept == Retained(
        discovery={1: b'{"stale": true}', 2: b'{"station": 2}', 9: b'{"removed": true}'},
        states={1: b'{"old": 1}', 2: b'{"new": 2}', 9: b'{"removed": 9}'},
        availability={1: b"online", 9: b"offline"},
    )
    assert kept.availability_of(wanted.served) == {1: True}
    assert [m.topic for m in plan.clear] == [
        TOPICS.discovery(9),
        TOPICS.state(9),
        TOPICS.station_availability(9),
    ]
    assert [(m.topic, m.payload) for m in plan.resend] == [
        (TOPICS.discovery(1), b'{"station": 1}'),
        (TOPICS.discovery(3), b'{"station": 3}'),
        (TOPICS.state(1), b'{"new": 1}'),
    ]
    assert plan.announced == {device: m.payload for device, m in wanted.discovery.items()}

    snapshot = {t: m.payload for t, m in (await retained(broker, "#")).items()}
    assert snapshot == {
        **{m.topic: m.payload for m in wanted.discovery.values()},
        TOPICS.state(1): b'{"new": 1}',
        TOPICS.state(2): b'{"new": 2}',
        TOPICS.station_availability(1): b"online",
        TOPICS.availability: b"offline",  # the test connection's goodbye
        **FOREIGN,
    }

    again, second = await connect_once(broker, wanted)
    assert again.states == dict(wanted.states)
    assert second == Reconciliation([], [], plan.announced)


@pytest.mark.servers
async def test_discovery_off_clears_the_bridges_discovery_only(broker: Mosquitto) -> None:
    """Test that with discovery off the retained discovery of stations still served is
    removed, and their states and availability stay."""
    seed(
        broker,
        {
            TOPICS.discovery(1): b'{"station": 1}',
            TOPICS.state(1): b'{"new": 1}',
            TOPICS.station_availability(1): b"online",
        },
    )
    kept, plan = await connect_once(broker, Wanted({1}, {}, {1: b'{"new": 1}'}))
    assert kept.discovery == {1: b'{"station": 1}'}
    assert [m.topic for m in plan.clear] == [TOPICS.discovery(1)]
    assert plan.resend == []
    snapshot = await retained(broker, "#")
    assert TOPICS.discovery(1) not in snapshot
    assert snapshot[TOPICS.state(1)].payload == b'{"new": 1}'
    assert snapshot[TOPICS.station_availability(1)].payload == b"online"
