"""A sensor per value a station reports, and its health as diagnostic sensors.

Values are described by the station's parser (``wxstation.parsers.Field``): device
class, unit, state class and precision come from there, so a station with other
sensors needs a parser, not a change here. A station's entities are created when
it first reports, and a field when it first appears.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddEntitiesCallback
from homeassistant.helpers.typing import StateType

from wxstation import HEALTH_FIELDS, Field

from . import WxStationConfigEntry
from .const import signal_new_entities
from .entity import WxStationEntity
from .hub import WxStationHub
from .models import StationState

# Entities only write what the hub already holds.
PARALLEL_UPDATES = 0

E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True, kw_only=True)
class WxStationSensorEntityDescription(SensorEntityDescription):
    """A sensor and how to read its value from the station's state."""

    value_fn: Callable[[StationState], StateType | datetime]
    #: Still shown when the station stopped reporting ("last seen" says when).
    always_available: bool = False


def _enum(kind: type[E], value: str | None) -> E | None:
    """The enum member a parser's string names; None for one Home Assistant lacks."""
    try:
        return kind(value) if value is not None else None
    except ValueError:
        return None


def field_description(field: Field) -> WxStationSensorEntityDescription:
    """The sensor of one value the station's parser describes."""
    key = field.key
    return WxStationSensorEntityDescription(
        key=key,
        name=field.label,
        device_class=_enum(SensorDeviceClass, field.device_class),
        native_unit_of_measurement=field.unit,
        state_class=_enum(SensorStateClass, field.state_class),
        suggested_display_precision=field.precision,
        icon=field.icon,
        value_fn=lambda state: state.values.get(key),
    )


def _last_seen(state: StationState) -> datetime | None:
    return datetime.fromtimestamp(state.arrival, UTC) if state.arrival else None


#: Health values off until the user turns them on: they tell how the station's
#: clock and sampling work, which few look at.
HIDDEN_HEALTH: frozenset[str] = frozenset({"interval", "clock_error"})


def health_description(field: Field) -> WxStationSensorEntityDescription:
    """The diagnostic sensor of one health value (``wxstation.samples.HEALTH_FIELDS``).

    Named by translation and shown with icons.json's icon; no state class, so
    Home Assistant keeps no long-term statistics of a station's health. "Last
    seen" stays available when the station goes quiet: it says since when.
    """
    key = field.key
    last_seen = key == "last_seen"
    return WxStationSensorEntityDescription(
        key=f"health_{key}",
        translation_key=key,
        device_class=_enum(SensorDeviceClass, field.device_class),
        native_unit_of_measurement=field.unit,
        suggested_display_precision=field.precision,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=key not in HIDDEN_HEALTH,
        value_fn=_last_seen if last_seen else lambda state: state.health.get(key),
        always_available=last_seen,
    )


HEALTH_SENSORS = tuple(health_description(field) for field in HEALTH_FIELDS)


class WxStationSensor(WxStationEntity, SensorEntity):
    """One value of one station."""

    entity_description: WxStationSensorEntityDescription

    @property
    def native_value(self) -> StateType | datetime:
        state = self.station
        return None if state is None else self.entity_description.value_fn(state)

    @property
    def available(self) -> bool:
        if self.entity_description.always_available:
            return self.station is not None
        return super().available


def _entities(
    hub: WxStationHub, device_id: int, keys: list[str], with_health: bool
) -> list[WxStationSensor]:
    state = hub.stations.get(device_id)
    if state is None or device_id in hub.bridge_shows:
        # The bridge's MQTT discovery shows that station (see handover.py).
        return []
    descriptions = [field_description(state.fields[key]) for key in keys]
    if with_health:
        descriptions.extend(HEALTH_SENSORS)
    return [WxStationSensor(hub, device_id, description) for description in descriptions]


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WxStationConfigEntry,
    async_add_entities: AddEntitiesCallback,
) -> None:
    hub = entry.runtime_data.hub

    @callback
    def add_new(device_id: int, keys: list[str], new_station: bool) -> None:
        async_add_entities(_entities(hub, device_id, keys, new_station))

    entry.async_on_unload(
        async_dispatcher_connect(hass, signal_new_entities(entry.entry_id), add_new)
    )
    async_add_entities(
        entity
        for device_id, state in hub.stations.items()
        for entity in _entities(hub, device_id, list(state.fields), True)
    )
