"""Home Assistant's real MQTT integration against a real Mosquitto, and the bridge's
real MQTT sink publishing to it: the parts the tests of both modes share.

The broker is the Debian package (tests/support/servers.py) on a free loopback port.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components import mqtt
from homeassistant.components.recorder import get_instance
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from bridge.sinks.mqtt import MqttSink
from custom_components.wxstation.statistics import HOUR_MS, statistic_id
from tests.support.clock import Clock
from tests.support.mqtt import running_sink
from tests.support.servers import Mosquitto
from wxstation.config import Config, parse_config
from wxstation.samples import Batch, make_batch
from wxstation.timing import StationClock

from .common import REFERENCE, setup_entry, station, until


@asynccontextmanager
async def real_mqtt(hass: HomeAssistant, broker: Mosquitto) -> AsyncIterator[MockConfigEntry]:
    """Home Assistant's MQTT integration, connected to ``broker``.

    Every entry is unloaded again, newest first, while the broker still runs: it
    stops before Home Assistant does.
    """
    entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        title="MQTT",
        data={mqtt.CONF_BROKER: broker.host, CONF_PORT: broker.port},
        version=1,
        minor_version=2,
    )
    await setup_entry(hass, entry)
    await until(hass, lambda: mqtt.is_connected(hass), "Home Assistant's MQTT connection")
    try:
        yield entry
    finally:
        for loaded in reversed(hass.config_entries.async_entries()):
            if loaded.state is ConfigEntryState.LOADED:
                assert await hass.config_entries.async_unload(loaded.entry_id)
        await hass.async_block_till_done()


async def set_up_again(hass: HomeAssistant, *entries: ConfigEntry) -> None:
    """Unload ``entries`` (last first) and set them up again, as at a restart."""
    for entry in reversed(entries):
        assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    for entry in entries:
        assert await hass.config_entries.async_setup(entry.entry_id)
        if entry.domain == mqtt.DOMAIN:
            await until(hass, lambda: mqtt.is_connected(hass), "MQTT connected again")
    await hass.async_block_till_done()


def bridge_config(
    broker: Mosquitto, tmp_path: Path, stations: dict[int, str] | None = None, **mqtt_keys: Any
) -> Config:
    """A bridge's config: ``stations`` (device id: name; Garden as 1 by default) and
    its MQTT sink on ``broker``, with ``mqtt_keys`` added (``discovery=False``)."""
    return parse_config(
        {
            "storage": {"path": str(tmp_path / "wxstation.db")},
            "stations": {
                device: {"name": name}
                for device, name in (stations if stations is not None else {1: "Garden"}).items()
            },
            "mqtt": {"host": broker.host, "port": broker.port, **mqtt_keys},
        }
    )


def running_bridge_sink(config: Config, clock: Clock) -> AbstractAsyncContextManager[MqttSink]:
    """The bridge's MQTT sink, judging availability by ``clock`` and rechecking it often."""
    return running_sink(config, clock=clock, recheck=0.05, birth_delay=0)


def packet_batch(arrival: float, start: float, device_id: int = 1, name: str = "Garden") -> Batch:
    """A station's packet (an hour of samples since ``start``) arriving at ``arrival``."""
    sim = station(device_id, start=start)
    batch, _ = make_batch(name, REFERENCE, StationClock(), sim.wake().packet, arrival)
    return batch


def hourly_means(samples: Iterable[Any], key: str) -> dict[datetime, float]:
    """The hourly mean of ``key`` over ``samples`` (wxstation.samples.Sample)."""
    by_hour: dict[int, list[float]] = defaultdict(list)
    for sample in samples:
        by_hour[sample.time_ms - sample.time_ms % HOUR_MS].append(sample.values[key])
    return {
        datetime.fromtimestamp(start / 1000, UTC): sum(v) / len(v) for start, v in by_hour.items()
    }


async def recorded_means(
    hass: HomeAssistant, device_id: int, start: datetime, end: datetime
) -> dict[datetime, float]:
    """The hourly means of the station's temperature in the recorder's long-term
    statistics, from ``start`` to ``end``."""
    stat = statistic_id(device_id, "temperature")
    await async_wait_recording_done(hass)
    rows = await get_instance(hass).async_add_executor_job(
        statistics_during_period, hass, start, end, {stat}, "hour", None, {"mean"}
    )
    return {datetime.fromtimestamp(row["start"], UTC): row["mean"] for row in rows.get(stat, [])}


async def assert_statistics(hass: HomeAssistant, device_id: int, samples: Iterable[Any]) -> None:
    """The station's long-term statistics hold the hourly means of every sample."""
    expected = hourly_means(samples, "temperature")
    hour = timedelta(hours=1)
    got = await recorded_means(hass, device_id, min(expected) - hour, max(expected) + hour)
    assert got == pytest.approx(expected)


async def following(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Set the entry up and wait until it hears the bridge: its subscriptions are in place."""
    await setup_entry(hass, entry)
    source = entry.runtime_data.source
    await until(hass, lambda: source.diagnostics()["bridge_online"], "the bridge's state")
