"""Fixtures for the Home Assistant integration's tests."""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.wxstation.const import CONF_MODE, CONF_TOPIC, DOMAIN, MODE_MQTT, MODE_TCP


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/wxstation."""


def tcp_entry(port: int = 0, options: dict[str, Any] | None = None) -> MockConfigEntry:
    """A direct-mode entry; port 0 lets the system pick a free one."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Stations on port {port}",
        unique_id=f"{MODE_TCP}:{port}",
        data={CONF_MODE: MODE_TCP, "host": "127.0.0.1", "port": port},
        options=options or {},
    )


def mqtt_entry(topic: str = "wxstation", options: dict[str, Any] | None = None) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"wxstation bridge ({topic})",
        unique_id=f"{MODE_MQTT}:{topic}",
        data={CONF_MODE: MODE_MQTT, CONF_TOPIC: topic},
        options=options or {},
    )


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
