"""The integration as a user meets it, reviewed as snapshot diffs
(tests/ha/__snapshots__): the entities of one station's device, and the
diagnostics of its entry.

What is compared is a projection chosen here (the fields a user or another
integration relies on), not whole registry objects, whose attributes differ
between the Home Assistant releases the tests run on. The clock starts at a fixed
time and the station's packet arrives at the fixed time ``T0``, so the snapshots do not
depend on the day the tests run. ``--snapshot-update`` rewrites them
(tests/README.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any

import pytest
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from syrupy.assertion import SnapshotAssertion

from custom_components.wxstation.const import DOMAIN
from custom_components.wxstation.diagnostics import async_get_config_entry_diagnostics

from .common import NOW, T0, find_device, send_and_wait, setup_entry, station, tcp_entry

# Home Assistant's clock starts at NOW and runs (a frozen one would stop the
# waiting for a packet to be handled); the test is over long before a station
# heard at T0 could turn unavailable.
pytestmark = [
    pytest.mark.usefixtures("socket_enabled"),
    pytest.mark.freeze_time(datetime.fromtimestamp(NOW, UTC), tick=True),
]

#: A fixed entry id: the entities' unique ids contain it.
ENTRY_ID = "01JSNAPSH0TENTRY0000000000"
#: The state attributes a card, a template or the history relies on.
ATTRIBUTES = ("friendly_name", "device_class", "state_class", "unit_of_measurement", "icon")


def _plain(value: Any) -> Any:
    """``value`` in plain types, as every release and syrupy version writes them
    alike: enum members as their values, inside dicts and lists too."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    return value


def _state(state: State | None) -> str | float | None:
    """A numeric state as a number rounded to 6 places (how many digits Home
    Assistant writes of a float differs between releases), any other as it is."""
    if state is None:
        return None
    try:
        return round(float(state.state), 6)
    except ValueError:
        return state.state


def entity_view(hass: HomeAssistant, entity: er.RegistryEntry) -> dict[str, Any]:
    """What the snapshot holds of one entity: its registry entry's chosen fields and its state."""
    state = hass.states.get(entity.entity_id)
    view = {
        "unique_id": entity.unique_id,
        "translation_key": entity.translation_key,
        "device_class": entity.original_device_class,
        "state_class": (entity.capabilities or {}).get("state_class"),
        "unit": entity.unit_of_measurement,
        "display_precision": entity.options.get("sensor", {}).get("suggested_display_precision"),
        "entity_category": entity.entity_category,
        "disabled_by": entity.disabled_by,
        "state": _state(state),
        "attributes": None
        if state is None
        else {key: state.attributes[key] for key in ATTRIBUTES if key in state.attributes},
    }
    return _plain(view)


def device_view(device: dr.DeviceEntry) -> dict[str, Any]:
    """What the snapshot holds of the station's device."""
    return {
        "name": device.name,
        "manufacturer": device.manufacturer,
        "model": device.model,
        "serial_number": device.serial_number,
        "identifiers": sorted(map(list, device.identifiers)),
    }


async def _one_station(hass: HomeAssistant) -> None:
    """A direct-mode entry that station 1's first packet reached at ``T0``, and
    a packet of no station's kept aside."""
    entry = tcp_entry(entry_id=ENTRY_ID)
    await setup_entry(hass, entry)
    await send_and_wait(hass, entry, station(1).wake().packet, T0)
    await send_and_wait(hass, entry, b"junk", T0)


async def test_entities_of_one_station(hass: HomeAssistant, snapshot: SnapshotAssertion) -> None:
    """Test the device a station's first packet creates and every entity of it, with its state."""
    await _one_station(hass)
    device = find_device(hass, (DOMAIN, f"{ENTRY_ID}_1"), ENTRY_ID)
    assert device is not None
    entities = er.async_entries_for_device(
        er.async_get(hass), device.id, include_disabled_entities=True
    )
    assert entities
    assert device_view(device) == snapshot(name="device")
    assert {
        e.entity_id: entity_view(hass, e) for e in sorted(entities, key=lambda e: e.entity_id)
    } == snapshot(name="entities")


async def test_diagnostics(hass: HomeAssistant, snapshot: SnapshotAssertion) -> None:
    """Test the entry's diagnostics: redacted, with its station and the packet kept aside."""
    await _one_station(hass)
    entry = hass.config_entries.async_get_entry(ENTRY_ID)
    assert entry is not None
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    # The port the system picked differs from run to run.
    assert diagnostics["source"].pop("port") == entry.runtime_data.source.port
    assert diagnostics == snapshot
