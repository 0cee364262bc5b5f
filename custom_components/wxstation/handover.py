"""One station, one device: the bridge's MQTT discovery and this integration never both show it.

Following a bridge whose MQTT discovery Home Assistant reads, the discovery
already makes the station's device and a sensor per value (the same values,
names and availability as this integration's). This integration then adds no
device or entity of its own for that station and keeps writing its long-term
statistics. Entities it made before (an older release, or a station it showed
before the bridge announced it) are handed over: removed from the registries,
and where the discovery's entity only got a suffixed id (``sensor.shed_temperature_2``)
because this integration's held the plain one, the discovery's entity takes the
plain id over, so the id a user has keeps working.

Where a station is shown twice and this cannot be undone from here (a bridge's
discovery that this integration does not follow, or does not recognise), a
repair issue says what to change (see :mod:`.repairs`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er

from wxstation import NODE, component

from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)

#: Home Assistant's MQTT integration: its domain, and the config keys and
#: defaults of its discovery (``discovery``, ``discovery_prefix``).
MQTT_DOMAIN = "mqtt"
MQTT_DISCOVERY = "discovery"
MQTT_DISCOVERY_PREFIX = "discovery_prefix"
MQTT_DEFAULT_PREFIX = "homeassistant"

#: A wxstation bridge's device identifier: ``wxstation_<id>``, or with a base topic
#: in between (``wxstation.discovery.Topics.device_key``).
_BRIDGE_KEY = re.compile(rf"^{NODE}(?:_[a-z0-9_]+)?_(\d+)$")


def mqtt_discovery_prefix(hass: HomeAssistant) -> str | None:
    """The discovery prefix Home Assistant's MQTT integration reads; None if it reads none."""
    for entry in hass.config_entries.async_entries(MQTT_DOMAIN):
        # The MQTT integration reads its settings from data and options merged.
        conf = {**entry.data, **entry.options}
        if not conf.get(MQTT_DISCOVERY, True):
            return None
        return str(conf.get(MQTT_DISCOVERY_PREFIX, MQTT_DEFAULT_PREFIX))
    return None


def find_device(
    hass: HomeAssistant, identifier: tuple[str, str], config_entry_id: str
) -> dr.DeviceEntry | None:
    """The device with ``identifier`` that the config entry owns.

    Where identifiers are unique only within a config entry, Home Assistant
    looks a device up by identifier and entry (and reports the older lookup as
    deprecated); releases before that have only the older lookup.
    """
    registry = dr.async_get(hass)
    by_identifier = getattr(registry, "async_get_device_by_identifier", None)
    if by_identifier is not None:
        found: dr.DeviceEntry | None = by_identifier(identifier, config_entry_id)
        return found
    device = registry.async_get_device(identifiers={identifier})
    if device is None or config_entry_id not in device.config_entries:
        return None
    return device


def bridge_device(hass: HomeAssistant, device_key: str) -> dr.DeviceEntry | None:
    """The device the bridge's MQTT discovery made for a station, if Home Assistant has it."""
    for entry in hass.config_entries.async_entries(MQTT_DOMAIN):
        if device := find_device(hass, (MQTT_DOMAIN, device_key), entry.entry_id):
            return device
    return None


def bridge_devices_of(hass: HomeAssistant, device_id: int) -> Iterator[dr.DeviceEntry]:
    """Devices that any wxstation bridge's MQTT discovery made for station ``device_id``."""
    registry = dr.async_get(hass)
    seen: set[str] = set()
    for entry in hass.config_entries.async_entries(MQTT_DOMAIN):
        yield from _bridge_devices(
            dr.async_entries_for_config_entry(registry, entry.entry_id), device_id, seen
        )


def _bridge_devices(
    devices: Iterable[dr.DeviceEntry], device_id: int, seen: set[str]
) -> Iterator[dr.DeviceEntry]:
    for device in devices:
        if device.id in seen:
            continue
        seen.add(device.id)
        for domain, identifier in device.identifiers:
            match = _BRIDGE_KEY.match(identifier)
            if domain == MQTT_DOMAIN and match and int(match[1]) == device_id:
                yield device
                break


def _suffixed(entity_id: str, base: str) -> bool:
    """Whether ``entity_id`` is ``base`` with the suffix Home Assistant adds to a taken id."""
    return re.fullmatch(re.escape(base) + r"_\d+", entity_id) is not None


#: What a user set on an entity that the discovery's entity takes over where it
#: has nothing set itself.
_ENTITY_SETTINGS = ("name", "icon", "area_id", "labels", "hidden_by")


def _settings(ours: Any, theirs: Any, keys: Iterable[str]) -> dict[str, Any]:
    """The user's settings of ``ours`` that ``theirs`` lacks."""
    return {
        key: getattr(ours, key)
        for key in keys
        if getattr(ours, key, None) and not getattr(theirs, key, None)
    }


def hand_over(hass: HomeAssistant, entry_id: str, identifier: str, device_key: str) -> list[str]:
    """Remove this entry's device and entities of a station the bridge's discovery shows.

    ``identifier`` is the station's device identifier in this integration
    (also the start of its entities' unique ids), ``device_key`` the
    discovery's. Returns the entity ids removed. A discovery entity whose id is
    one of them with a suffix takes that id over; what the user set (a name, an
    icon, an area, labels, hidden) goes over where the discovery's has none.
    """
    entities = er.async_get(hass)
    ours = f"{identifier}_"
    removed: list[str] = []
    for entity in er.async_entries_for_config_entry(entities, entry_id):
        if entity.platform != DOMAIN or not entity.unique_id.startswith(ours):
            continue
        key = entity.unique_id.removeprefix(ours)
        theirs = entities.async_get_entity_id(
            entity.domain, MQTT_DOMAIN, f"{device_key}_{component(key)}"
        )
        entities.async_remove(entity.entity_id)
        removed.append(entity.entity_id)
        if theirs is None:
            continue
        changes = _settings(entity, entities.async_get(theirs), _ENTITY_SETTINGS)
        if _suffixed(theirs, entity.entity_id):
            changes["new_entity_id"] = entity.entity_id
            _LOGGER.info("%s is now %s (the bridge's discovery)", theirs, entity.entity_id)
        if changes:
            entities.async_update_entity(theirs, **changes)
    devices = dr.async_get(hass)
    device = find_device(hass, (DOMAIN, identifier), entry_id)
    if device is not None:
        if (bridge := bridge_device(hass, device_key)) is not None and (
            changes := _settings(device, bridge, ("area_id", "name_by_user"))
        ):
            devices.async_update_device(bridge.id, **changes)
        devices.async_remove_device(device.id)
    if removed:
        _LOGGER.info(
            "%s is shown by the bridge's MQTT discovery; removed this "
            "integration's entities of it: %s",
            device_key,
            ", ".join(removed),
        )
    return removed
