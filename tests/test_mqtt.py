"""The MQTT sink: exact payloads, and its behaviour against a real Mosquitto.

The broker tests start Mosquitto on a free loopback port and watch it with a
plain paho-mqtt subscriber (tests/support/), so what they check is what any
consumer, Home Assistant included, receives.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from syrupy.assertion import SnapshotAssertion

from bridge.offline import decode_offline
from bridge.sim import SimStation, send_packet
from bridge.sinks import SinkUnavailableError
from bridge.sinks.mqtt import MqttSink
from bridge.spool import Spool
from tests.support.bridge import bridge_process, running_bridge, write_config
from tests.support.clock import Clock
from tests.support.mqtt import Seen, Watcher, retained, running_sink
from tests.support.servers import Mosquitto, free_port
from tests.support.waiting import eventually, wait_until
from wxstation.availability import unavailable_at
from wxstation.capacity import Reading, project
from wxstation.config import Config, parse_config
from wxstation.discovery import DiscoveryStation, Topics, device_config
from wxstation.packets import Received
from wxstation.parsers.derived import absolute_humidity, dew_point
from wxstation.payloads import batch_payload, capacity_payload, encode, state_payload
from wxstation.protocol import HEADER
from wxstation.samples import Batch, format_time, make_batch
from wxstation.timing import StationClock

TOPICS = Topics()
#: The two records of docs/protocol.md's example packet, oldest first.
RECORDS = bytes.fromhex("78005c6b106a7600806b0c6a")
STATIONS: dict[int, Any] = {
    1: {"name": "Garden", "derived": ["dew_point", "absolute_humidity"]},
    2: {"name": "Roof"},
}


def humidity(raw: int) -> float:
    return 125.0 * raw / 65536.0 - 6.0


def temperature(raw: int) -> float:
    return 175.72 * raw / 65536.0 - 46.85


def expected_health(arrival_ms: int, wake_every_s: int) -> dict[str, Any]:
    """The health of a first packet of docs/protocol.md's example records."""
    return {
        "last_seen": format_time(arrival_ms),
        "samples": 2,
        "announced": 2,
        "received": 2,
        "resent": 0,
        "interval": 120.0,
        "clock_error": 0.0,
        "wake_every": wake_every_s,
        "measure_every": 120,
        "out_of_range": 0,
        "id_clashes": 0,
    }


def expected_header(device_id: int, wake_every_s: int) -> dict[str, int]:
    return {
        "bytes_ready": 12,
        "wake_every_s": wake_every_s,
        "measure_every_s": 120,
        "bytes_per_sample": 6,
        "device_id": device_id,
        "sensor_count": 3,
    }


def expected_values(*derived: str) -> tuple[dict[str, float], dict[str, float]]:
    """The values of docs/protocol.md's example records, oldest and newest, computed
    with its formulas."""
    oldest = {"light": 120.0, "humidity": humidity(0x6B5C), "temperature": temperature(0x6A10)}
    newest = {"light": 118.0, "humidity": humidity(0x6B80), "temperature": temperature(0x6A0C)}
    formulas = {"dew_point": dew_point, "absolute_humidity": absolute_humidity}
    for values in (oldest, newest):
        for key in derived:
            values[key] = formulas[key](values["temperature"], values["humidity"])
    return oldest, newest


def expected_batch(
    device_id: int, name: str, arrival_ms: int, wake_every_s: int, *derived: str
) -> dict[str, Any]:
    """The batch message of a first packet of docs/protocol.md's example records."""
    oldest, newest = expected_values(*derived)
    return {
        "device_id": device_id,
        "station": name,
        "header": expected_header(device_id, wake_every_s),
        "health": expected_health(arrival_ms, wake_every_s),
        "problems": [],
        "out_of_range": [],
        "samples": [
            {"time": format_time(arrival_ms - 120_000), **oldest},
            {"time": format_time(arrival_ms), **newest},
        ],
    }


def packet(device_id: int, wake_every_s: int = 3600) -> bytes:
    """docs/protocol.md's example packet, from any device and wake interval."""
    return HEADER.pack(len(RECORDS), wake_every_s, 120, 6, device_id, 3) + RECORDS


def make_config(broker: Mosquitto, tmp_path: Path, **options: Any) -> Config:
    stations = options.pop("stations", STATIONS)
    unknown = options.pop("unknown_stations", {})
    return parse_config(
        {
            "listen": {"host": "127.0.0.1", "port": free_port()},
            "storage": {"path": str(tmp_path / "wxstation.db")},
            "stations": stations,
            "unknown_stations": unknown,
            "mqtt": {"host": broker.host, "port": broker.port, **options},
        }
    )


def batch_of(config: Config, device_id: int, arrival: float, wake_every_s: int = 3600) -> Batch:
    station = config.station(device_id)
    assert station is not None
    batch, _ = make_batch(
        station.name, station.parser, StationClock(), packet(device_id, wake_every_s), arrival
    )
    return batch


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    with Mosquitto() as server:
        yield server


# --- payloads --------------------------------------------------------------------


def test_discovery_payload_is_one_device_with_a_sensor_per_value_and_health(
    snapshot: SnapshotAssertion,
) -> None:
    """Test the whole discovery payload of a reference station with derived values."""
    config = parse_config({"stations": STATIONS})
    station = DiscoveryStation.of(config.stations[1])
    assert device_config(station, TOPICS, qos=1, sw_version="1.2.3") == snapshot


def test_renaming_a_station_keeps_every_id() -> None:
    """Test that only the device's name follows the station's name."""
    before = parse_config({"stations": {3: {"name": "Garden"}}}).stations[3]
    after = parse_config({"stations": {3: {"name": "Orchard"}}}).stations[3]
    old = device_config(DiscoveryStation.of(before), TOPICS, sw_version="1")
    new = device_config(DiscoveryStation.of(after), TOPICS, sw_version="1")
    assert new["device"]["name"] == "Orchard"
    assert {**new, "device": old["device"]} == old


def test_ids_and_topics_of_a_bridge_with_another_base_topic() -> None:
    """Test that a second bridge's ids and discovery topics never match the default ones."""
    other = Topics("home/weather", "ha")
    assert other.device_key(4) == "wxstation_home_weather_4"
    assert other.discovery(4) == "ha/device/wxstation_home_weather_4/config"
    assert other.state(4) == "home/weather/4/state"
    assert other.batch(4) == "home/weather/4/batch"
    assert other.availability == "home/weather/bridge/state"
    assert other.station_availability(4) == "home/weather/4/availability"
    assert other.availability_device("home/weather/4/availability") == 4
    assert other.availability_device("home/weather/4/state") is None
    assert other.batch_device("home/weather/4/batch") == 4
    assert other.batch_device("home/weather/04/batch") is None
    assert other.batch_device("wxstation/4/batch") is None
    assert other.discovered_device("ha/device/wxstation_home_weather_4/config") == 4
    assert Topics(discovery_prefix="ha").discovered_device(other.discovery(4)) is None
    assert other.discovered_device("ha/device/wxstation_4/config") is None
    assert TOPICS.state_device("wxstation/bridge/state") is None
    assert TOPICS.state_device("wxstation/017/state") is None


def test_state_and_batch_payloads() -> None:
    """Test the state (newest sample, every key, health) and batch (every sample) payloads."""
    config = parse_config({"stations": STATIONS})
    arrival_ms = 1_790_000_000_123
    batch = batch_of(config, 2, arrival_ms / 1000)
    health = expected_health(arrival_ms, 3600)
    _, newest = expected_values()
    state = state_payload(batch, ["light", "humidity", "temperature", "rain"])
    assert state == {
        "time": format_time(arrival_ms),
        **newest,
        "rain": None,
        "health": health,
    }
    assert batch_payload(batch) == expected_batch(2, "Roof", arrival_ms, 3600)
    empty = Batch.from_dict(batch.to_dict(), ())
    assert state_payload(empty, ["light"]) is None
    kept = state_payload(empty, ["light"], state)
    assert kept == {**state, "health": {**health, "samples": 0}}


# --- against a real broker ---------------------------------------------------------


@pytest.mark.servers
async def test_the_bridge_publishes_discovery_state_and_batch(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """Test the exact messages a packet leads to, from TCP to the broker."""
    config = make_config(broker, tmp_path)
    watcher = Watcher(broker, "wxstation/#", "homeassistant/#")
    try:
        async with running_bridge(config) as bridge:
            await asyncio.to_thread(send_packet, "127.0.0.1", bridge.port, packet(1, 600))
            await eventually(lambda: bool(watcher.on("wxstation/1/state")), "the state")
            # Published after the state (docs/mqtt.md): the broker has it once the
            # watcher does. The delivery's last message, so at the configured QoS.
            await eventually(
                lambda: (
                    watcher.last(TOPICS.station_availability(1))
                    == Seen(TOPICS.station_availability(1), b"online", False, 1)
                ),
                "the station online",
            )
            snapshot = await retained(broker, "#")
            ((arrival,),) = bridge.query("SELECT received_at FROM packets")
        availability = "wxstation/bridge/state"
        await eventually(lambda: len(watcher.on(availability)) == 2, "online, then offline")
    finally:
        watcher.close()

    arrival_ms = round(arrival * 1000)
    health = expected_health(arrival_ms, 600)
    _, newest = expected_values("dew_point", "absolute_humidity")

    assert snapshot["wxstation/bridge/state"].payload == b"online"
    assert snapshot["wxstation/1/state"].json() == {
        "time": format_time(arrival_ms),
        **newest,
        "health": health,
    }
    (batch,) = watcher.on("wxstation/1/batch")
    assert not batch.retain
    assert batch.json() == expected_batch(
        1, "Garden", arrival_ms, 600, "dew_point", "absolute_humidity"
    )
    # Announced once, at start: the payload does not depend on the packets.
    assert len(watcher.on(TOPICS.discovery(1))) == 1
    assert snapshot[TOPICS.discovery(1)].json() == device_config(
        DiscoveryStation.of(config.stations[1]), TOPICS
    )
    assert snapshot[TOPICS.discovery(2)].json() == device_config(
        DiscoveryStation.of(config.stations[2]), TOPICS
    )
    assert [m.payload for m in watcher.on(availability)] == [b"online", b"offline"]
    # Neither station had sent anything; station 1's packet brought it online.
    assert [m.payload for m in watcher.on(TOPICS.station_availability(1))] == [
        b"offline",
        b"online",
    ]
    assert [m.payload for m in watcher.on(TOPICS.station_availability(2))] == [b"offline"]
    assert snapshot[TOPICS.station_availability(1)].payload == b"online"
    assert not watcher.on("wxstation/2/state")


@pytest.mark.servers
def test_the_last_will_says_offline_when_the_bridge_dies(broker: Mosquitto, tmp_path: Path) -> None:
    """Test that a killed bridge process flips its availability through the last will."""
    listen = free_port()
    config = write_config(
        tmp_path / "wxstation.yaml",
        {
            "listen": {"host": "127.0.0.1", "port": listen},
            "storage": {"path": str(tmp_path / "wxstation.db")},
            "stations": {1: {"name": "Garden"}},
            "mqtt": {"host": broker.host, "port": broker.port},
        },
    )
    watcher = Watcher(broker, "wxstation/#")
    try:
        with bridge_process(config, tmp_path / "bridge.log") as bridge:
            bridge.start()
            wait_until(lambda: watcher.on("wxstation/bridge/state") != [], "the bridge online")
            assert watcher.on("wxstation/bridge/state")[0].payload == b"online"
            send_packet("127.0.0.1", listen, packet(1))
            wait_until(lambda: watcher.on("wxstation/1/state") != [], "a state")
            bridge.kill()
            wait_until(lambda: len(watcher.on("wxstation/bridge/state")) == 2, "the last will")
    finally:
        watcher.close()
    will = watcher.on("wxstation/bridge/state")[1]
    assert will.payload == b"offline", (tmp_path / "bridge.log").read_text()
    assert asyncio.run(retained(broker, "wxstation/bridge/state"))[
        "wxstation/bridge/state"
    ].payload == (b"offline")


@pytest.mark.servers
async def test_a_new_run_takes_over_the_connection_the_broker_still_holds(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """Test that the last will of a connection left half open cannot end up after "online"."""
    config = make_config(broker, tmp_path)
    # The previous run's connection, from a host that lost its network: the
    # broker hears nothing more and keeps it until its keepalive runs out.
    stale = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="wxstation-bridge")
    stale.will_set("wxstation/bridge/state", "offline", qos=1, retain=True)
    stale.connect(broker.host, broker.port, keepalive=2)
    stale.loop(0.5)
    sock = stale.socket()
    assert isinstance(sock, socket.socket)

    def dropped() -> bool:
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    try:
        async with running_sink(config):
            # Taken over at once; a connection not taken over would be dropped at
            # its keepalive deadline, its last will then overwriting "online".
            await eventually(dropped, "the broker to drop the stale connection", 20)
            await asyncio.sleep(0.2)
            snapshot = await retained(broker, "wxstation/bridge/state")
    finally:
        sock.close()
    assert snapshot["wxstation/bridge/state"].payload == b"online"


@pytest.mark.servers
async def test_a_broker_restart_mid_stream_loses_no_sample(tmp_path: Path) -> None:
    """Test that every stored sample reaches a persistent subscriber across a broker restart."""
    with Mosquitto(persistence=True) as broker:
        config = make_config(broker, tmp_path)
        watcher = Watcher(broker, "wxstation/+/batch", client_id="test-batches", persistent=True)
        try:
            async with running_bridge(config) as bridge:
                stations = [
                    SimStation(
                        device,
                        config.stations[device].parser,
                        time.time() - 86400,
                        clock_factor=1.01,
                        wake_every_s=600,
                        seed=device,
                    )
                    for device in (1, 2)
                ]

                async def send(rounds: int) -> None:
                    for _ in range(rounds):
                        for station in stations:
                            wake = station.wake()
                            await asyncio.to_thread(
                                send_packet, "127.0.0.1", bridge.port, wake.packet
                            )
                            station.delivered()
                        await asyncio.sleep(0.05)

                await send(4)
                await asyncio.to_thread(broker.stop)
                await send(4)  # the bridge receives while the broker is down
                await asyncio.to_thread(broker.start)
                await send(4)

                store = bridge.store

                async def all_delivered() -> bool:
                    return await store.progress("mqtt") == await store.last_seq()

                await eventually(all_delivered, "the sink to deliver every batch", 30)
                stored = await store.call(lambda spool: list(spool.export.samples()))

            published = {
                (m.json()["device_id"], sample["time"]): sample
                for m in watcher.messages
                for sample in m.json()["samples"]
            }
            expected = {(device, format_time(t)): values for device, _, t, values in stored}
            assert stored
            assert len(expected) == len(stored)
            missing = expected.keys() - published.keys()
            assert not missing
            for key, values in expected.items():
                assert published[key] == {"time": key[1], **values}

            snapshot = await retained(broker, "#")
            for device in (1, 2):
                times = [t for d, _, t, _ in stored if d == device]
                newest = next(v for d, _, t, v in stored if d == device and t == max(times))
                state = snapshot[TOPICS.state(device)].json()
                assert state["time"] == format_time(max(times))
                assert {k: state[k] for k in newest} == newest
                assert TOPICS.discovery(device) in snapshot
        finally:
            watcher.close()


@pytest.mark.servers
async def test_what_a_broker_forgot_comes_back(broker: Mosquitto, tmp_path: Path) -> None:
    """Test that availability, discovery and states return after a broker lost them."""
    config = make_config(broker, tmp_path)
    async with running_sink(config) as sink:
        await sink.deliver([batch_of(config, 1, time.time(), 600)])
        before = await retained(broker, "#")
        assert set(before) == {
            "wxstation/bridge/state",
            TOPICS.problems,
            "wxstation/1/state",
            "wxstation/1/availability",
            "wxstation/2/availability",
            TOPICS.discovery(1),
            TOPICS.discovery(2),
        }
        await asyncio.to_thread(broker.restart)  # no persistence: nothing retained now

        async def restored() -> bool:
            after = await retained(broker, "#")
            return {t: m.payload for t, m in after.items()} == {
                t: m.payload for t, m in before.items()
            }

        await eventually(restored, "the sink to restore what the broker retains", 30)
        # Ready once the broker acknowledged all of it, a moment after it is visible.
        await eventually(lambda: sink.connected, "the sink to be ready again")


@pytest.mark.servers
async def test_a_restarted_bridge_republishes_nothing_the_broker_kept(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """Test that a new run publishes only what the broker does not hold already."""
    config = make_config(broker, tmp_path)
    async with running_sink(config) as sink:
        await sink.deliver([batch_of(config, 1, time.time() - 30, 600)])
    watcher = Watcher(broker, "wxstation/#", "homeassistant/#")
    try:
        await asyncio.sleep(0.2)
        kept = len(watcher.messages)
        async with running_sink(config):
            await asyncio.sleep(0.3)

        def live() -> list[tuple[str, bytes]]:
            new = watcher.messages[kept:]
            return [(m.topic, m.payload) for m in new if not m.retain and "/sync/" not in m.topic]

        await eventually(lambda: len(live()) >= 2, "online, then offline")
        await asyncio.sleep(0.2)
    finally:
        watcher.close()
    assert live() == [
        ("wxstation/bridge/state", b"online"),
        ("wxstation/bridge/state", b"offline"),
    ]


@pytest.mark.servers
async def test_state_only_moves_forward(broker: Mosquitto, tmp_path: Path) -> None:
    """Test that a late batch is published but does not become the state."""
    config = make_config(broker, tmp_path)
    now = time.time()
    newer, older = batch_of(config, 1, now, 600), batch_of(config, 1, now - 600, 600)
    faster = batch_of(config, 1, now + 300, 300)
    watcher = Watcher(broker, "wxstation/1/batch", TOPICS.discovery(1))
    try:
        async with running_sink(config) as sink:
            await sink.deliver([newer])
            await sink.deliver([older])
            snapshot = await retained(broker, "#")
            assert snapshot["wxstation/1/state"].payload == encode(
                state_payload(newer, [f.key for f in config.stations[1].parser.all_fields]) or {}
            )
            await sink.deliver([faster])
            snapshot = await retained(broker, "#")
        await eventually(lambda: len(watcher.on("wxstation/1/batch")) == 3, "three batches")
    finally:
        watcher.close()
    assert snapshot["wxstation/1/state"].json()["health"]["last_seen"] == format_time(
        round(faster.arrival * 1000)
    )
    assert [m.json()["health"]["last_seen"] for m in watcher.on("wxstation/1/batch")] == [
        format_time(round(b.arrival * 1000)) for b in (newer, older, faster)
    ]
    # A new wake interval changes nothing in the discovery: announced once.
    assert len(watcher.on(TOPICS.discovery(1))) == 1


@pytest.mark.servers
async def test_a_quiet_station_turns_offline_when_the_rule_says(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """Test the timer: offline at the rule's moment and not before, online with the next packet."""
    config = make_config(broker, tmp_path)
    clock = Clock(1_790_000_000.0)
    topic = TOPICS.station_availability(1)
    watcher = Watcher(broker, topic)

    def seen() -> list[bytes]:
        return [m.payload for m in watcher.on(topic)]

    try:
        async with running_sink(config, clock=clock, recheck=0.05) as sink:
            await sink.deliver([batch_of(config, 1, clock.now, 600)])
            await eventually(lambda: seen() == [b"offline", b"online"], "online")
            gone = unavailable_at(clock.now, 600)
            clock.now = gone - 1
            await asyncio.sleep(0.3)
            assert seen() == [b"offline", b"online"]
            clock.now = gone
            await eventually(lambda: seen() == [b"offline", b"online", b"offline"], "offline")
            assert (await retained(broker, topic))[topic].payload == b"offline"

            clock.now += 3600
            await sink.deliver([batch_of(config, 1, clock.now, 600)])
            await eventually(lambda: seen()[-1] == b"online", "online again")
            assert (await retained(broker, topic))[topic].payload == b"online"
    finally:
        watcher.close()
    assert seen() == [b"offline", b"online", b"offline", b"online"]


@pytest.mark.servers
async def test_availability_at_start_comes_from_the_database(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """Test a bridge whose broker forgot everything: each station's availability is what
    the database's newest packet says, whatever the MQTT sink had delivered."""
    config = make_config(broker, tmp_path)
    now = 1_790_000_000.0
    with Spool(config.storage.path) as spool:
        spool.packets.add(
            [
                Received(packet(1), now - 600, "127.0.0.1:40001"),
                Received(packet(2), now - 3 * 3600, "127.0.0.1:40002"),
                # Not configured, decoded as an unknown station, gone for hours.
                Received(packet(5), now - 3 * 3600, "127.0.0.1:40005"),
            ]
        )
        tally = decode_offline(spool, config)
        assert (tally.decoded, tally.kept_aside) == (3, 0)
        spool.progress.set("mqtt", spool.samples.last_seq())
    assert config.mqtt is not None
    sink = MqttSink(config.mqtt, config, clock=lambda: now)
    async with running_bridge(config, sinks=[sink]):
        await eventually(lambda: sink.connected, "the sink to connect")
        snapshot = await retained(broker, "#")
    assert snapshot[TOPICS.station_availability(1)].payload == b"online"
    assert snapshot[TOPICS.station_availability(2)].payload == b"offline"
    assert not [topic for topic in snapshot if topic.startswith("wxstation/5/")]
    assert TOPICS.discovery(5) not in snapshot


@pytest.mark.servers
async def test_home_assistant_birth_triggers_a_reannounce(
    broker: Mosquitto, tmp_path: Path
) -> None:
    """Test that a live ``online`` on the status topic brings every discovery again."""
    config = make_config(broker, tmp_path)
    watcher = Watcher(broker, "homeassistant/#")
    try:
        # A retained birth message is not Home Assistant starting now.
        watcher.publish("homeassistant/status", "online", retain=True)
        async with running_sink(config, birth_delay=0.05):
            discoveries = [TOPICS.discovery(1), TOPICS.discovery(2)]

            def announced() -> int:
                return sum(len(watcher.on(topic)) for topic in discoveries)

            await eventually(lambda: announced() == 2, "the first announcement")
            await asyncio.sleep(0.3)
            assert announced() == 2
            watcher.publish("homeassistant/status", "online")
            await eventually(lambda: announced() == 4, "the announcement again")
            watcher.publish("homeassistant/status", "offline")
            await asyncio.sleep(0.3)
            assert announced() == 4
    finally:
        watcher.close()
    assert watcher.on(discoveries[0])[-1].payload == watcher.on(discoveries[0])[0].payload


@pytest.mark.servers
@pytest.mark.parametrize(("action", "live_unknown_kept"), [("decode", True), ("keep", False)])
async def test_stations_no_longer_configured_lose_their_discovery(
    broker: Mosquitto, tmp_path: Path, action: str, live_unknown_kept: bool
) -> None:
    """Test the cleanup at start: a station no longer served loses its discovery, state and
    availability; other bridges' and devices' topics stay."""
    config = make_config(broker, tmp_path, unknown_stations={"action": action})
    other = Topics("home")
    decoding = make_config(broker, tmp_path)  # to build states of unknown stations
    alive = batch_of(decoding, 5, time.time() - 60, 600)
    dead = batch_of(decoding, 6, time.time() - 10 * 3600, 600)
    seeder = Watcher(broker, "test/none")
    try:
        for topic, payload in [
            (TOPICS.discovery(1), b'{"stale": true}'),
            (TOPICS.discovery(5), b'{"unknown": "alive"}'),
            (TOPICS.discovery(6), b'{"unknown": "dead"}'),
            (TOPICS.discovery(9), b'{"removed": true}'),
            (other.discovery(9), b'{"other bridge": true}'),
            ("homeassistant/device/zigbee2mqtt_0x01/config", b'{"not ours": true}'),
            (TOPICS.state(5), encode(state_payload(alive, ["light"]) or {})),
            (TOPICS.state(6), encode(state_payload(dead, ["light"]) or {})),
            (TOPICS.station_availability(6), b"online"),
            (TOPICS.station_availability(9), b"offline"),
            (other.station_availability(9), b"online"),
        ]:
            seeder.publish(topic, payload, retain=True)
    finally:
        seeder.close()

    async with running_sink(config):
        snapshot = await retained(broker, "#")

    assert snapshot[TOPICS.discovery(1)].json() == device_config(
        DiscoveryStation.of(config.stations[1]), TOPICS
    )
    assert TOPICS.discovery(2) in snapshot
    for device in (6, 9):
        for topic in TOPICS.discovery(device), TOPICS.state(device):
            assert topic not in snapshot
        assert TOPICS.station_availability(device) not in snapshot
    assert snapshot[other.discovery(9)].payload == b'{"other bridge": true}'
    assert snapshot[other.station_availability(9)].payload == b"online"
    assert snapshot["homeassistant/device/zigbee2mqtt_0x01/config"].payload == (
        b'{"not ours": true}'
    )
    five = [TOPICS.discovery(5), TOPICS.state(5), TOPICS.station_availability(5)]
    if live_unknown_kept:
        station = config.station(5)
        assert station is not None
        assert snapshot[TOPICS.discovery(5)].json() == device_config(
            DiscoveryStation.of(station), TOPICS
        )
        assert snapshot[TOPICS.station_availability(5)].payload == b"online"
        assert TOPICS.state(5) in snapshot
    else:
        assert not [topic for topic in five if topic in snapshot]


@pytest.mark.servers
async def test_discovery_off_removes_the_bridges_discovery(
    broker: Mosquitto, tmp_path: Path
) -> None:
    async with running_sink(make_config(broker, tmp_path)):
        pass
    assert TOPICS.discovery(1) in await retained(broker, "homeassistant/#")
    async with running_sink(make_config(broker, tmp_path, discovery=False)) as sink:
        await sink.deliver([batch_of(sink.config, 1, time.time())])
        snapshot = await retained(broker, "#")
    assert not [topic for topic in snapshot if topic.startswith("homeassistant/")]
    assert "wxstation/1/state" in snapshot


async def test_deliver_fails_fast_without_a_broker(tmp_path: Path) -> None:
    """Test that a delivery with no broker raises at once, with a hint when to retry."""
    config = parse_config(
        {
            "storage": {"path": str(tmp_path / "wxstation.db")},
            "mqtt": {"host": "127.0.0.1", "port": free_port()},
        }
    )
    assert config.mqtt is not None
    sink = MqttSink(config.mqtt, config)
    await sink.start()
    try:
        for _ in range(2):
            began = time.monotonic()
            with pytest.raises(SinkUnavailableError) as raised:
                await sink.deliver([batch_of(config, 1, time.time())])
            assert time.monotonic() - began < 1.0
            assert "Connection refused" in raised.value.reason
            assert raised.value.retry_after is not None
            assert raised.value.retry_after < 5
    finally:
        await sink.stop()


@pytest.mark.servers
async def test_the_database_against_its_cap_is_retained(broker: Mosquitto, tmp_path: Path) -> None:
    """Test that the sink publishes the database's projection retained on
    ``<base>/bridge/storage``, again only when it changed, and again after the
    broker forgot it."""
    config = make_config(broker, tmp_path)
    now = 1_800_000_000.0
    readings = [Reading(now - 7 * 86400, 700_000_000), Reading(now, 770_000_000)]
    nearing = project(readings, used=770_000_000, cap=1_000_000_000, now=now)
    topic = "wxstation/bridge/storage"
    watcher = Watcher(broker, topic)
    try:
        async with running_sink(config) as sink:
            sink.report_capacity(nearing)
            await eventually(lambda: watcher.on(topic) != [], "the projection")
            sink.report_capacity(nearing)
            await asyncio.sleep(0.5)
            assert len(watcher.on(topic)) == 1
            payload = watcher.on(topic)[0].json()
            assert payload == capacity_payload(nearing)
            assert payload["days_left"] == 18
            assert payload["reaches_cap"] == "2027-02-02"
            assert payload["at_cap"] is False
            assert payload["warning"] == nearing.warning()
            await asyncio.to_thread(broker.restart)

            async def restored() -> bool:
                kept = await retained(broker, topic)
                return topic in kept and kept[topic].json() == payload

            await eventually(restored, "the projection after the broker forgot it", 30)
    finally:
        watcher.close()
