"""A station that stops sending turns unavailable when the bridge's rule says, and stays so.

Against a real Mosquitto (tests/servers.py) with Home Assistant's real MQTT
integration connected to it, and the bridge's real MQTT sink publishing: once
through the bridge's MQTT discovery, once with the integration following the
bridge, once with the integration receiving directly. Each time the station
goes quiet, turns unavailable at the rule's moment (the bridge's clock, or Home
Assistant's, moved by the test), is still unavailable after Home Assistant set
its integrations up again, and comes back with its next packet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import mqtt

# Imported here, not under the frozen clock: the supervisor client it loads
# builds its models from datetime types, which freezegun replaces.
from homeassistant.components.mqtt import config_flow as _mqtt_config_flow  # noqa: F401
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_PORT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from bridge.availability import unavailable_at
from bridge.config import Config, parse_config
from bridge.samples import Batch, make_batch
from bridge.sinks.discovery import Topics
from bridge.sinks.mqtt import MqttSink
from bridge.timing import StationClock
from custom_components.wxstation.const import AVAILABILITY_CHECK_INTERVAL
from tests.helpers import Clock
from tests.servers import Mosquitto

from .common import (
    NOW,
    REFERENCE,
    T0,
    mqtt_entry,
    send_and_wait,
    setup_entry,
    station,
    tcp_entry,
)

# mock_hass_config: an empty configuration.yaml, which the MQTT integration reads.
pytestmark = pytest.mark.usefixtures("socket_enabled", "mock_hass_config")

#: Home Assistant's now at the start of each test (then its clock runs on).
FROZEN = dt_util.utc_from_timestamp(NOW).isoformat()
WAKE_EVERY_S = 3600
TEMPERATURE = "sensor.garden_temperature"
LAST_SEEN = "sensor.garden_last_seen"


@pytest.fixture
def expected_lingering_timers() -> bool:
    """The MQTT client's housekeeping timer outlives the test's Home Assistant."""
    return True


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    with Mosquitto() as server:
        yield server


async def until(hass: HomeAssistant, condition: Callable[[], bool], what: str) -> None:
    """Wait (real time, at most 20 s) until ``condition`` holds."""
    for _ in range(400):
        await hass.async_block_till_done()
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def shown(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return None if state is None else state.state


def showing_values(hass: HomeAssistant) -> bool:
    return shown(hass, TEMPERATURE) not in (None, STATE_UNAVAILABLE, "unknown")


@asynccontextmanager
async def real_mqtt(hass: HomeAssistant, broker: Mosquitto) -> AsyncIterator[MockConfigEntry]:
    """Home Assistant's MQTT integration, connected to ``broker``.

    Every entry is unloaded again, newest first, while the broker still runs: it
    stops before Home Assistant does.
    """
    entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        title="MQTT",
        data={mqtt.CONF_BROKER: broker.host, CONF_PORT: broker.port},
        version=1,
        minor_version=2,
    )
    await setup_entry(hass, entry)
    await until(hass, lambda: mqtt.is_connected(hass), "Home Assistant's MQTT connection")
    try:
        yield entry
    finally:
        for loaded in reversed(hass.config_entries.async_entries()):
            if loaded.state is ConfigEntryState.LOADED:
                assert await hass.config_entries.async_unload(loaded.entry_id)
        await hass.async_block_till_done()


async def set_up_again(hass: HomeAssistant, *entries: ConfigEntry) -> None:
    """Unload ``entries`` (last first) and set them up again, as at a restart."""
    for entry in reversed(entries):
        assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    for entry in entries:
        assert await hass.config_entries.async_setup(entry.entry_id)
        if entry.domain == mqtt.DOMAIN:
            await until(hass, lambda: mqtt.is_connected(hass), "MQTT connected again")
    await hass.async_block_till_done()


def bridge_config(broker: Mosquitto, tmp_path: Path) -> Config:
    return parse_config(
        {
            "storage": {"path": str(tmp_path / "wxstation.db")},
            "stations": {1: {"name": "Garden"}},
            "mqtt": {"host": broker.host, "port": broker.port},
        }
    )


@asynccontextmanager
async def running_bridge_sink(config: Config, clock: Clock) -> AsyncIterator[MqttSink]:
    """The bridge's MQTT sink, judging availability by ``clock``."""
    assert config.mqtt is not None
    sink = MqttSink(config.mqtt, config, clock=clock, recheck=0.05, birth_delay=0)
    await sink.start()
    try:
        for _ in range(400):
            if sink.connected:
                break
            await asyncio.sleep(0.05)
        assert sink.connected, "the bridge's sink did not connect"
        yield sink
    finally:
        await sink.stop()


def packet_batch(arrival: float, start: float) -> Batch:
    """Station 1's packet (an hour of samples since ``start``) arriving at ``arrival``."""
    sim = station(1, start=start)
    batch, _ = make_batch("Garden", REFERENCE, StationClock(), sim.wake().packet, arrival)
    return batch


@pytest.mark.freeze_time(FROZEN, tick=True)
async def test_bridge_discovery_follows_the_station(
    hass: HomeAssistant, broker: Mosquitto, tmp_path: Path
) -> None:
    """The entities of the bridge's discovery turn unavailable when the rule says, stay
    so after Home Assistant's MQTT integration is set up again, and come back."""
    config = bridge_config(broker, tmp_path)
    clock = Clock(T0)
    station_topic = Topics().station_availability(1)
    async with real_mqtt(hass, broker) as entry, running_bridge_sink(config, clock) as sink:
        await until(hass, lambda: hass.states.get(TEMPERATURE) is not None, "discovery")
        assert shown(hass, TEMPERATURE) == STATE_UNAVAILABLE  # nothing sent yet

        await sink.deliver([packet_batch(T0, T0 - 3600)])
        await until(hass, lambda: showing_values(hass), "the station's values")

        gone = unavailable_at(T0, WAKE_EVERY_S)
        clock.now = gone - 1
        await asyncio.sleep(0.3)
        await hass.async_block_till_done()
        assert showing_values(hass)
        clock.now = gone
        await until(hass, lambda: shown(hass, TEMPERATURE) == STATE_UNAVAILABLE, "unavailable")
        # When it was last heard from stays on show.
        assert dt_util.parse_datetime(shown(hass, LAST_SEEN) or "") == dt_util.utc_from_timestamp(
            T0
        )

        # Home Assistant's MQTT integration again: the retained state comes anew,
        # and so does the retained verdict of the bridge.
        await set_up_again(hass, entry)
        await until(hass, lambda: shown(hass, LAST_SEEN) not in (None, "unknown"), "last seen")
        await until(
            hass,
            lambda: availability_of(hass, TEMPERATURE).get(station_topic) is False,
            "the station's retained availability",
        )
        assert shown(hass, TEMPERATURE) == STATE_UNAVAILABLE

        clock.now = T0 + 4 * WAKE_EVERY_S
        await sink.deliver([packet_batch(clock.now, T0)])
        await until(hass, lambda: showing_values(hass), "the station back")


def availability_of(hass: HomeAssistant, entity_id: str) -> dict[str, bool]:
    """What an MQTT entity last heard on each of its availability topics.

    Home Assistant's MQTT entities keep it in ``_available``; without it this
    fails, rather than let the test pass on an entity that has heard nothing.
    """
    entity = hass.data["entity_components"]["sensor"].get_entity(entity_id)
    if entity is None:
        return {}
    heard = getattr(entity, "_available", None)
    assert isinstance(heard, dict), f"{entity_id} keeps no _available: {type(entity)}"
    return dict(heard)


@pytest.mark.freeze_time(FROZEN, tick=True)
async def test_following_a_bridge_takes_its_word(
    hass: HomeAssistant, broker: Mosquitto, tmp_path: Path
) -> None:
    """Following the bridge, a station is unavailable when the bridge says so, still
    after the integration is set up again, and back with its next packet."""
    config = bridge_config(broker, tmp_path)
    clock = Clock(T0)
    async with real_mqtt(hass, broker) as mqtt_config, running_bridge_sink(config, clock) as sink:
        wx = mqtt_entry()
        await setup_entry(hass, wx)
        source = wx.runtime_data.source
        # The retained "online" of the bridge says the subscriptions are in place.
        await until(hass, lambda: source.diagnostics()["bridge_online"], "the bridge's state")

        await sink.deliver([packet_batch(T0, T0 - 3600)])
        await until(hass, lambda: showing_values(hass), "the station's values")
        assert wx.runtime_data.hub.available(1)

        clock.now = unavailable_at(T0, WAKE_EVERY_S)
        await until(hass, lambda: shown(hass, TEMPERATURE) == STATE_UNAVAILABLE, "unavailable")
        assert shown(hass, LAST_SEEN) != STATE_UNAVAILABLE

        await set_up_again(hass, mqtt_config, wx)
        source = wx.runtime_data.source
        await until(
            hass,
            lambda: source.diagnostics()["stations_online"] == {"1": False},
            "the station's retained availability",
        )
        assert shown(hass, TEMPERATURE) == STATE_UNAVAILABLE

        clock.now = T0 + 4 * WAKE_EVERY_S
        await sink.deliver([packet_batch(clock.now, T0)])
        await until(hass, lambda: showing_values(hass), "the station back")


@pytest.mark.freeze_time(FROZEN, tick=True)
async def test_direct_mode_applies_the_rule(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Receiving directly, the integration applies the same rule by Home Assistant's time."""
    entry = tcp_entry(options={"stations": {"1": "Garden"}})
    await setup_entry(hass, entry)
    sim = station(1, start=T0 - 3600)
    await send_and_wait(hass, entry, sim.wake().packet)
    sim.delivered()
    hub = entry.runtime_data.hub
    arrival = hub.stations[1].arrival
    assert arrival == pytest.approx(NOW, abs=30)  # Home Assistant's (frozen) time
    assert showing_values(hass)

    async def at(moment: float) -> None:
        freezer.move_to(dt_util.utc_from_timestamp(moment))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()

    gone = unavailable_at(arrival, WAKE_EVERY_S)
    await at(gone - 5)
    assert showing_values(hass)
    # The rule is applied once a check interval, so at most that late.
    await at(gone + AVAILABILITY_CHECK_INTERVAL.total_seconds())
    assert shown(hass, TEMPERATURE) == STATE_UNAVAILABLE
    assert shown(hass, LAST_SEEN) != STATE_UNAVAILABLE

    await set_up_again(hass, entry)
    assert shown(hass, TEMPERATURE) == STATE_UNAVAILABLE
    assert not entry.runtime_data.hub.available(1)

    await at(arrival + 4 * WAKE_EVERY_S)
    await send_and_wait(hass, entry, sim.wake().packet)
    assert showing_values(hass)
    assert entry.runtime_data.hub.stations[1].arrival == pytest.approx(
        arrival + 4 * WAKE_EVERY_S, abs=60
    )
