"""The names that differ between Home Assistant releases (compat.py)."""

from __future__ import annotations

from homeassistant import data_entry_flow

from custom_components.wxstation import compat


def test_forms_use_the_schema_library_of_this_release() -> None:
    """Test that compat's ``vol`` is the module Home Assistant builds its own
    forms with: probatio where it has it, voluptuous before."""
    expected = getattr(data_entry_flow, "probatio", None) or data_entry_flow.vol
    assert compat.vol is expected
    assert compat.HA_PROBATIO is (expected.__name__ == "probatio")
