"""Fixtures for the integration set up from the installed wheel (see pytest.ini)."""

from __future__ import annotations

import pytest

# Imported here, at collection, so that `custom_components` is the config
# folder's package before pytest-homeassistant-custom-component's fixtures put
# its own testing_config/custom_components on sys.path.
try:
    import custom_components.wxstation  # noqa: F401
except ImportError as err:
    raise pytest.UsageError(
        "custom_components.wxstation is not importable: run these tests through "
        "./scripts/test, or with PYTHONPATH set to a folder that holds a copy of "
        f"custom_components/wxstation ({err})"
    ) from err


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/wxstation."""
