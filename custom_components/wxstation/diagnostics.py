"""Diagnostics: the entry, its stations, their clocks and the packets kept aside."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant

from . import WxStationConfigEntry

# Where the stations and Home Assistant are on the network is nobody else's business.
TO_REDACT = {CONF_HOST, "peer"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: WxStationConfigEntry
) -> dict[str, Any]:
    runtime = entry.runtime_data
    return async_redact_data(
        {
            "entry": {"data": dict(entry.data), "options": dict(entry.options)},
            "source": runtime.source.diagnostics(),
            **runtime.hub.diagnostics(),
        },
        TO_REDACT,
    )
