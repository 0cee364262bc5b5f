"""One station, one device: however Home Assistant gets a station, it is one device with
one sensor per value.

Against a real Mosquitto (tests/support/servers.py), with Home Assistant's real MQTT
integration and the bridge's real MQTT sink: the bridge's discovery alone;
following a bridge without its discovery; following a bridge with it (the
discovery's device and sensors, the integration's statistics); receiving
directly; and receiving one station directly while following the bridge for
another. Then the upgrade from what the previous release registered (both
devices, and either of them with the plain entity ids), the bridge turning
its discovery off and on, and the repair issue where the setup cannot be made
single.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# Imported here, not under the frozen clock: the supervisor client it loads
# builds its models from datetime types, which freezegun replaces.
from homeassistant.components.mqtt import config_flow as _mqtt_config_flow  # noqa: F401
from homeassistant.components.recorder import Recorder
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.wxstation.const import DOMAIN, STORAGE_VERSION, storage_key
from custom_components.wxstation.models import StationState
from tests.support.clock import Clock
from tests.support.servers import Mosquitto
from wxstation.discovery import HEALTH_FIELDS, Topics
from wxstation.samples import Batch, make_batch
from wxstation.timing import StationClock

from .common import (
    NOW,
    REFERENCE,
    T0,
    mqtt_entry,
    send_and_wait,
    setup_entry,
    station,
    tcp_entry,
    until,
)
from .real_mqtt import (
    assert_statistics,
    bridge_config,
    following,
    packet_batch,
    real_mqtt,
    running_bridge_sink,
)

# mock_hass_config: an empty configuration.yaml, which the MQTT integration reads.
pytestmark = [
    pytest.mark.usefixtures("socket_enabled", "mock_hass_config"),
    pytest.mark.freeze_time(dt_util.utc_from_timestamp(NOW).isoformat(), tick=True),
]

VALUES = ("light", "humidity", "temperature")
#: The object ids of a station's sensors after its name: a value's key, the health's names.
OBJECTS = (
    *VALUES,
    "last_seen",
    "samples_in_last_packet",
    "sample_interval",
    "clock_error",
    "values_out_of_range",
)


@pytest.fixture(autouse=True)
def mock_recorder_before_hass(async_setup_recorder_instance: object) -> None:
    """The recorder's database is set up before Home Assistant, as the recorder needs."""


@pytest.fixture
def expected_lingering_timers() -> bool:
    """The MQTT client's housekeeping timer outlives the test's Home Assistant."""
    return True


def entity_ids(name: str) -> set[str]:
    return {f"sensor.{name}_{obj}" for obj in OBJECTS}


def all_devices(hass: HomeAssistant) -> list[dr.DeviceEntry]:
    """Every device of every config entry (the registry's own listing is a mapping on
    some releases and an iterable of devices on others)."""
    registry = dr.async_get(hass)
    found = {
        device.id: device
        for entry in hass.config_entries.async_entries()
        for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
    }
    return list(found.values())


def all_entities(hass: HomeAssistant) -> list[er.RegistryEntry]:
    """Every entity of every config entry."""
    registry = er.async_get(hass)
    return [
        entity
        for entry in hass.config_entries.async_entries()
        for entity in er.async_entries_for_config_entry(registry, entry.entry_id)
    ]


def station_devices(hass: HomeAssistant, device_id: int) -> list[dr.DeviceEntry]:
    """Every device in Home Assistant that stands for station ``device_id``."""
    return [
        device
        for device in all_devices(hass)
        if device.manufacturer == "wxstation" and device.serial_number == str(device_id)
    ]


def assert_one_device_each(hass: HomeAssistant, stations: dict[int, tuple[str, str]]) -> None:
    """Each station (device id: its name's slug, and the integration that shows it) is one
    device, with one sensor per value and its health; Home Assistant has no other sensor."""
    registry = er.async_get(hass)
    sensors = [e for e in all_entities(hass) if e.domain == "sensor"]
    assert {e.entity_id for e in sensors} == set().union(
        *(entity_ids(name) for name, _ in stations.values())
    )
    for device_id, (name, platform) in stations.items():
        devices = station_devices(hass, device_id)
        assert len(devices) == 1, [d.identifiers for d in devices]
        on_device = er.async_entries_for_device(
            registry, devices[0].id, include_disabled_entities=True
        )
        assert {e.entity_id for e in on_device} == entity_ids(name)
        assert {e.platform for e in on_device} == {platform}
    others = [d for d in all_devices(hass) if d.manufacturer == "wxstation"]
    assert len(others) == len(stations)


def our_issues(hass: HomeAssistant) -> list[str]:
    """This integration's repair issues (Home Assistant's MQTT integration has its own)."""
    return [issue for domain, issue in ir.async_get(hass).issues if domain == DOMAIN]


def temperature(hass: HomeAssistant, name: str) -> float | None:
    state = hass.states.get(f"sensor.{name}_temperature")
    if state is None or state.state in (STATE_UNAVAILABLE, "unknown"):
        return None
    return float(state.state)


async def deliver(hass: HomeAssistant, sink: Any, batch: Batch, name: str) -> None:
    await sink.deliver([batch])
    newest = batch.samples[-1].values["temperature"]
    await until(
        hass, lambda: temperature(hass, name) == pytest.approx(newest), f"{name}'s temperature"
    )


async def bridge_discovered(hass: HomeAssistant, device_id: int = 1) -> None:
    """Wait until Home Assistant made the entities of the bridge's discovery of a station."""
    registry = er.async_get(hass)
    topics = Topics()
    wanted = [topics.unique_id(device_id, key) for key in VALUES] + [
        topics.unique_id(device_id, f"health_{f.key}") for f in HEALTH_FIELDS
    ]
    await until(
        hass,
        lambda: all(registry.async_get_entity_id("sensor", "mqtt", uid) for uid in wanted),
        "the bridge's discovery",
    )


def direct_batch(packet: bytes, arrival: float, name: str) -> Batch:
    """The samples the integration makes of a packet that reached it at ``arrival``."""
    batch, _ = make_batch(name, REFERENCE, StationClock(), packet, arrival)
    return batch


@pytest.mark.parametrize("discovery", [True, False], ids=["discovery", "no-discovery"])
async def test_following_a_bridge(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    broker: Mosquitto,
    tmp_path: Path,
    discovery: bool,
) -> None:
    """Following the bridge: one device, whose sensors are the discovery's where the bridge
    announces the station and the integration's where it does not; the statistics are
    written either way."""
    config = bridge_config(broker, tmp_path, discovery=discovery)
    async with real_mqtt(hass, broker), running_bridge_sink(config, Clock(T0)) as sink:
        if discovery:
            await bridge_discovered(hass)
        wx = mqtt_entry()
        await following(hass, wx)
        batch = packet_batch(T0, T0 - 3600)
        await deliver(hass, sink, batch, "garden")
        assert_one_device_each(hass, {1: ("garden", "mqtt" if discovery else DOMAIN)})
        assert wx.runtime_data.hub.bridge_shows == ({1} if discovery else set())
        await assert_statistics(hass, 1, batch.samples)


async def test_bridge_discovery_alone(
    recorder_mock: Recorder, hass: HomeAssistant, broker: Mosquitto, tmp_path: Path
) -> None:
    """The bridge's discovery without the integration: one device of MQTT's."""
    config = bridge_config(broker, tmp_path)
    async with real_mqtt(hass, broker), running_bridge_sink(config, Clock(T0)) as sink:
        await bridge_discovered(hass)
        await deliver(hass, sink, packet_batch(T0, T0 - 3600), "garden")
        assert_one_device_each(hass, {1: ("garden", "mqtt")})


@pytest.mark.parametrize("discovery", [True, False], ids=["discovery", "no-discovery"])
async def test_direct_beside_a_followed_bridge(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    broker: Mosquitto,
    tmp_path: Path,
    discovery: bool,
) -> None:
    """Station 2 sends to Home Assistant directly while the bridge has station 1: two
    devices, one each, and both stations' statistics (receiving directly alone included)."""
    direct = tcp_entry(options={"stations": {"2": "Shed"}})
    await setup_entry(hass, direct)
    sim = station(2, start=T0 - 3600)
    packet = sim.wake().packet
    await send_and_wait(hass, direct, packet, T0)
    assert_one_device_each(hass, {2: ("shed", DOMAIN)})

    config = bridge_config(broker, tmp_path, discovery=discovery)
    async with real_mqtt(hass, broker), running_bridge_sink(config, Clock(T0)) as sink:
        wx = mqtt_entry()
        await following(hass, wx)
        batch = packet_batch(T0, T0 - 3600)
        await deliver(hass, sink, batch, "garden")
        if discovery:
            await bridge_discovered(hass)
        garden = "mqtt" if discovery else DOMAIN
        assert_one_device_each(hass, {1: ("garden", garden), 2: ("shed", DOMAIN)})
        await assert_statistics(hass, 1, batch.samples)
        await assert_statistics(hass, 2, direct_batch(packet, T0, "Shed").samples)
        assert not our_issues(hass)


def register_as_before(
    hass: HomeAssistant, hass_storage: dict[str, Any], entry: MockConfigEntry, batch: Batch
) -> None:
    """What the previous release left of a station it followed: its stored state, its
    device and its entities in the registries (ids as Home Assistant gives them)."""
    entry.add_to_hass(hass)
    identifier = f"{entry.entry_id}_1"
    area = ar.async_get(hass).async_get_or_create("Garden")
    state = StationState(1, "Garden", fields={f.key: f for f in REFERENCE.fields})
    state.arrival = batch.arrival
    hass_storage[storage_key(entry.entry_id, "stations")] = {
        "version": STORAGE_VERSION,
        "key": storage_key(entry.entry_id, "stations"),
        "data": {"stations": [state.as_dict()]},
    }
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, identifier)},
        name="Garden",
        manufacturer="wxstation",
        model="Battery weather station (reference parser)",
        serial_number="1",
    )
    # Where the user put it: the discovery's device takes it over.
    dr.async_get(hass).async_update_device(device.id, area_id=area.id)
    registry = er.async_get(hass)
    keys = [*VALUES, *(f"health_{f.key}" for f in HEALTH_FIELDS)]
    for key, obj in zip(keys, OBJECTS, strict=True):
        registry.async_get_or_create(
            "sensor",
            DOMAIN,
            f"{identifier}_{key}",
            config_entry=entry,
            device_id=device.id,
            suggested_object_id=f"garden_{obj}",
            has_entity_name=True,
        )
    # A name the user gave a sensor, which the discovery's sensor takes over.
    registry.async_update_entity(
        registry.async_get_entity_id("sensor", DOMAIN, f"{identifier}_temperature") or "",
        name="Garden thermometer",
    )


@pytest.mark.parametrize("first", ["mqtt", DOMAIN])
async def test_upgrade_keeps_the_entity_ids(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    broker: Mosquitto,
    tmp_path: Path,
    first: str,
) -> None:
    """From what the previous release registered (two devices, one of them with the
    plain entity ids and the other with ``_2``) to one device whose sensors have the
    plain ids, whichever had them."""
    wx = mqtt_entry()
    batch = packet_batch(T0, T0 - 3600)
    config = bridge_config(broker, tmp_path)
    async with real_mqtt(hass, broker), running_bridge_sink(config, Clock(T0)) as sink:
        if first == DOMAIN:
            register_as_before(hass, hass_storage, wx, batch)
        await bridge_discovered(hass)
        if first == "mqtt":
            register_as_before(hass, hass_storage, wx, batch)
        registry = er.async_get(hass)
        before = {e.entity_id: e.platform for e in all_entities(hass)}
        assert len(before) == 2 * len(OBJECTS)
        assert {i for i, p in before.items() if p == first} == entity_ids("garden")
        assert len(station_devices(hass, 1)) == 2

        await following(hass, wx)
        assert_one_device_each(hass, {1: ("garden", "mqtt")})
        (device,) = station_devices(hass, 1)
        assert device.area_id == ar.async_get(hass).async_get_area_by_name("Garden").id
        renamed = registry.async_get("sensor.garden_temperature")
        assert renamed is not None
        assert renamed.name == "Garden thermometer"
        assert hass.states.get("sensor.garden_temperature").name == "Garden thermometer"
        await deliver(hass, sink, batch, "garden")
        await assert_statistics(hass, 1, batch.samples)
        assert not our_issues(hass)


async def test_the_bridge_turns_discovery_off_and_on(
    recorder_mock: Recorder, hass: HomeAssistant, broker: Mosquitto, tmp_path: Path
) -> None:
    """The station's one device moves with the bridge's discovery, the entity ids stay."""
    clock = Clock(T0)
    wx = mqtt_entry()
    async with real_mqtt(hass, broker):
        async with running_bridge_sink(bridge_config(broker, tmp_path), clock) as sink:
            await bridge_discovered(hass)
            await following(hass, wx)
            await deliver(hass, sink, packet_batch(T0, T0 - 3600), "garden")
            assert_one_device_each(hass, {1: ("garden", "mqtt")})
        off = bridge_config(broker, tmp_path, discovery=False)
        async with running_bridge_sink(off, clock):
            await until(hass, lambda: not wx.runtime_data.hub.bridge_shows, "discovery gone")
            await until(hass, lambda: len(station_devices(hass, 1)) == 1, "one device")
            assert_one_device_each(hass, {1: ("garden", DOMAIN)})
            await until(hass, lambda: temperature(hass, "garden") is not None, "the values")
        async with running_bridge_sink(bridge_config(broker, tmp_path), clock):
            await until(hass, lambda: wx.runtime_data.hub.bridge_shows == {1}, "discovery")
            await bridge_discovered(hass)
            assert_one_device_each(hass, {1: ("garden", "mqtt")})


async def test_a_stale_bridge_device_gives_way(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    broker: Mosquitto,
    tmp_path: Path,
) -> None:
    """A device of the bridge's discovery from before (the bridge turned it off while Home
    Assistant was away) stands for the station until it is deleted; then the integration
    shows the station."""
    config = bridge_config(broker, tmp_path, discovery=False)
    async with real_mqtt(hass, broker) as mqtt_config, running_bridge_sink(config, Clock(T0)):
        stale = dr.async_get(hass).async_get_or_create(
            config_entry_id=mqtt_config.entry_id,
            identifiers={("mqtt", Topics().device_key(1))},
            name="Garden",
            manufacturer="wxstation",
            serial_number="1",
        )
        wx = mqtt_entry()
        batch = packet_batch(T0, T0 - 3600)
        register_as_before(hass, hass_storage, wx, batch)
        await setup_entry(hass, wx)
        assert wx.runtime_data.hub.bridge_shows == {1}
        assert not er.async_entries_for_config_entry(er.async_get(hass), wx.entry_id)

        dr.async_get(hass).async_remove_device(stale.id)
        await hass.async_block_till_done()
        assert not wx.runtime_data.hub.bridge_shows
        assert_one_device_each(hass, {1: ("garden", DOMAIN)})


@pytest.mark.parametrize("mode", ["tcp", "mqtt"])
async def test_shown_twice_is_a_repair_issue(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    broker: Mosquitto,
    tmp_path: Path,
    mode: str,
) -> None:
    """A station the integration shows while a bridge's discovery it does not follow shows
    it too: a repair issue says what to change, and goes once that is done."""
    # Another bridge (its own base topic) announces station 1 as well.
    other = bridge_config(broker, tmp_path / "other", base_topic="other")
    (tmp_path / "other").mkdir()
    clock = Clock(T0)
    async with real_mqtt(hass, broker):
        async with running_bridge_sink(other, clock):
            await until(hass, lambda: len(station_devices(hass, 1)) == 1, "the other bridge")
            if mode == "tcp":
                entry = tcp_entry(options={"stations": {"1": "Garden"}})
                await setup_entry(hass, entry)
                await send_and_wait(hass, entry, station(1, start=T0 - 3600).wake().packet, T0)
            else:
                followed = bridge_config(broker, tmp_path, discovery=False)
                entry = mqtt_entry()
                async with running_bridge_sink(followed, clock) as sink:
                    await following(hass, entry)
                    await sink.deliver([packet_batch(T0, T0 - 3600)])
                    hub = entry.runtime_data.hub
                    await until(hass, lambda: 1 in hub.stations, "the batch")
            issue_id = f"duplicate_station_{entry.entry_id}_1"
            issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
            assert issue is not None
            assert issue.translation_key == f"duplicate_station_{mode}"
            assert issue.translation_placeholders == {
                "device_id": "1",
                "station": "Garden",
                "bridge_devices": "Garden",
            }
        # The other bridge no longer announces station 1.
        gone = bridge_config(broker, tmp_path / "other", {}, base_topic="other")
        async with running_bridge_sink(gone, clock):
            await until(hass, lambda: not station_devices(hass, 1)[1:], "the other device gone")
            assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
