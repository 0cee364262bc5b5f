"""Direct mode: stations send real TCP packets to a port inside Home Assistant."""

from __future__ import annotations

import logging
import socket
import time
from datetime import timedelta
from unittest.mock import patch

import pytest
from homeassistant.components.sensor import ATTR_STATE_CLASS
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from bridge.sim import build_packet
from custom_components.wxstation.const import (
    CONF_STATIONS,
    CONF_UNKNOWN,
    DOMAIN,
    UNKNOWN_ISSUE_AFTER,
    UNKNOWN_KEEP,
)
from custom_components.wxstation.diagnostics import async_get_config_entry_diagnostics
from custom_components.wxstation.repairs import async_create_fix_flow
from wxstation.samples import make_batch
from wxstation.timing import StationClock

from .common import (
    REFERENCE,
    find_device,
    remove_device,
    send_and_wait,
    setup_entry,
    station,
    tcp_entry,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

FIELDS = {
    "light": ("illuminance", "lx"),
    "humidity": ("humidity", "%"),
    "temperature": ("temperature", "°C"),
}


def _entity_id(hass: HomeAssistant, entry_id: str, device_id: int, key: str) -> str | None:
    return er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{entry_id}_{device_id}_{key}")


async def test_packet_creates_device_and_entities(hass: HomeAssistant) -> None:
    """A packet sent to the port creates the station's device and its sensors, with its values."""
    entry = tcp_entry()
    await setup_entry(hass, entry)
    wake = station().wake()
    now = float(int(time.time()))
    await send_and_wait(hass, entry, wake.packet, now)

    device = find_device(hass, (DOMAIN, f"{entry.entry_id}_1"), entry.entry_id)
    assert device is not None
    assert device.name == "Station 1"
    assert device.serial_number == "1"
    assert device.model == "Battery weather station (reference parser)"
    batch, _ = make_batch("Station 1", REFERENCE, StationClock(), wake.packet, now)
    newest = batch.samples[-1].values
    for key, (device_class, unit) in FIELDS.items():
        entity_id = _entity_id(hass, entry.entry_id, 1, key)
        assert entity_id == f"sensor.station_1_{key}"
        state = hass.states.get(entity_id)
        assert state is not None
        assert float(state.state) == pytest.approx(newest[key])
        assert state.attributes[ATTR_DEVICE_CLASS] == device_class
        assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == unit
        assert state.attributes[ATTR_STATE_CLASS] == "measurement"
    precision = er.async_get(hass).async_get("sensor.station_1_temperature")
    assert precision is not None
    assert precision.options["sensor"]["suggested_display_precision"] == 2

    samples = hass.states.get("sensor.station_1_samples_in_last_packet")
    assert samples is not None
    assert samples.state == "30"
    last_seen = hass.states.get("sensor.station_1_last_seen")
    assert last_seen is not None
    assert dt_util.parse_datetime(last_seen.state) == dt_util.utc_from_timestamp(now)
    interval = er.async_get(hass).async_get("sensor.station_1_sample_interval")
    assert interval is not None
    assert interval.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert interval.entity_category is not None


async def test_second_station_and_restart(hass: HomeAssistant) -> None:
    """A new station gets its device without a restart; after one, states come back."""
    entry = tcp_entry()
    await setup_entry(hass, entry)
    now = float(int(time.time()))
    await send_and_wait(hass, entry, station(1).wake().packet, now)
    await send_and_wait(hass, entry, station(7).wake().packet, now)
    assert hass.states.get("sensor.station_7_temperature") is not None
    before = hass.states.get("sensor.station_7_temperature")

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    after = hass.states.get("sensor.station_7_temperature")
    assert after is not None
    assert before is not None
    assert after.state == before.state
    assert entry.runtime_data.source.clocks.keys() == {1, 7}


async def test_unavailable_then_removable(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator
) -> None:
    """A station that misses two wake-ups turns unavailable and can then be removed."""
    assert await async_setup_component(hass, "config", {})
    entry = tcp_entry()
    await setup_entry(hass, entry)
    now = float(int(time.time()))
    await send_and_wait(hass, entry, station(3).wake().packet, now)
    device = find_device(hass, (DOMAIN, f"{entry.entry_id}_3"), entry.entry_id)
    assert device is not None
    client = await hass_ws_client(hass)
    response = await remove_device(hass, client, device.id, entry.entry_id)
    assert not response["success"]

    hub = entry.runtime_data.hub
    hub.clock = lambda: now + 2 * 3600 + 1
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=2))
    await hass.async_block_till_done()
    assert hass.states.get("sensor.station_3_temperature").state != STATE_UNAVAILABLE
    hub.clock = lambda: now + 3 * 3600
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=4))
    await hass.async_block_till_done()
    assert hass.states.get("sensor.station_3_temperature").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.station_3_last_seen").state != STATE_UNAVAILABLE

    response = await remove_device(hass, client, device.id, entry.entry_id)
    assert response["success"]
    await hass.async_block_till_done()
    assert 3 not in hub.stations
    assert 3 not in entry.runtime_data.source.clocks
    assert hass.states.get("sensor.station_3_temperature") is None

    # It comes back when it reports again.
    hub.clock = time.time
    await send_and_wait(hass, entry, station(3).wake().packet, time.time())
    assert hass.states.get("sensor.station_3_temperature").state != STATE_UNAVAILABLE


async def test_other_devices_are_not_stations(hass: HomeAssistant) -> None:
    """Removing a device asks only about this entry's stations."""
    entry = tcp_entry()
    await setup_entry(hass, entry)
    from custom_components.wxstation import async_remove_config_entry_device

    other = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={("other", "x"), (DOMAIN, "elsewhere_1")}
    )
    assert await async_remove_config_entry_device(hass, entry, other)


async def test_unknown_station_kept_then_named(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """With unknown stations kept, a repair issue asks to name one; naming it decodes them."""
    entry = tcp_entry(options={CONF_UNKNOWN: UNKNOWN_KEEP})
    await setup_entry(hass, entry)
    sim = station(9)
    now = time.time() - UNKNOWN_ISSUE_AFTER * 3600
    registry = ir.async_get(hass)
    issue_id = f"unknown_station_{entry.entry_id}_9"
    for number in range(UNKNOWN_ISSUE_AFTER):
        with caplog.at_level(logging.WARNING):
            await send_and_wait(hass, entry, sim.wake().packet, now + number * 3600)
        sim.delivered()
        assert "device 9 is not configured" in caplog.text
        assert (registry.async_get_issue(DOMAIN, issue_id) is not None) == (
            number == UNKNOWN_ISSUE_AFTER - 1
        )
    assert hass.states.get("sensor.station_9_temperature") is None
    assert [p.device_id for p in entry.runtime_data.source.kept] == [9] * UNKNOWN_ISSUE_AFTER

    issue = registry.async_get_issue(DOMAIN, issue_id)
    flow = await async_create_fix_flow(hass, issue_id, issue.data)
    flow.hass = hass
    form = await flow.async_step_init()
    assert form["step_id"] == "name"
    done = await flow.async_step_name({"name": " Garden "})
    assert done["type"] == "create_entry"
    await hass.async_block_till_done()

    assert entry.options[CONF_STATIONS] == {"9": "Garden"}
    assert entry.runtime_data.source.kept == []
    assert registry.async_get_issue(DOMAIN, issue_id) is None
    assert hass.states.get("sensor.garden_temperature") is not None
    # All three packets decoded in order: the clock calibrated on the hourly arrivals.
    assert entry.runtime_data.source.clocks[9].clock_factor == pytest.approx(1.0, abs=0.01)


async def test_repair_flow_after_entry_removed(hass: HomeAssistant) -> None:
    flow = await async_create_fix_flow(hass, "x", {"entry_id": "gone", "device_id": 4})
    flow.hass = hass
    result = await flow.async_step_init()
    assert result["type"] == "abort"
    assert result["reason"] == "entry_removed"


async def test_bad_packets_are_kept_with_the_reason(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """Bytes that are not a packet are kept and logged with the byte and the reason."""
    entry = tcp_entry()
    await setup_entry(hass, entry)
    with caplog.at_level(logging.WARNING):
        await send_and_wait(hass, entry, b"\x0c\x00\x10\x0e\x00\x00\x06\x01", time.time())
    assert "fewer than 9 header bytes: only 8 arrived (byte 8)" in caplog.text
    kept = entry.runtime_data.source.kept
    assert len(kept) == 1
    assert kept[0].device_id is None

    # Still kept after the options change, and still there after a restart.
    hass.config_entries.async_update_entry(entry, options={CONF_STATIONS: {"1": "Roof"}})
    await hass.async_block_till_done()
    assert [p.data for p in entry.runtime_data.source.kept] == [kept[0].data]
    assert entry.runtime_data.source.kept[0].reason == kept[0].reason


async def test_kept_packets_are_bounded(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    entry = tcp_entry()
    await setup_entry(hass, entry)
    with patch("custom_components.wxstation.receive_tcp.MAX_KEPT_PACKETS", 2):
        for number in range(3):
            await send_and_wait(hass, entry, bytes([number]) * 3, time.time())
    assert [p.data for p in entry.runtime_data.source.kept] == [b"\x01" * 3, b"\x02" * 3]
    assert "the oldest (1 from 127.0.0.1" in caplog.text


async def test_station_with_wrong_parser_is_kept(hass: HomeAssistant) -> None:
    """A packet whose records do not fit the parser is kept, not guessed at."""
    entry = tcp_entry()
    await setup_entry(hass, entry)
    wrong = build_packet(5, [b"\x01\x02\x03\x04"] * 3, record_size=4, value_count=2)
    await send_and_wait(hass, entry, wrong, time.time())
    kept = entry.runtime_data.source.kept[0]
    assert kept.device_id == 5
    assert "parser has 6-byte, 3-value records" in str(kept.reason)


async def test_port_in_use_retries_setup(hass: HomeAssistant) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        entry = tcp_entry(port=busy.getsockname()[1])
        entry.add_to_hass(hass)
        assert not await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.SETUP_RETRY
        assert "address already in use" in str(entry.reason).lower()


async def test_diagnostics_are_redacted(hass: HomeAssistant) -> None:
    entry = tcp_entry()
    await setup_entry(hass, entry)
    await send_and_wait(hass, entry, station(2).wake().packet, time.time())
    await send_and_wait(hass, entry, b"junk", time.time())
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["entry"]["data"]["host"] == "**REDACTED**"
    assert diagnostics["source"]["kept"][0]["peer"] == "**REDACTED**"
    assert diagnostics["source"]["kept"][0]["data"] == b"junk".hex()
    assert diagnostics["stations"]["2"]["available"] is True
    assert sum(diagnostics["stations"]["2"]["hour_samples"].values()) == 30


async def test_removing_the_entry_removes_its_storage(
    hass: HomeAssistant, hass_storage: dict[str, object]
) -> None:
    entry = tcp_entry()
    await setup_entry(hass, entry)
    await send_and_wait(hass, entry, station(2).wake().packet, time.time())
    await hass.config_entries.async_unload(entry.entry_id)
    keys = {f"{DOMAIN}.{entry.entry_id}.{part}" for part in ("stations", "hours", "packets")}
    assert keys <= hass_storage.keys()
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not keys & hass_storage.keys()
