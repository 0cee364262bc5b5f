"""Home Assistant's reports of wrong or deprecated use by our code fail the tests."""

from __future__ import annotations

import logging
import time

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers.frame import ReportBehavior, report_usage

from custom_components.wxstation.models import StationReport
from wxstation.samples import Sample

from .common import FRAME_LOGGER, UsageReports, set_up_hub, tcp_entry

pytestmark = pytest.mark.usefixtures("socket_enabled")


async def test_report_from_the_integration_is_caught(
    hass: HomeAssistant, usage_reports: UsageReports
) -> None:
    """A report made while the hub runs names the integration and its line, and is caught."""
    entry = tcp_entry()
    hub = await set_up_hub(hass, entry)

    def reporting_clock() -> float:
        report_usage("calls a clock the tests call deprecated")
        return time.time()

    hub.clock = reporting_clock
    now = time.time()
    sample = Sample(round(now * 1000), {"temperature": 1.0})
    hub.handle_report(StationReport(1, "S", now, (sample,), {}, (), 3600))

    found = usage_reports.take()
    assert found
    for message in found:
        assert message.startswith(
            "Detected that custom integration 'wxstation' calls a clock the tests call"
            " deprecated at custom_components/wxstation/hub.py"
        ), message


async def test_report_without_an_integration_is_caught(
    hass: HomeAssistant, usage_reports: UsageReports
) -> None:
    """Our code outside the integration (here the test itself) is reported as "code"."""
    report_usage("calls something the tests call deprecated", core_behavior=ReportBehavior.LOG)
    assert usage_reports.take() == [
        "Detected code that calls something the tests call deprecated. Please report this issue"
    ]


async def test_other_warnings_are_not_reports(
    hass: HomeAssistant, usage_reports: UsageReports
) -> None:
    """Other warnings of the frame helper's logger, or reports of other code, do not count."""
    logger = logging.getLogger(FRAME_LOGGER)
    logger.warning("Detected that custom integration 'other' calls something")
    logger.warning("something else")
    assert usage_reports.take() == []
