"""A station that stops sending turns unavailable when the bridge's rule says, and stays so.

Against a real Mosquitto (tests/support/servers.py) with Home Assistant's real MQTT
integration connected to it, and the bridge's real MQTT sink publishing: once
through the bridge's MQTT discovery, once with the integration following the
bridge, once with the integration receiving directly. Each time the station
goes quiet, turns unavailable at the rule's moment (the bridge's clock, or Home
Assistant's, moved by the test), is still unavailable after Home Assistant set
its integrations up again, and comes back with its next packet.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from freezegun.api import FrozenDateTimeFactory

# Imported here, not under the frozen clock: the supervisor client it loads
# builds its models from datetime types, which freezegun replaces.
from homeassistant.components.mqtt import config_flow as _mqtt_config_flow  # noqa: F401
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.wxstation.const import AVAILABILITY_CHECK_INTERVAL
from tests.support.clock import Clock
from tests.support.servers import Mosquitto
from wxstation.availability import unavailable_at
from wxstation.discovery import Topics

from .common import NOW, T0, mqtt_entry, send_and_wait, setup_entry, station, tcp_entry, until
from .real_mqtt import (
    bridge_config,
    packet_batch,
    real_mqtt,
    running_bridge_sink,
    set_up_again,
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


def shown(hass: HomeAssistant, entity_id: str) -> str | None:
    state = hass.states.get(entity_id)
    return None if state is None else state.state


def showing_values(hass: HomeAssistant) -> bool:
    return shown(hass, TEMPERATURE) not in (None, STATE_UNAVAILABLE, "unknown")


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
    # Without the bridge's discovery, the station's entities are the integration's.
    config = bridge_config(broker, tmp_path, discovery=False)
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
