"""Batch messages as a careless or hostile publisher sends them, on the real MQTT path.

Against a real Mosquitto (tests/support/servers.py), with Home Assistant's real MQTT
integration and the bridge's real MQTT sink: messages no bridge publishes
(malformed, wrong types, missing fields, oversized, impossible times) reach
neither the states nor the long-term statistics and are warned about once per
topic and problem, while the bridge's own batches, replayed two years late, are
taken; a message of a hundred thousand samples does not stall the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

# Imported here, not under the frozen clock: the supervisor client it loads
# builds its models from datetime types, which freezegun replaces.
from homeassistant.components.mqtt import config_flow as _mqtt_config_flow  # noqa: F401
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from custom_components.wxstation.diagnostics import async_get_config_entry_diagnostics
from tests.support.clock import Clock
from tests.support.floods import LoopLag
from tests.support.mqtt import Watcher
from tests.support.servers import Mosquitto
from wxstation.batch_message import MAX_SAMPLES
from wxstation.payloads import batch_payload, encode
from wxstation.samples import format_time

from .common import NOW, T0, mqtt_entry, until
from .real_mqtt import (
    assert_statistics,
    bridge_config,
    following,
    packet_batch,
    real_mqtt,
    recorded_means,
    running_bridge_sink,
)

# mock_hass_config: an empty configuration.yaml, which the MQTT integration reads.
pytestmark = [
    pytest.mark.usefixtures("socket_enabled", "mock_hass_config"),
    pytest.mark.freeze_time(dt_util.utc_from_timestamp(NOW).isoformat(), tick=True),
]

RECEIVER = "custom_components.wxstation.receive_mqtt"
YEAR_S = 365 * 86400
#: Times the tests' messages are sent: a careless publisher repeats itself.
REPEATS = 3


@pytest.fixture(autouse=True)
def mock_recorder_before_hass(async_setup_recorder_instance: object) -> None:
    """The recorder's database is set up before Home Assistant, as the recorder needs."""


@pytest.fixture
def expected_lingering_timers() -> bool:
    """The MQTT client's housekeeping timer outlives the test's Home Assistant."""
    return True


def bad_messages(good: dict[str, Any]) -> dict[str, bytes]:
    """Messages no bridge publishes, each made of the bridge's own ``good`` one."""
    first = good["samples"][0]

    def with_samples(*extra: dict[str, Any]) -> bytes:
        return encode({**good, "samples": [*good["samples"], *extra]})

    last_seen = datetime.fromisoformat(good["health"]["last_seen"]).timestamp()
    return {
        "malformed": b'{"device_id": 1, "samples": [',
        "wrong type": with_samples({"time": first["time"], "temperature": "warm"}),
        "missing": encode({key: value for key, value in good.items() if key != "health"}),
        "oversized": encode({**good, "samples": good["samples"] * 100}),
        "too many samples": encode({**good, "samples": [first] * (MAX_SAMPLES + 1)}),
        "1971 and 2099": with_samples(
            {**first, "time": "1971-06-01T12:00:00.000Z"},
            {**first, "time": "2099-06-01T12:00:00.000Z"},
        ),
        "after last_seen": with_samples(
            {**first, "time": format_time(round((last_seen + 2) * 1000))}
        ),
    }


async def test_bad_messages_reach_neither_the_states_nor_the_statistics(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    broker: Mosquitto,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each kind of bad message, sent again and again, is warned about once for
    its topic (and once more on another station's topic), and leaves no state and
    no long-term statistics at any time; the bridge's own batch of a packet that
    arrived two years ago, published now (after its broker was away that long),
    is taken, statistics and all."""
    config = bridge_config(broker, tmp_path, discovery=False)
    async with real_mqtt(hass, broker), running_bridge_sink(config, Clock(T0)) as sink:
        entry = mqtt_entry()
        await following(hass, entry)
        source = entry.runtime_data.source
        hub = entry.runtime_data.hub
        bad = bad_messages(batch_payload(packet_batch(T0, T0 - 3600)))
        publisher = Watcher(broker, "test/nothing")
        sent = [("wxstation/1/batch", data) for data in bad.values() for _ in range(REPEATS)]
        shed = bad_messages(batch_payload(packet_batch(T0, T0 - 3600, 2, "Shed")))
        sent += [("wxstation/2/batch", shed["1971 and 2099"])] * REPEATS
        try:
            with caplog.at_level(logging.WARNING, logger=RECEIVER):
                for topic, data in sent:
                    await asyncio.to_thread(publisher.publish, topic, data)
                await until(hass, lambda: source.messages == len(sent), "every message")
        finally:
            publisher.close()

        warnings = [r.getMessage() for r in caplog.records if r.name == RECEIVER]
        print("\n".join(warnings))
        assert len(warnings) == len(bad) + 1, warnings
        for topic, problems in (("wxstation/1/batch", len(bad)), ("wxstation/2/batch", 1)):
            assert sum(f" on {topic}: " in warning for warning in warnings) == problems
        assert "samples[30].time '1971-06-01T12:00:00.000Z': longer before" in warnings[5]
        diagnostics = await async_get_config_entry_diagnostics(hass, entry)
        refused = diagnostics["source"]["refused"]["wxstation/1/batch"]
        assert len(refused) == len(bad)
        assert {problem["refused"] for problem in refused.values()} == {REPEATS}
        assert hub.stations == {}
        assert hass.states.async_entity_ids("sensor") == []
        ever = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
        for device_id in (1, 2):
            assert await recorded_means(hass, device_id, *ever) == {}

        replayed = packet_batch(T0 - 2 * YEAR_S, T0 - 2 * YEAR_S - 3600)
        await sink.deliver([replayed])
        await until(hass, lambda: 1 in hub.stations, "the replayed batch")
        await assert_statistics(hass, 1, replayed.samples)


async def test_a_hundred_thousand_samples_do_not_stall_the_loop(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    broker: Mosquitto,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One message of 100,000 samples is refused by its size, and Home Assistant's
    loop, timed by a repeating timer meanwhile, is held far less than the 853 ms its
    parsing took before; the lag is printed. The station's next batch is taken."""
    config = bridge_config(broker, tmp_path, discovery=False)
    async with real_mqtt(hass, broker), running_bridge_sink(config, Clock(T0)) as sink:
        entry = mqtt_entry()
        await following(hass, entry)
        source = entry.runtime_data.source
        good = batch_payload(packet_batch(T0, T0 - 3600))
        huge = encode({**good, "samples": [good["samples"][0]] * 100_000})
        publisher = Watcher(broker, "test/nothing")
        lag = LoopLag()
        lag.start()
        began = time.perf_counter()
        try:
            with caplog.at_level(logging.WARNING, logger=RECEIVER):
                await asyncio.to_thread(publisher.publish, "wxstation/1/batch", huge)
                await until(hass, lambda: source.messages == 1, "the message")
        finally:
            lag.stop()
            took = time.perf_counter() - began
            publisher.close()
        print(
            f"\n100,000 samples ({len(huge) / 1e6:.1f} MB): published and refused in "
            f"{took * 1000:.0f} ms, loop lag at most {lag.worst * 1000:.0f} ms ({lag.ticks} ticks)"
        )
        assert f"message size {len(huge)}: more than the" in caplog.text
        assert lag.worst < 0.5
        assert entry.runtime_data.hub.stations == {}

        batch = packet_batch(T0, T0 - 3600)
        await sink.deliver([batch])
        await until(hass, lambda: 1 in entry.runtime_data.hub.stations, "the station's batch")
