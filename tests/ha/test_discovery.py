"""The bridge's own discovery payloads, read by Home Assistant's real MQTT integration."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from wxstation.discovery import DiscoveryStation, Topics, device_config
from wxstation.parsers import FieldSpec, make_parser
from wxstation.payloads import encode, state_payload
from wxstation.samples import HEALTH_FIELDS, make_batch
from wxstation.timing import StationClock

from .common import T0, find_device, station

pytestmark = pytest.mark.usefixtures("frozen_now")


@pytest.fixture
def expected_lingering_timers() -> bool:
    """The MQTT client's housekeeping timer outlives the test's Home Assistant."""
    return True


@pytest.mark.parametrize("base", ["wxstation", "garden/wx"])
async def test_discovery_creates_every_entity(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, base: str
) -> None:
    """Every value and health entity comes out with its device class, unit, state class, state."""
    parser = make_parser("reference", derived=["dew_point", "absolute_humidity"])
    topics = Topics(base)
    discovery = DiscoveryStation(5, "Garden", parser.all_fields, parser.kind)
    async_fire_mqtt_message(
        hass, topics.discovery(5), json.dumps(device_config(discovery, topics)), retain=True
    )
    await hass.async_block_till_done()
    # Retained messages reach entities that subscribed: those discovery just made.
    async_fire_mqtt_message(hass, topics.availability, "online", retain=True)
    async_fire_mqtt_message(hass, topics.station_availability(5), "online", retain=True)

    sim = station(5, start=T0 - 3600)
    sim.parser = parser
    batch, _ = make_batch("Garden", parser, StationClock(), sim.wake().packet, T0)
    state = state_payload(batch, [f.key for f in parser.all_fields])
    assert state is not None
    async_fire_mqtt_message(hass, topics.state(5), encode(state), retain=True)
    await hass.async_block_till_done()

    device = find_device(
        hass, ("mqtt", topics.device_key(5)), hass.config_entries.async_entries("mqtt")[0].entry_id
    )
    assert device is not None
    assert device.name == "Garden"
    registry = er.async_get(hass)
    entities = er.async_entries_for_device(registry, device.id)
    expected = {topics.device_key(5) + "_" + f.key: f for f in parser.all_fields}
    expected |= {f"{topics.device_key(5)}_health_{f.key}": f for f in HEALTH_FIELDS}
    assert {entity.unique_id for entity in entities} == set(expected)

    newest = batch.samples[-1].values
    health = batch.health()
    for entity in entities:
        field = expected[entity.unique_id]
        current = hass.states.get(entity.entity_id)
        assert current is not None, entity.entity_id
        assert current.attributes.get("device_class") == field.device_class, entity.entity_id
        assert current.attributes.get("unit_of_measurement") == field.unit, entity.entity_id
        assert current.attributes.get("state_class") == field.state_class, entity.entity_id
        precision = entity.options.get("sensor", {}).get("suggested_display_precision")
        assert precision == field.precision, entity.entity_id
        if entity.unique_id.endswith(f"_health_{field.key}"):
            value = health[field.key]
            if field.key == "last_seen":
                assert current.state == value.replace(".000Z", "+00:00")
            else:
                assert float(current.state) == pytest.approx(value)
        else:
            assert float(current.state) == pytest.approx(newest[field.key]), entity.entity_id


def _home_assistant_mqtt(name: str) -> Any:
    """An attribute of Home Assistant's MQTT integration, wherever this release keeps it.

    Found by looking (feature detection), never by the version number.
    """
    for module in ("schemas", "discovery", "const"):
        found = getattr(
            importlib.import_module(f"homeassistant.components.mqtt.{module}"), name, None
        )
        if found is not None:
            return found
    raise AssertionError(f"Home Assistant's MQTT integration has no {name}")


def _nulls(value: Any, path: str = "") -> list[str]:
    """Where ``value`` holds a None, as key paths."""
    if value is None:
        return [path or "(the payload)"]
    if isinstance(value, dict):
        return [n for key, item in value.items() for n in _nulls(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [n for i, item in enumerate(value) for n in _nulls(item, f"{path}[{i}]")]
    return []


DECLARATIVE = make_parser(
    fields=[
        FieldSpec("temperature", "i16", scale=0.01, unit="°C", device_class="temperature"),
        FieldSpec(
            "rain mm", "u16", unit="mm", state_class="total_increasing", icon="mdi:weather-rainy"
        ),
        FieldSpec("battery", "u8", unit="%", device_class="battery", precision=0),
    ],
    derived=[],
)


REFERENCE_DERIVED = make_parser("reference", derived=["dew_point", "absolute_humidity"])


@pytest.mark.parametrize(
    ("station", "topics"),
    [
        (DiscoveryStation(1, "Garden", REFERENCE_DERIVED.all_fields, "reference"), Topics()),
        (DiscoveryStation(42, "Shed", DECLARATIVE.all_fields, "declarative"), Topics("wx/a", "ha")),
        (DiscoveryStation(7, "Station 7", make_parser("reference").all_fields), Topics()),
    ],
)
def test_payload_passes_home_assistant_schemas(station: DiscoveryStation, topics: Topics) -> None:
    """Home Assistant's own validation accepts the payload and keeps every key of it."""
    payload = json.loads(json.dumps(device_config(station, topics, sw_version="1.2.3")))
    assert not _nulls(payload)
    assert not [c for c in payload["components"].values() if "object_id" in c]

    # The device-based message as a whole: strict, an unknown key is an error.
    device_schema = _home_assistant_mqtt("DEVICE_DISCOVERY_SCHEMA")
    device_schema(json.loads(json.dumps(payload)))

    # Each component as Home Assistant sets it up: the device's shared options
    # where the component has none, the device and origin, then the sensor
    # platform's discovery schema (which drops what it does not know).
    from homeassistant.components.mqtt import sensor as mqtt_sensor

    shared = _home_assistant_mqtt("SHARED_OPTIONS")
    for key, component in payload["components"].items():
        config = {k: v for k, v in component.items() if k != "platform"}
        for option in shared:
            if option in payload and option not in config:
                config[option] = payload[option]
        config["device"] = payload["device"]
        config["origin"] = payload["origin"]
        assert component["platform"] == "sensor"
        validated = mqtt_sensor.DISCOVERY_SCHEMA(json.loads(json.dumps(config)))
        dropped = set(config) - set(validated)
        assert not dropped, f"{key}: Home Assistant ignores {sorted(dropped)}"
        assert validated["availability_mode"] == "all"
