"""Every sample into long-term statistics: hourly mean, min and max per field.

A station sends an hour of 2-minute samples at a time, and its packets do not
start on the hour: one packet holds the end of one hour and the start of the
next, and the next packet completes that hour. So the samples of each hour are
kept (by their time, which also makes a repeated packet change nothing) until
the hour has had no new sample for :data:`STATISTICS_MEMORY`, and every time an
hour gets samples its row is computed again from all of them and imported over
the old one. Rows go in as external statistics ``wxstation:<device id>_<field>``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from homeassistant.components.recorder.const import DOMAIN as RECORDER_DOMAIN
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    STATISTIC_UNIT_TO_UNIT_CONVERTER,
    async_add_external_statistics,
)
from homeassistant.core import HomeAssistant
from homeassistant.util import slugify

from wxstation import Field, Sample

from .const import DOMAIN, SAVE_DELAY, STATISTICS_MEMORY
from .storage import EntryStore

HOUR_MS = 3_600_000

#: The metadata keys this Home Assistant knows. ``mean_type`` replaced
#: ``has_mean`` in 2025.4; ``unit_class`` came later and is required from 2026.11.
METADATA_KEYS = frozenset(StatisticMetaData.__required_keys__) | frozenset(
    StatisticMetaData.__optional_keys__
)


def statistic_id(device_id: int, key: str) -> str:
    """The external statistic of one field; the slug keeps any parser's key a valid id."""
    return f"{DOMAIN}:{device_id}_{slugify(key)}"


def statistic_metadata(
    stat_id: str, name: str, unit: str | None, keys: frozenset[str] = METADATA_KEYS
) -> StatisticMetaData:
    """Metadata of a mean/min/max statistic, in the form this Home Assistant expects."""
    metadata: dict[str, Any] = {
        "has_sum": False,
        "name": name,
        "source": DOMAIN,
        "statistic_id": stat_id,
        "unit_of_measurement": unit,
    }
    if "mean_type" in keys:
        metadata["mean_type"] = StatisticMeanType.ARITHMETIC
    else:
        metadata["has_mean"] = True
    if "unit_class" in keys:
        # The class the recorder converts this unit with (so a temperature can
        # be shown in °F), the same one it infers by itself where it does.
        converter = STATISTIC_UNIT_TO_UNIT_CONVERTER.get(unit)
        metadata["unit_class"] = converter.UNIT_CLASS if converter else None
    return metadata  # type: ignore[return-value]


def aggregate(samples: Iterable[Mapping[str, float]]) -> dict[str, tuple[float, float, float]]:
    """Mean, min and max of each value over ``samples``; a value a sample lacks is skipped."""
    sums: dict[str, tuple[float, int, float, float]] = {}
    for values in samples:
        for key, value in values.items():
            total, count, low, high = sums.get(key, (0.0, 0, value, value))
            sums[key] = (total + value, count + 1, min(low, value), max(high, value))
    return {key: (total / count, low, high) for key, (total, count, low, high) in sums.items()}


@dataclass(slots=True)
class _Hour:
    #: Unix time the hour last got a sample it did not have.
    touched: float
    samples: dict[int, dict[str, float]] = field(default_factory=dict)


class HourlyStatistics:
    """The recent samples of each station by hour, and the rows made from them."""

    def __init__(self, hass: HomeAssistant, entry_id: str, clock: Callable[[], float]) -> None:
        self._hass = hass
        self._store = EntryStore(hass, entry_id, "hours", clock)
        self._hours: dict[int, dict[int, _Hour]] = {}

    async def async_load(self) -> None:
        data = await self._store.async_load() or {}
        self._hours = {
            int(device): {
                int(start): _Hour(
                    float(hour["touched"]),
                    {int(t): dict(values) for t, values in hour["samples"].items()},
                )
                for start, hour in hours.items()
            }
            for device, hours in data.get("stations", {}).items()
        }

    async def async_save(self) -> None:
        await self._store.async_save(self._data())

    def _data(self) -> dict[str, Any]:
        return {
            "stations": {
                str(device): {
                    str(start): {
                        "touched": hour.touched,
                        "samples": {str(t): values for t, values in hour.samples.items()},
                    }
                    for start, hour in hours.items()
                }
                for device, hours in self._hours.items()
            }
        }

    def hour_samples(self, device_id: int) -> dict[int, int]:
        """Samples kept per hour start (ms), for diagnostics."""
        return {start: len(h.samples) for start, h in self._hours.get(device_id, {}).items()}

    def forget(self, device_id: int) -> None:
        if self._hours.pop(device_id, None) is not None:
            self._store.async_delay_save(self._data, SAVE_DELAY)

    def add(
        self,
        device_id: int,
        station_name: str,
        fields: Mapping[str, Field],
        samples: Iterable[Sample],
        now: float,
    ) -> None:
        """Take a packet's samples and import the rows of every hour they fall in."""
        hours = self._hours.setdefault(device_id, {})
        hit: set[int] = set()
        for sample in samples:
            start = sample.time_ms - sample.time_ms % HOUR_MS
            hour = hours.setdefault(start, _Hour(now))
            if hour.samples.get(sample.time_ms) != sample.values:
                hour.samples[sample.time_ms] = dict(sample.values)
                hour.touched = now
            hit.add(start)
        memory = STATISTICS_MEMORY.total_seconds()
        for start in [s for s, hour in hours.items() if now - hour.touched > memory]:
            del hours[start]
        self._store.async_delay_save(self._data, SAVE_DELAY)
        if hit and RECORDER_DOMAIN in self._hass.config.components:
            self._import(
                device_id, station_name, fields, {s: hours[s] for s in sorted(hit) if s in hours}
            )

    def _import(
        self,
        device_id: int,
        station_name: str,
        fields: Mapping[str, Field],
        hours: Mapping[int, _Hour],
    ) -> None:
        rows: dict[str, list[StatisticData]] = {}
        for start, hour in hours.items():
            moment = datetime.fromtimestamp(start / 1000, tz=UTC)
            for key, (mean, low, high) in aggregate(hour.samples.values()).items():
                rows.setdefault(key, []).append(
                    StatisticData(start=moment, mean=mean, min=low, max=high)
                )
        for key, key_rows in rows.items():
            known = fields.get(key, Field(key))
            metadata = statistic_metadata(
                statistic_id(device_id, key), f"{station_name} {known.label}", known.unit
            )
            async_add_external_statistics(self._hass, metadata, key_rows)
