"""Home Assistant MQTT discovery for the bridge's stations: the topics and the payloads.

Pure code, no I/O: the MQTT sink publishes what these functions build, and the
Home Assistant integration's tests feed the same payloads to Home Assistant's own
MQTT integration. The format is device-based discovery as Home Assistant 2025.4
reads it: one retained message per station on
``<prefix>/device/<device key>/config`` with ``device``, ``origin`` and
``components`` (one sensor per value), and an empty retained message on the same
topic to remove the station with all its entities. Every entity is available
while both the bridge and its station are (``availability_mode: all``): the
bridge's will says when the bridge is gone, and the bridge says when a station
is, by :mod:`wxstation.availability`'s rule.

Every id is built from the station's device id, never from its name, so renaming
a station renames its device in Home Assistant and keeps its entities and their
history. The ids start with :data:`NODE`; a bridge whose ``base_topic`` is not
the default adds the base topic to them, so two bridges on one broker never
claim each other's stations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from wxstation.config import MqttConfig, StationConfig
from wxstation.parsers.fields import Field
from wxstation.samples import HEALTH_FIELDS

__all__ = [
    "AVAILABLE",
    "MANUFACTURER",
    "MODEL",
    "NODE",
    "NOT_AVAILABLE",
    "DiscoveryStation",
    "Topics",
    "bridge_version",
    "component",
    "device_config",
    "device_model",
]

#: What every id and discovery topic of this bridge starts with.
NODE = "wxstation"
#: The availability payloads of the bridge and of each station (also Home Assistant's defaults).
AVAILABLE = "online"
NOT_AVAILABLE = "offline"

#: Who makes every station's device, as Home Assistant shows it.
MANUFACTURER = "wxstation"
#: What every station's device is, before the parser that reads it.
MODEL = "Battery weather station"

_NOT_IN_ID = re.compile(r"[^a-z0-9]+")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def device_model(parser: str | None) -> str:
    """The model a station's device shows: what it is, and its parser when known."""
    return f"{MODEL} ({parser} parser)" if parser else MODEL


def bridge_version() -> str:
    """The installed wxstation version, for the discovery payload's ``origin``."""
    try:
        return version("wxstation")
    except PackageNotFoundError:
        return "unknown"


def _slug(text: str) -> str:
    return _NOT_IN_ID.sub("_", text.lower()).strip("_")


def component(key: str) -> str:
    """The discovery component (and unique id suffix) of a value or health key.

    A value's key as it is (``temperature``), or ``health_<key>`` for the
    station's health; made safe for an id either way.
    """
    return _slug(key)


@dataclass(frozen=True, slots=True)
class Topics:
    """Where the bridge publishes, for one ``base_topic`` and ``discovery_prefix``."""

    base: str = NODE
    discovery_prefix: str = "homeassistant"

    @classmethod
    def of(cls, config: MqttConfig) -> Topics:
        return cls(config.base_topic.rstrip("/"), config.discovery_prefix.rstrip("/"))

    @property
    def availability(self) -> str:
        """Retained ``online``/``offline`` of the bridge itself (``offline`` is its will)."""
        return f"{self.base}/bridge/state"

    @property
    def capacity(self) -> str:
        """Retained: the bridge's database against its cap (see ``capacity_payload``)."""
        return f"{self.base}/bridge/storage"

    @property
    def problems(self) -> str:
        """Retained: the bridge's problems, a JSON list (see ``problems_payload``)."""
        return f"{self.base}/bridge/problems"

    def state(self, device_id: int) -> str:
        """Retained: the station's newest sample and its health."""
        return f"{self.base}/{device_id}/state"

    def batch(self, device_id: int) -> str:
        """Not retained: every sample of one packet."""
        return f"{self.base}/{device_id}/batch"

    def station_availability(self, device_id: int) -> str:
        """Retained ``online``/``offline`` of one station, by ``wxstation.availability``."""
        return f"{self.base}/{device_id}/availability"

    @property
    def states(self) -> str:
        """Wildcard for every station's state topic."""
        return f"{self.base}/+/state"

    @property
    def station_availabilities(self) -> str:
        """Wildcard for every station's availability topic."""
        return f"{self.base}/+/availability"

    @property
    def node(self) -> str:
        """The prefix of this bridge's ids: ``wxstation``, or with the base topic added."""
        return NODE if self.base == NODE else f"{NODE}_{_slug(self.base)}"

    def device_key(self, device_id: int) -> str:
        """The station's device identifier, also the object id of its discovery topic."""
        return f"{self.node}_{device_id}"

    def unique_id(self, device_id: int, component: str) -> str:
        """The unique id of one entity of a station's discovery (see :func:`component`)."""
        return f"{self.device_key(device_id)}_{component}"

    def discovery(self, device_id: int) -> str:
        return f"{self.discovery_prefix}/device/{self.device_key(device_id)}/config"

    @property
    def discoveries(self) -> str:
        """Wildcard for every device-based discovery topic, this bridge's and others'."""
        return f"{self.discovery_prefix}/device/+/config"

    @property
    def birth(self) -> str:
        """Where Home Assistant announces ``online`` when it (re)starts."""
        return f"{self.discovery_prefix}/status"

    def discovered_device(self, topic: str) -> int | None:
        """The device id a discovery topic belongs to, if it is one of this bridge's."""
        head = f"{self.discovery_prefix}/device/{self.node}_"
        if not (topic.startswith(head) and topic.endswith("/config")):
            return None
        return _device_number(topic[len(head) : -len("/config")])

    def state_device(self, topic: str) -> int | None:
        """The device id of a station's state topic, or None for any other topic."""
        return self._station_device(topic, "state")

    def batch_device(self, topic: str) -> int | None:
        """The station of a batch topic of this bridge's; None for any other topic."""
        return self._station_device(topic, "batch")

    def availability_device(self, topic: str) -> int | None:
        """The device id of a station's availability topic, or None for any other topic."""
        return self._station_device(topic, "availability")

    def _station_device(self, topic: str, leaf: str) -> int | None:
        head, tail = f"{self.base}/", f"/{leaf}"
        if not (topic.startswith(head) and topic.endswith(tail)):
            return None
        return _device_number(topic[len(head) : -len(tail)])


def _device_number(text: str) -> int | None:
    # Only plain decimal ids: "1" but not "01", "+1" or "bridge".
    if not text.isdigit() or text != str(int(text)):
        return None
    return int(text)


@dataclass(frozen=True, slots=True)
class DiscoveryStation:
    """What discovery needs to know about a station."""

    device_id: int
    name: str
    fields: tuple[Field, ...]
    #: The parser's kind, shown as part of the device's model.
    parser: str | None = None

    @classmethod
    def of(cls, station: StationConfig) -> DiscoveryStation:
        return cls(station.device_id, station.name, station.parser.all_fields, station.parser.kind)


def _template(*path: str) -> str:
    access = "value_json"
    for key in path:
        access += f".{key}" if _IDENTIFIER.match(key) else f"[{key!r}]"
    return "{{ " + access + " }}"


def _availability(*topics: str) -> list[dict[str, str]]:
    return [
        {"topic": topic, "payload_available": AVAILABLE, "payload_not_available": NOT_AVAILABLE}
        for topic in topics
    ]


def _sensor(
    topics: Topics,
    station: DiscoveryStation,
    component: str,
    field: Field,
    template: str,
    *,
    qos: int,
    diagnostic: bool,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "platform": "sensor",
        "unique_id": topics.unique_id(station.device_id, component),
        "name": field.label,
        "state_topic": topics.state(station.device_id),
        "value_template": template,
        # Per component: Home Assistant does not pass a device's qos on to them.
        "qos": qos,
    }
    optional = {
        "device_class": field.device_class,
        "unit_of_measurement": field.unit,
        "state_class": field.state_class,
        "suggested_display_precision": field.precision,
        "icon": field.icon,
        "entity_category": "diagnostic" if diagnostic else None,
    }
    config.update((key, value) for key, value in optional.items() if value is not None)
    return config


def device_config(
    station: DiscoveryStation,
    topics: Topics,
    *,
    qos: int = 1,
    sw_version: str | None = None,
) -> dict[str, Any]:
    """The device discovery payload of one station, as JSON-ready data.

    One sensor per value the station reports (derived ones included), reading
    the state message; the health values as diagnostic sensors. Each entity is
    available while the bridge and the station both are, so everything turns
    unavailable when the bridge dies, and a station's entities when it stops
    sending; "last seen" follows the bridge alone, so it still says when a
    station that went quiet was last heard from. No value is null: Home
    Assistant's schema refuses them in ``device`` and ``origin``.
    """
    components: dict[str, dict[str, Any]] = {}
    for field in station.fields:
        components[component(field.key)] = _sensor(
            topics,
            station,
            component(field.key),
            field,
            _template(field.key),
            qos=qos,
            diagnostic=False,
        )
    for field in HEALTH_FIELDS:
        key = component(f"health_{field.key}")
        config = _sensor(
            topics,
            station,
            key,
            field,
            _template("health", field.key),
            qos=qos,
            diagnostic=True,
        )
        if field.key == "last_seen":
            # Worth showing most when the station went quiet: it follows the
            # bridge alone (a component's availability replaces the device's).
            config["availability"] = _availability(topics.availability)
        components[key] = config
    return {
        "device": {
            "identifiers": [topics.device_key(station.device_id)],
            "name": station.name,
            "manufacturer": MANUFACTURER,
            "model": device_model(station.parser),
            "serial_number": str(station.device_id),
        },
        "origin": {"name": NODE, "sw_version": sw_version or bridge_version()},
        "availability": _availability(
            topics.availability, topics.station_availability(station.device_id)
        ),
        "availability_mode": "all",
        "components": components,
    }
