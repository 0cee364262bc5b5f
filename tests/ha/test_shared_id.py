"""Two stations flashed with one device id: a repair issue, whichever way the
stations' packets come (directly over TCP, or from a bridge over MQTT)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from freezegun.api import FrozenDateTimeFactory

# Imported here, not under the frozen clock: the supervisor client it loads
# builds its models from datetime types, which freezegun replaces.
from homeassistant.components.mqtt import config_flow as _mqtt_config_flow  # noqa: F401
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import async_fire_mqtt_message
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from bridge.sim import Wake
from custom_components.wxstation.const import DOMAIN
from wxstation.payloads import batch_payload, encode
from wxstation.samples import make_batch
from wxstation.timing import SHARED_ID_CLASHES, StationClock

from .common import REFERENCE, T0, mqtt_entry, send_and_wait, setup_entry, station, tcp_entry


@pytest.fixture
def expected_lingering_timers() -> bool:
    """The MQTT client's housekeeping timer outlives the test's Home Assistant."""
    return True


def _issue(hass: HomeAssistant, entry_id: str, device_id: int) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, f"shared_id_{entry_id}_{device_id}")


@pytest.mark.usefixtures("socket_enabled")
async def test_two_stations_with_one_id_sending_directly_raise_an_issue(
    hass: HomeAssistant,
) -> None:
    """Two stations with device id 7, waking 20 minutes apart, send real packets to
    the port: once their packets' spacing contradicted the wake interval twice, a
    repair issue names the id and how often, and every packet was decoded."""
    entry = tcp_entry()
    await setup_entry(hass, entry)
    one = station(7, start=T0 - 4 * 3600, send_delay=0.0)
    other = station(7, start=T0 - 4 * 3600 + 1200, send_delay=0.0)
    wakes: list[Wake] = []
    for sim in (one, other):
        for _ in range(3):
            wakes.append(sim.wake())
            sim.delivered()
    wakes.sort(key=lambda wake: wake.arrival)

    seen = []
    for wake in wakes:
        await send_and_wait(hass, entry, wake.packet, wake.arrival)
        seen.append(_issue(hass, entry.entry_id, 7) is not None)
    clashes = entry.runtime_data.source.clocks[7].clashes
    assert len(clashes) >= SHARED_ID_CLASHES
    # The first two packets are one of each station; then each one clashes.
    assert seen[:2] == [False, False]
    assert seen[-1]
    issue = _issue(hass, entry.entry_id, 7)
    assert issue is not None
    assert issue.translation_key == "shared_id"
    assert issue.severity == ir.IssueSeverity.WARNING
    assert not issue.is_fixable
    assert issue.translation_placeholders == {
        "device_id": "7",
        "station": "Station 7",
        "count": str(len(clashes)),
    }
    source = entry.runtime_data.source
    assert source.handled == len(wakes)
    assert source.kept == []


async def test_a_bridge_s_word_on_a_shared_id_raises_and_clears_the_issue(
    hass: HomeAssistant, mqtt_mock: MqttMockHAClient, frozen_now: FrozenDateTimeFactory
) -> None:
    """Following a bridge, the health of its batch messages says whether two
    stations share an id: the issue comes with the bridge's count and goes once
    the bridge's newest batch of the station no longer says so."""
    entry = mqtt_entry()
    await setup_entry(hass, entry)
    wake = station(3, start=T0 - 3600).wake()

    def publish(arrival: float, clashes: int) -> None:
        batch, _ = make_batch("Garden", REFERENCE, StationClock(), wake.packet, arrival)
        shown = replace(batch, id_clashes=clashes)
        async_fire_mqtt_message(hass, "wxstation/3/batch", encode(batch_payload(shown)))

    publish(T0, 1)
    await hass.async_block_till_done()
    assert _issue(hass, entry.entry_id, 3) is None

    publish(T0 + 10, 3)
    await hass.async_block_till_done()
    issue = _issue(hass, entry.entry_id, 3)
    assert issue is not None
    assert issue.translation_placeholders == {"device_id": "3", "station": "Garden", "count": "3"}

    # A late batch (the bridge's backlog) does not speak for the station now.
    publish(T0 - 3600, 0)
    await hass.async_block_till_done()
    assert _issue(hass, entry.entry_id, 3) is not None

    frozen_now.tick(3600)
    publish(T0 + 3600, 0)
    await hass.async_block_till_done()
    assert _issue(hass, entry.entry_id, 3) is None
