"""The wxstation integration: battery weather stations, every sample of them.

An entry either listens for the stations itself (a TCP port inside Home
Assistant) or follows a wxstation bridge over MQTT. Either way each station is
a device with a sensor per value, and every sample goes into long-term
statistics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, TypeAlias

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.storage import Store

from wxstation import ListenConfig

from .const import (
    CONF_MODE,
    CONF_PARSER,
    CONF_STATIONS,
    CONF_TOPIC,
    CONF_UNKNOWN,
    DEFAULT_PARSER,
    DEFAULT_UNKNOWN,
    DOMAIN,
    MODE_TCP,
    STORAGE_PARTS,
    STORAGE_VERSION,
    storage_key,
)
from .hub import WxStationHub
from .receive_mqtt import MqttSource
from .receive_tcp import DirectSource
from .repairs import (
    async_delete_duplicate_station_issues,
    async_delete_shared_id_issues,
    async_delete_storage_issue,
    async_delete_unknown_station_issues,
)

_LOGGER = logging.getLogger(__name__)

PLATFORMS: list[Platform] = [Platform.SENSOR]


@dataclass(slots=True)
class WxStationRuntime:
    hub: WxStationHub
    source: DirectSource | MqttSource


WxStationConfigEntry: TypeAlias = ConfigEntry[WxStationRuntime]


async def async_setup_entry(hass: HomeAssistant, entry: WxStationConfigEntry) -> bool:
    direct = entry.data[CONF_MODE] == MODE_TCP
    # Following a bridge, availability is the bridge's word (it owns the rule).
    hub = WxStationHub(
        hass,
        entry.entry_id,
        entry.options.get(CONF_STATIONS, {}),
        applies_rule=direct,
        follows_bridge=not direct,
    )
    parser = entry.options.get(CONF_PARSER, DEFAULT_PARSER)
    source: DirectSource | MqttSource
    if direct:
        source = DirectSource(
            hass,
            hub,
            ListenConfig(host=entry.data[CONF_HOST], port=entry.data[CONF_PORT]),
            unknown=entry.options.get(CONF_UNKNOWN, DEFAULT_UNKNOWN),
            parser_name=parser,
        )
    else:
        source = MqttSource(hass, hub, entry.data[CONF_TOPIC], parser)
    await hub.async_start()
    try:
        await source.async_start()
    except ConfigEntryNotReady:
        await hub.async_stop()
        raise
    entry.runtime_data = WxStationRuntime(hub, source)
    if hub.applies_rule:
        entry.async_on_unload(hub.track_availability())
    entry.async_on_unload(hub.track_devices())
    # Packets may arrive before the sensors are set up: the platform creates
    # entities for every station the hub knows by then.
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    return True


async def _async_options_updated(hass: HomeAssistant, entry: WxStationConfigEntry) -> None:
    # Names and the unknown-station policy decide how kept packets decode: a
    # reload decodes them again under the new options.
    await hass.config_entries.async_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: WxStationConfigEntry) -> bool:
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.source.async_stop()
        await entry.runtime_data.hub.async_stop()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: WxStationConfigEntry) -> None:
    """Delete what the entry stored: clocks, kept packets, recent samples."""
    for part in STORAGE_PARTS:
        await Store[dict[str, Any]](
            hass, STORAGE_VERSION, storage_key(entry.entry_id, part)
        ).async_remove()
        async_delete_storage_issue(hass, entry.entry_id, part)
    async_delete_unknown_station_issues(hass, entry.entry_id)
    async_delete_duplicate_station_issues(hass, entry.entry_id)
    async_delete_shared_id_issues(hass, entry.entry_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: WxStationConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user remove a station that stopped reporting; one that reports stays."""
    hub = entry.runtime_data.hub
    for domain, identifier in device.identifiers:
        if domain != DOMAIN:
            continue
        device_id = hub.device_id_of(identifier)
        if device_id is None:
            continue
        if hub.available(device_id):
            return False
        hub.forget(device_id)
        entry.runtime_data.source.forget(device_id)
    return True
