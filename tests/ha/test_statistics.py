"""Every sample into long-term statistics, as hourly mean, min and max."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from homeassistant.components.recorder import Recorder, get_instance
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import (
    STATISTIC_UNIT_TO_UNIT_CONVERTER,
    async_add_external_statistics,
    get_metadata,
    statistics_during_period,
    valid_statistic_id,
)
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.wxstation.models import StationReport
from custom_components.wxstation.statistics import (
    aggregate,
    statistic_id,
    statistic_metadata,
)
from wxstation.samples import Sample

from .common import REFERENCE, reference_packet, send_and_wait, set_up_hub, setup_entry, tcp_entry

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture(autouse=True)
def mock_recorder_before_hass(async_setup_recorder_instance: object) -> None:
    """The recorder's database is set up before Home Assistant, as the recorder needs."""


#: 2026-11-20 10:00 UTC: the hour the first packet ends in.
HOUR = datetime(2026, 11, 20, 10, tzinfo=UTC)
SPACING = 120
IDS = {statistic_id(1, key) for key in ("light", "humidity", "temperature")}


def _packet(first: int) -> tuple[bytes, list[tuple[float, float, float]]]:
    values = [(100.0 + i, 40.0 + i * 0.5, 10.0 + i * 0.1) for i in range(first, first + 30)]
    return reference_packet(1, values), values


def _expected(arrivals: list[float], packets: list[bytes]) -> dict[str, dict[datetime, tuple]]:
    """Hourly mean/min/max per field from the decoded values and the documented timing."""
    by_hour: dict[str, dict[datetime, list[float]]] = defaultdict(lambda: defaultdict(list))
    for arrival, packet in zip(arrivals, packets, strict=True):
        values = REFERENCE.decode(packet).values
        for index, sample in enumerate(values):
            taken = arrival - (len(values) - 1 - index) * SPACING
            hour = datetime.fromtimestamp(taken - taken % 3600, UTC)
            for key, value in sample.items():
                by_hour[key][hour].append(value)
    return {
        key: {hour: (sum(v) / len(v), min(v), max(v)) for hour, v in hours.items()}
        for key, hours in by_hour.items()
    }


async def _rows(hass: HomeAssistant) -> dict[str, list[dict]]:
    await async_wait_recording_done(hass)
    return await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        HOUR - timedelta(hours=3),
        HOUR + timedelta(hours=3),
        IDS,
        "hour",
        None,
        {"mean", "min", "max"},
    )


async def test_hourly_rows_from_every_sample(recorder_mock: Recorder, hass: HomeAssistant) -> None:
    """Two packets an hour apart: the hour they share is averaged over both."""
    entry = tcp_entry()
    await setup_entry(hass, entry)
    arrivals = [HOUR.timestamp() + 15 * 60, HOUR.timestamp() + 75 * 60]
    packets = [_packet(0)[0], _packet(30)[0]]
    for arrival, packet in zip(arrivals, packets, strict=True):
        await send_and_wait(hass, entry, packet, arrival)
    expected = _expected(arrivals, packets)

    rows = await _rows(hass)
    assert rows.keys() == IDS
    for key, hours in expected.items():
        got = {
            datetime.fromtimestamp(row["start"], UTC): (row["mean"], row["min"], row["max"])
            for row in rows[statistic_id(1, key)]
        }
        assert list(got) == sorted(hours)
        assert len(got) == 3
        for hour, (mean, low, high) in hours.items():
            assert got[hour] == pytest.approx((mean, low, high)), (key, hour)

    metadata = await get_instance(hass).async_add_executor_job(
        lambda: get_metadata(hass, statistic_ids={statistic_id(1, "temperature")})
    )
    _, meta = metadata[statistic_id(1, "temperature")]
    assert meta["mean_type"] is StatisticMeanType.ARITHMETIC
    assert meta["unit_of_measurement"] == "°C"
    assert meta["name"] == "Station 1 Temperature"
    assert meta["source"] == "wxstation"

    # The same samples again, after a restart (as a bridge's repeated batch
    # would bring them): the rows stay as they are.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    hub = entry.runtime_data.hub
    state = hub.stations[1]
    samples = tuple(
        Sample(round((arrivals[1] - (29 - i) * SPACING) * 1000), values)
        for i, values in enumerate(REFERENCE.decode(packets[1]).values)
    )
    hub.handle_report(
        StationReport(1, "Station 1", arrivals[1], samples, state.health, REFERENCE.fields, 3600)
    )
    assert await _rows(hass) == rows


def test_metadata_follows_home_assistant() -> None:
    """mean_type where Home Assistant has it, has_mean before; unit_class where it has that."""
    current = statistic_metadata("wxstation:1_temperature", "T", "°C")
    assert current["mean_type"] is StatisticMeanType.ARITHMETIC
    assert "has_mean" not in current
    newer = statistic_metadata(
        "wxstation:1_temperature", "T", "°C", frozenset({"mean_type", "unit_class"})
    )
    assert newer["unit_class"] == "temperature"
    # Absolute humidity: the recorder converts g/m³ (as a concentration) in
    # newer releases, and then infers that class for the unit by itself.
    converts = "g/m³" in STATISTIC_UNIT_TO_UNIT_CONVERTER
    absolute = statistic_metadata("x:y", "Y", "g/m³", frozenset({"unit_class"}))
    assert absolute["unit_class"] == ("concentration" if converts else None)
    unknown = statistic_metadata("x:y", "Y", "flashes", frozenset({"unit_class"}))
    assert unknown["unit_class"] is None
    older = statistic_metadata("wxstation:1_humidity", "H", "%", frozenset())
    assert older["has_mean"] is True
    assert "mean_type" not in older


async def test_recorder_takes_absolute_humidity(
    recorder_mock: Recorder, hass: HomeAssistant
) -> None:
    """A g/m³ statistic is imported and, where the recorder converts g/m³, shown in mg/m³."""
    stat = statistic_id(1, "absolute_humidity")
    row = {"start": HOUR, "mean": 8.0, "min": 7.0, "max": 9.0}
    async_add_external_statistics(
        hass,
        statistic_metadata(stat, "Station 1 Absolute humidity", "g/m³"),
        [row],
    )
    await async_wait_recording_done(hass)
    rows = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        HOUR,
        HOUR + timedelta(hours=1),
        {stat},
        "hour",
        {"concentration": "mg/m³"},
        {"mean"},
    )
    converts = "g/m³" in STATISTIC_UNIT_TO_UNIT_CONVERTER
    assert [r["mean"] for r in rows[stat]] == [pytest.approx(8000.0 if converts else 8.0)]


def test_aggregate_skips_missing_values() -> None:
    assert aggregate([{"a": 1.0, "b": 4.0}, {"a": 3.0}]) == {"a": (2.0, 1.0, 3.0), "b": (4.0,) * 3}


async def test_no_recorder_no_rows(hass: HomeAssistant) -> None:
    """Without the recorder the samples are still kept for when it runs."""
    entry = tcp_entry()
    hub = await set_up_hub(hass, entry)
    sample = Sample(round(HOUR.timestamp() * 1000), {"temperature": 1.0})
    hub.handle_report(StationReport(1, "S", HOUR.timestamp(), (sample,), {}, (), 3600))
    assert hub.statistics.hour_samples(1) == {round(HOUR.timestamp() * 1000): 1}


def test_any_key_makes_a_valid_statistic_id() -> None:
    assert valid_statistic_id(statistic_id(7, "Wind Speed (m/s)"))
    assert valid_statistic_id(statistic_id(7, "_"))


async def test_old_hours_are_forgotten(hass: HomeAssistant) -> None:
    entry = tcp_entry()
    hub = await set_up_hub(hass, entry)
    start = HOUR.timestamp()
    hub.clock = lambda: start
    first = Sample(round(start * 1000), {"t": 1.0})
    hub.handle_report(StationReport(1, "S", start, (first,), {}, (), 3600))
    hub.clock = lambda: start + 49 * 3600
    later = Sample(round((start + 49 * 3600) * 1000), {"t": 2.0})
    hub.handle_report(StationReport(1, "S", start + 49 * 3600, (later,), {}, (), 3600))
    assert hub.statistics.hour_samples(1) == {later.time_ms: 1}
