"""What every wxstation entity shares: its station's device, availability and updates."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription

from wxstation import MANUFACTURER, device_model

from .const import DOMAIN, signal_station_updated
from .hub import WxStationHub
from .models import StationState


class WxStationEntity(Entity):
    """An entity of one station, updated when a packet of that station arrives."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, hub: WxStationHub, device_id: int, description: EntityDescription) -> None:
        self.hub = hub
        self.device_id = device_id
        self.entity_description = description
        self._attr_unique_id = f"{hub.device_identifier(device_id)}_{description.key}"
        state = hub.stations.get(device_id)
        parser = state.parser if state else None
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, hub.device_identifier(device_id))},
            name=hub.name(device_id),
            manufacturer=MANUFACTURER,
            model=device_model(parser),
            serial_number=str(device_id),
        )

    @property
    def station(self) -> StationState | None:
        return self.hub.stations.get(self.device_id)

    @property
    def available(self) -> bool:
        return self.hub.available(self.device_id)

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                signal_station_updated(self.hub.entry_id, self.device_id),
                self.async_write_ha_state,
            )
        )
