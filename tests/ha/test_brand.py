"""The brand icon as Home Assistant serves it (Home Assistant 2026.3+: the brands integration)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

import custom_components.wxstation
from custom_components.wxstation.const import DOMAIN

BRAND = Path(custom_components.wxstation.__file__).parent / "brand"


@pytest.mark.skipif(
    importlib.util.find_spec("homeassistant.components.brands") is None,
    reason="this Home Assistant has no brands integration (added in 2026.3) to serve the icon",
)
@pytest.mark.parametrize("image", ["icon.png", "icon@2x.png"])
async def test_home_assistant_serves_the_integrations_own_icon(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, image: str
) -> None:
    """Home Assistant's brands API answers with the file from brand/, not the brands CDN."""
    assert await async_setup_component(hass, "brands", {})
    client = await hass_client()
    response = await client.get(f"/api/brands/integration/{DOMAIN}/{image}")
    assert response.status == 200
    assert response.content_type == "image/png"
    assert await response.read() == (BRAND / image).read_bytes()
