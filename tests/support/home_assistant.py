"""Home Assistant test helpers that need neither the bridge nor its simulator:
the integration's tests (tests/ha) and those of the integration set up from
the library's wheel alone (tests/ha_wheel) share them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.wxstation.const import CONF_MODE, DOMAIN, MODE_TCP
from tests.support.waiting import eventually

__all__ = ["SEND_TIMEOUT", "setup_entry", "tcp_entry", "until"]

#: Seconds a station's connection may take, from connect to close.
SEND_TIMEOUT = 5.0


def tcp_entry(
    port: int = 0,
    options: dict[str, Any] | None = None,
    host: str = "127.0.0.1",
    entry_id: str | None = None,
) -> MockConfigEntry:
    """A direct-mode entry; port 0 lets the system pick a free one. Its id is
    new each time unless ``entry_id`` fixes it."""
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id=entry_id,
        title=f"Stations on port {port}",
        unique_id=f"{MODE_TCP}:{port}",
        data={CONF_MODE: MODE_TCP, "host": host, "port": port},
        options=options or {},
    )


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add ``entry`` to Home Assistant and set it up, as a user's entry is."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def until(
    hass: HomeAssistant, condition: Callable[[], bool], what: str, within: float = 20.0
) -> None:
    """Wait (real time) until ``condition`` holds, letting Home Assistant finish
    what it has to do before each look."""
    await eventually(condition, what, within, step=0.01, settle=hass.async_block_till_done)
