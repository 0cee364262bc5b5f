"""Helpers for the integration's tests: entries, stations, packets, waiting, and
Home Assistant's reports of our code."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from homeassistant.components import websocket_api
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import MockHAClientWebSocket

import wxstation
from bridge.sim import SimStation, build_packet, send_packet_async
from custom_components.wxstation.const import CONF_MODE, CONF_TOPIC, DOMAIN, MODE_MQTT

# The integration's own lookup of a device by identifier and entry, for the tests too.
from custom_components.wxstation.handover import find_device as find_device
from custom_components.wxstation.hub import WxStationHub
from tests.support.home_assistant import SEND_TIMEOUT as SEND_TIMEOUT
from tests.support.home_assistant import setup_entry as setup_entry
from tests.support.home_assistant import tcp_entry as tcp_entry
from tests.support.home_assistant import until as until
from wxstation.parsers import ReferenceParser

#: A quarter past an hour (2026-11-24 10:15 UTC), so a station's hour of
#: samples straddles two clock hours.
T0 = 1_795_515_300.0
#: "Now" for tests whose packets arrive at ``T0``: a minute later (see the
#: ``frozen_now`` fixture). Data made at fixed times is judged at a fixed time.
NOW = T0 + 60
REFERENCE = ReferenceParser()


def mqtt_entry(topic: str = "wxstation", options: dict[str, Any] | None = None) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"wxstation bridge ({topic})",
        unique_id=f"{MODE_MQTT}:{topic}",
        data={CONF_MODE: MODE_MQTT, CONF_TOPIC: topic},
        options=options or {},
    )


async def remove_device(
    hass: HomeAssistant, client: MockHAClientWebSocket, device_id: str, config_entry_id: str
) -> dict[str, Any]:
    """Ask to remove a device as the device page does; Home Assistant's answer.

    Where a device belongs to one config entry, Home Assistant has
    ``config/device_registry/remove`` and reports the older command, which also
    names the entry, as deprecated; releases before that have only the older one.
    """
    message: dict[str, Any] = {"device_id": device_id}
    if "config/device_registry/remove" in hass.data[websocket_api.DOMAIN]:
        message["type"] = "config/device_registry/remove"
    else:
        message["type"] = "config/device_registry/remove_config_entry"
        message["config_entry_id"] = config_entry_id
    await client.send_json_auto_id(message)
    response: dict[str, Any] = await client.receive_json()
    return response


async def set_up_hub(hass: HomeAssistant, entry: MockConfigEntry) -> WxStationHub:
    """Set one of this integration's entries up; its hub."""
    await setup_entry(hass, entry)
    hub: WxStationHub = entry.runtime_data.hub
    return hub


def station(device_id: int = 1, start: float = T0 - 3600, **kwargs: Any) -> SimStation:
    """A reference station whose first wake-up is an hour after ``start``."""
    return SimStation(device_id, REFERENCE, start, **kwargs)


def reference_packet(device_id: int, values: list[tuple[float, float, float]]) -> bytes:
    """A reference station's packet of (light, humidity, temperature) samples."""
    records = [
        REFERENCE.encode_record({"light": light, "humidity": humidity, "temperature": temp})
        for light, humidity, temp in values
    ]
    return build_packet(device_id, records, record_size=6, value_count=3)


async def send_and_wait(
    hass: HomeAssistant, entry: MockConfigEntry, data: bytes, arrival: float | None = None
) -> None:
    """Send a packet to the entry's port (arriving at ``arrival``) and wait until it is handled."""
    source = entry.runtime_data.source
    if arrival is not None:
        source.clock = lambda: arrival
    before = source.handled
    await send_packet_async("127.0.0.1", source.port, data, SEND_TIMEOUT)
    await until(hass, lambda: source.handled > before, "the packet handled")


#: This repository's code (not the venv that may lie in it) and the library
#: as installed from its wheel: a report whose stack passes through it was made
#: for our code.
_TREE = Path(__file__).resolve().parents[2]
OUR_CODE = (
    *(f"{_TREE / part}/" for part in ("custom_components", "bridge", "library", "tests")),
    f"{Path(wxstation.__file__).parent}/",
)

#: Where Home Assistant reports code that uses it wrongly or through deprecated
#: calls ("Detected that custom integration 'wxstation' calls ...", or
#: "Detected code that ..." where it finds no integration on the stack).
FRAME_LOGGER = "homeassistant.helpers.frame"


class UsageReports(logging.Handler):
    """Home Assistant's reports of wrong or deprecated use by this project's code."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        ours = "integration 'wxstation'" in message or (
            message.startswith("Detected code that")
            and any(path in (record.stack_info or "") for path in OUR_CODE)
        )
        if ours:
            self.found.append(message)

    def take(self) -> list[str]:
        found, self.found = self.found, []
        return found
