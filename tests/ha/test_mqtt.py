"""MQTT mode: a wxstation bridge's batch messages become the same stations and values."""

from __future__ import annotations

import logging
from typing import Any

import pytest

# Imported here, not under the frozen clock: the supervisor client it loads
# builds its models from datetime types, which freezegun replaces.
from homeassistant.components.mqtt import config_flow as _mqtt_config_flow  # noqa: F401
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.wxstation.const import CONF_STATIONS, DOMAIN
from custom_components.wxstation.diagnostics import async_get_config_entry_diagnostics
from wxstation.capacity import Reading, project
from wxstation.discovery import Topics
from wxstation.payloads import batch_payload, capacity_payload, encode
from wxstation.samples import Batch, make_batch
from wxstation.timing import StationClock

from .common import REFERENCE, T0, find_device, mqtt_entry, set_up_hub, setup_entry, station

pytestmark = pytest.mark.usefixtures("frozen_now")


@pytest.fixture
def expected_lingering_timers() -> bool:
    """The MQTT client's housekeeping timer outlives the test's Home Assistant."""
    return True


def _batch(device_id: int = 1, name: str = "Garden", arrival: float = T0) -> Batch:
    sim = station(device_id, start=arrival - 3600)
    wake = sim.wake()
    batch, _ = make_batch(name, REFERENCE, StationClock(), wake.packet, arrival)
    return batch


def _publish(hass: HomeAssistant, batch: Batch, topic: str = "wxstation") -> None:
    async_fire_mqtt_message(hass, f"{topic}/{batch.device_id}/batch", encode(batch_payload(batch)))
    _say(hass, Topics(topic).station_availability(batch.device_id), "online")


def _say(hass: HomeAssistant, topic: str, payload: str) -> None:
    """An availability message of the bridge, as a subscriber gets it live."""
    async_fire_mqtt_message(hass, topic, payload)


async def test_batch_message_creates_station(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    """A batch message creates the station with the bridge's name and its newest values."""
    entry = mqtt_entry()
    hub = await set_up_hub(hass, entry)
    _say(hass, Topics().availability, "online")
    batch = _batch()
    _publish(hass, batch)
    await hass.async_block_till_done()

    device = find_device(hass, (DOMAIN, f"{entry.entry_id}_1"), entry.entry_id)
    assert device is not None
    assert device.name == "Garden"
    newest = batch.samples[-1].values
    for key in ("light", "humidity", "temperature"):
        state = hass.states.get(f"sensor.garden_{key}")
        assert state is not None
        assert float(state.state) == pytest.approx(newest[key])
    humidity = hass.states.get("sensor.garden_humidity")
    assert humidity.attributes["device_class"] == "humidity"
    assert hass.states.get("sensor.garden_samples_in_last_packet").state == "30"

    # The same batch again (the bridge delivers at least once) changes nothing.
    before = hub.statistics.hour_samples(1)
    assert sum(before.values()) == 30
    _publish(hass, batch)
    await hass.async_block_till_done()
    assert hub.statistics.hour_samples(1) == before

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["source"] == {
        "topic": "wxstation/+/batch",
        "messages": 2,
        "bridge_online": True,
        "stations_online": {"1": True},
        "discovery": "homeassistant/device/+/config",
        "stations_announced": {},
        "bridge_storage": {},
        "bridge_problems": [],
        "refused": {},
    }


async def test_late_batch_does_not_turn_back_the_state(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    """A backlog delivered out of order adds history but the newest state stays."""
    entry = mqtt_entry(options={CONF_STATIONS: {"1": "Roof"}})
    await setup_entry(hass, entry)
    _say(hass, Topics().availability, "online")
    newer, older = _batch(arrival=T0), _batch(arrival=T0 - 3600)
    _publish(hass, newer)
    _publish(hass, older)
    await hass.async_block_till_done()
    state = hass.states.get("sensor.roof_temperature")
    assert float(state.state) == pytest.approx(newer.samples[-1].values["temperature"])
    assert sum(entry.runtime_data.hub.statistics.hour_samples(1).values()) == 60


async def test_unknown_values_get_plain_sensors(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    """A value the entry's parser does not describe still gets a sensor."""
    entry = mqtt_entry(topic="garden/bridge")
    await setup_entry(hass, entry)
    payload = batch_payload(_batch(4, "Shed"))
    for sample in payload["samples"]:
        sample["battery_mv"] = 3000
    async_fire_mqtt_message(hass, "garden/bridge/4/batch", encode(payload))
    _say(hass, "garden/bridge/bridge/state", "online")
    _say(hass, "garden/bridge/4/availability", "online")
    await hass.async_block_till_done()
    state = hass.states.get("sensor.shed_battery_mv")
    assert state is not None
    assert state.state == "3000.0"
    assert "device_class" not in state.attributes


def _garden(**changes: Any) -> bytes:
    """The bridge's message of a batch of station 1, with ``changes``."""
    payload = batch_payload(_batch())
    payload.update(changes)
    return encode(payload)


def _with_sample(time: str) -> bytes:
    payload = batch_payload(_batch())
    payload["samples"].append({"time": time, "temperature": 20.0})
    return encode(payload)


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("wxstation/1/batch", b"not json", "message b'not json': invalid literal"),
        ("wxstation/x/batch", _garden(), "topic 'wxstation/x/batch': names no station"),
        ("wxstation/01/batch", _garden(), "topic 'wxstation/01/batch': names no station"),
        ("wxstation/1/batch", b"[]", "message []: not a JSON object"),
        ("wxstation/1/batch", _garden(samples=1), "samples 1: not a JSON list"),
        ("wxstation/1/batch", _garden(samples=[1]), "samples[0] 1: not a JSON object"),
        ("wxstation/1/batch", _with_sample("noon"), "samples[30].time 'noon': not an RFC 3339"),
        ("wxstation/1/batch", _garden(health={}), "health.last_seen: the message lacks it"),
        ("wxstation/2/batch", _garden(), "device_id 1: the topic is station 2's"),
        ("wxstation/1/batch", _with_sample("1971-01-01T00:00:00Z"), "samples[30].time '1971"),
        ("wxstation/1/batch", _with_sample("2099-01-01T00:00:00Z"), "samples[30].time '2099"),
        ("wxstation/1/batch", b" " * 300_000, "message size 300000: more than the 262144 bytes"),
    ],
)
async def test_bad_messages_are_logged_and_ignored(
    hass: HomeAssistant,
    mqtt_mock: MqttMockHAClient,
    caplog: pytest.LogCaptureFixture,
    topic: str,
    payload: bytes,
    reason: str,
) -> None:
    """A message no bridge publishes is warned about, saying which field and value
    are wrong, and gives the hub nothing: no station, no statistics."""
    entry = mqtt_entry()
    hub = await set_up_hub(hass, entry)
    with caplog.at_level(logging.WARNING):
        async_fire_mqtt_message(hass, topic, payload)
        await hass.async_block_till_done()
    assert f"ignoring the batch message on {topic}: {reason}" in caplog.text
    assert hub.stations == {}
    assert hub.statistics.hour_samples(1) == {}
    assert hub.statistics.hour_samples(2) == {}


async def test_batch_without_samples_updates_health(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    entry = mqtt_entry()
    await setup_entry(hass, entry)
    payload = batch_payload(_batch(2, ""))
    payload["samples"] = []
    async_fire_mqtt_message(hass, "wxstation/2/batch", encode(payload))
    await hass.async_block_till_done()
    state = entry.runtime_data.hub.stations[2]
    assert state.values == {}
    assert state.wake_every_s == 3600
    assert entry.runtime_data.hub.name(2) == "Station 2"


async def test_availability_is_the_bridges(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    """A station is available while the bridge says so of it and of itself."""
    entry = mqtt_entry()
    hub = await set_up_hub(hass, entry)
    topics = Topics()
    # A clock far past the batch: the bridge's word counts, not the local rule.
    hub.clock = lambda: T0 + 30 * 86400
    _publish(hass, _batch())
    await hass.async_block_till_done()

    def shown() -> str:
        state = hass.states.get("sensor.garden_temperature")
        assert state is not None
        return state.state

    assert shown() == "unavailable"  # nothing from the bridge about itself yet
    steps = [
        (topics.availability, "online", True),
        (topics.station_availability(1), "offline", False),
        (topics.station_availability(1), "online", True),
        ("wxstation/01/availability", "offline", True),  # not a device id of the bridge's
        (topics.availability, "offline", False),  # the bridge's will
        (topics.availability, "online", True),
        (topics.station_availability(1), "", False),  # the bridge removed the station
        (topics.station_availability(7), "online", False),  # another station
    ]
    for topic, payload, available in steps:
        _say(hass, topic, payload)
        await hass.async_block_till_done()
        assert hub.available(1) is available, (topic, payload)
        assert (shown() != "unavailable") is available, (topic, payload)
    assert hub.available(7)


@pytest.mark.parametrize(
    ("mqtt_config_entry_data", "read"),
    [
        ({"broker": "mock-broker"}, True),
        ({"broker": "mock-broker", "discovery_prefix": "ha"}, True),
        ({"broker": "mock-broker", "discovery": False}, False),
    ],
)
async def test_discovery_read_as_home_assistant_reads_it(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, mqtt_config_entry_data: dict, read: bool
) -> None:
    """The bridge's discovery counts where Home Assistant's MQTT integration reads it: on its
    prefix, and not at all with its discovery off (the station is then the integration's)."""
    entry = mqtt_entry()
    hub = await set_up_hub(hass, entry)
    prefix = mqtt_config_entry_data.get("discovery_prefix", "homeassistant")
    topics = Topics(discovery_prefix=prefix)
    async_fire_mqtt_message(hass, topics.discovery(1), '{"device": {}}', retain=True)
    # Not the followed bridge's: another base topic's device.
    async_fire_mqtt_message(hass, Topics("other", prefix).discovery(2), "{}", retain=True)
    _publish(hass, _batch())
    _publish(hass, _batch(2, "Shed"))
    await hass.async_block_till_done()
    assert hub.bridge_shows == ({1} if read else set())
    assert (hass.states.get("sensor.garden_temperature") is None) is read
    assert hass.states.get("sensor.shed_temperature") is not None
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["source"]["discovery"] == (topics.discoveries if read else None)
    assert diagnostics["stations"]["1"]["shown_by_bridge_discovery"] is read
    # The statistics are written either way.
    assert sum(hub.statistics.hour_samples(1).values()) == 30

    # The bridge removes its discovery (a live subscriber gets it without the retain
    # flag): the integration shows the station.
    async_fire_mqtt_message(hass, topics.discovery(1), "")
    await hass.async_block_till_done()
    assert hub.bridge_shows == set()
    assert hass.states.get("sensor.garden_temperature") is not None


async def test_needs_the_mqtt_integration(hass: HomeAssistant) -> None:
    """Without MQTT the entry waits and retries."""
    entry = mqtt_entry()
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY


async def test_unload_unsubscribes(hass: HomeAssistant, mqtt_mock: MqttMockHAClient) -> None:
    entry = mqtt_entry()
    await setup_entry(hass, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    _publish(hass, _batch())
    await hass.async_block_till_done()
    assert hass.states.get("sensor.garden_temperature") is None


async def test_the_bridges_database_near_its_cap_is_a_repair_issue(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient
) -> None:
    """The bridge's report of its database against its cap shows as a repair issue
    while it warns (nearing, then at the cap) and goes when it no longer does,
    and when the entry is unloaded."""
    entry = mqtt_entry()
    await setup_entry(hass, entry)
    topic = Topics().capacity
    issue_id = f"bridge_storage_{entry.entry_id}"
    now = T0
    week_ago = Reading(now - 7 * 86400, 700_000_000)
    registry = ir.async_get(hass)

    def report(used: int, **options: bool) -> None:
        projection = project(
            [week_ago, Reading(now, used)], used=used, cap=1_000_000_000, now=now, **options
        )
        async_fire_mqtt_message(hass, topic, encode(capacity_payload(projection)))

    report(770_000_000)
    await hass.async_block_till_done()
    issue = registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "bridge_nears_cap"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["days"] == "18"
    assert issue.translation_placeholders["per_day"] == "10.0"
    assert issue.translation_placeholders["cap"] == "1000.0"

    report(900_000_000, removing=True)
    await hass.async_block_till_done()
    issue = registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "bridge_at_cap"
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["source"]["bridge_storage"]["at_cap"] is True

    report(500_000_000)  # retention set: the database shrank far below the cap
    await hass.async_block_till_done()
    assert registry.async_get_issue(DOMAIN, issue_id) is None

    report(770_000_000)
    async_fire_mqtt_message(hass, topic, b"not json")
    await hass.async_block_till_done()
    assert registry.async_get_issue(DOMAIN, issue_id) is not None
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert registry.async_get_issue(DOMAIN, issue_id) is None
