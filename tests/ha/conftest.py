"""Fixtures for the Home Assistant integration's tests."""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from datetime import UTC, datetime

import pytest
from freezegun.api import FrozenDateTimeFactory

# The plugin ships a `custom_components` package of its own (testing_config),
# which hides this repository's unless `custom_components.wxstation` is imported
# first; importing it here, before any fixture runs, makes that so for every test.
import custom_components.wxstation  # noqa: F401
from tests.support.servers import Mosquitto

from .common import FRAME_LOGGER, NOW, UsageReports

USAGE_REPORTS = UsageReports()


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger(FRAME_LOGGER).addHandler(USAGE_REPORTS)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test, its setup or its teardown fails when Home Assistant reported our code."""
    report = yield
    if found := USAGE_REPORTS.take():
        report.outcome = "failed"
        report.longrepr = "Home Assistant reported this project's code:\n" + "\n".join(found)
    return report


@pytest.fixture
def usage_reports() -> UsageReports:
    """What Home Assistant reported during the test so far (taking them passes the test)."""
    return USAGE_REPORTS


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


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    """A real Mosquitto on a free loopback port, for the tests' whole run."""
    with Mosquitto() as server:
        yield server
