"""Fixtures for the Home Assistant integration's tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from freezegun.api import FrozenDateTimeFactory

from .common import NOW


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/wxstation."""


@pytest.fixture
def frozen_now(freezer: FrozenDateTimeFactory) -> FrozenDateTimeFactory:
    """Home Assistant's clock stopped at :data:`~.common.NOW`, for tests whose
    packets are made at the fixed time ``T0``: their stations are judged by the
    same moment on any day the tests run."""
    freezer.move_to(datetime.fromtimestamp(NOW, UTC))
    return freezer
