"""``reprocess --station``: a station's decoded packets decoded again after a config
change, their samples replaced at the same times, in the database and the sinks."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bridge.service import build_sinks
from bridge.sim import SimStation, Wake
from bridge.spool import Spool
from tests.support.bridge import RunningBridge, bridge_config, cli, running_bridge, write_config
from tests.support.capture import write_capture
from tests.support.mqtt import batch_messages
from tests.support.servers import InfluxDB1, Mosquitto
from tests.support.waiting import eventually
from wxstation.parsers import ReferenceParser

START = 1_790_000_000.0
GARDEN_POINTS = """SELECT * FROM "weather" WHERE "device_id" = '1'"""


def garden_wakes() -> list[Wake]:
    """Station 1 (clock 2 % slow) for eight wake-ups, one of them not delivered,
    so the next packet resends its records; station 2 beside it."""
    wakes = []
    garden = SimStation(1, ReferenceParser(), START, clock_factor=1.02, seed=1)
    for number in range(8):
        wake = garden.wake()
        if number != 3:
            garden.delivered()
        wakes.append(wake)
    shed = SimStation(2, ReferenceParser(), START + 500, seed=2)
    for _ in range(3):
        wakes.append(shed.wake())
        shed.delivered()
    return sorted(wakes, key=lambda wake: wake.arrival)


def run(*args: str) -> str:
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def samples(config_file: Path) -> dict[tuple[int, str], dict[str, Any]]:
    """The exported samples by (device id, time): their values."""
    exported = run("export", "-c", str(config_file))
    found = {}
    for line in exported.splitlines():
        sample = json.loads(line)
        key = (sample.pop("device_id"), sample.pop("time"))
        del sample["station"]
        found[key] = sample
    return found


def test_reprocess_replaces_a_station_s_samples_at_their_times(tmp_path: Path) -> None:
    """Test that after a calibration and a narrower range, reprocess --station with
    a time range replaces exactly that station's samples of the packets that
    arrived in the range: same times (resends and a drifting clock included),
    corrected values, values out of range gone; other samples unchanged; the
    replaced packets become new batches for the sinks."""
    wakes = garden_wakes()
    plain = {"storage": {"path": "wx.db"}, "stations": {1: {"name": "Garden"}, 2: {}}}
    config_file = write_config(tmp_path / "config.yaml", plain)
    run("ingest", str(write_capture(tmp_path / "capture.jsonl", wakes)), "-c", str(config_file))
    before = samples(config_file)
    with Spool(tmp_path / "wx.db") as spool:
        last_before = spool.samples.last_seq()
    garden_arrivals = sorted(w.arrival for w in wakes if w.packet[7] == 1)
    since = garden_arrivals[2]

    corrected = {
        **plain,
        "stations": {
            1: {
                "name": "Garden",
                "calibrate": {"temperature": {"offset": -0.4}},
                "range": {"light": [0, 3000]},
            },
            2: {},
        },
    }
    write_config(config_file, corrected)
    said = run("reprocess", "--station", "1", "--since", str(since), "-c", str(config_file))
    after = samples(config_file)

    assert set(after) == set(before)
    replaced = 0
    out_of_range = 0
    with Spool(tmp_path / "wx.db") as spool:
        new_batches = [b for seq, b in spool.samples.batches(after=last_before, limit=100)]
        replaced_times = {
            (1, sample.as_dict()["time"]) for batch in new_batches for sample in batch.samples
        }
        assert spool.samples.last_seq() == last_before + len(new_batches)
        assert spool.packets.counts() == {"done": len(wakes)}
    assert [b.arrival for b in new_batches] == garden_arrivals[2:]
    for key, old in before.items():
        new = after[key]
        if key not in replaced_times:
            assert new == old
            continue
        replaced += 1
        assert new["temperature"] == pytest.approx(old["temperature"] - 0.4)
        assert new["humidity"] == old["humidity"]
        if old["light"] > 3000:
            out_of_range += 1
            assert "light" not in new
        else:
            assert new["light"] == old["light"]
    assert replaced == sum(len(b.samples) for b in new_batches) > 0
    assert out_of_range > 0
    assert sum(len(b.out_of_range) for b in new_batches) == out_of_range
    assert (
        f"Garden (1): {len(new_batches)} packets decoded again, {replaced} samples replaced "
        f"at their times, {out_of_range} values out of range; the bridge delivers them to its "
        "sinks when it next runs"
    ) in said


def test_reprocess_of_a_station_the_config_does_not_have(tmp_path: Path) -> None:
    """Test that reprocess --station of an unknown station with unknown stations
    kept is refused with what to do, and --since without --station is an error."""
    config_file = write_config(
        tmp_path / "config.yaml",
        {"storage": {"path": "wx.db"}, "unknown_stations": {"action": "keep"}},
    )
    result = cli("reprocess", "--station", "5", "-c", str(config_file))
    assert result.returncode == 1
    assert "device 5 is not configured (unknown_stations: keep)" in result.stderr
    result = cli("reprocess", "--since", "2026-09-01", "-c", str(config_file))
    assert result.returncode == 2
    assert "--since and --until go with --station" in result.stderr


async def delivered(bridge: RunningBridge, published: list[Any], messages: int) -> None:
    """Wait until both sinks delivered the newest batch and ``messages`` arrived."""

    def done() -> bool:
        last = bridge.count("SELECT coalesce(max(seq), 0) FROM batches")
        progress = dict(bridge.query("SELECT sink, seq FROM sink_progress"))
        return progress == {"influxdb": last, "mqtt": last} and len(published) >= messages

    await eventually(done, f"{messages} batch messages and both sinks delivered", within=30)


@pytest.mark.servers
async def test_reprocess_overwrites_influxdb_points_and_republishes_on_mqtt(
    tmp_path: Path,
) -> None:
    """Test that reprocess --station after a calibration, refused while the bridge
    runs and done once it is stopped, leaves InfluxDB with the same points (same
    count, same times) holding the corrected values once the bridge runs again,
    which also publishes the station's packets again on MQTT with the corrected
    samples at the same times."""
    wakes = garden_wakes()
    with InfluxDB1() as influxdb, Mosquitto() as broker:
        start = influxdb.now() - 2 * 86400
        wakes = [
            Wake(w.arrival - START + start, w.packet, tuple(t - START + start for t in w.taken))
            for w in wakes
        ]
        influxdb.create_database("wx")
        raw: dict[str, Any] = {
            "storage": {"path": str(tmp_path / "wxstation.db")},
            "stations": {1: {"name": "Garden"}, 2: {"name": "Shed"}},
            "influxdb": {"url": influxdb.url, "api": 1, "database": "wx", "flush_interval": 0.05},
            "mqtt": {"host": broker.host, "port": broker.port},
        }
        config_file = write_config(tmp_path / "config.yaml", raw)
        config = bridge_config(tmp_path, raw)
        capture = write_capture(tmp_path / "capture.jsonl", wakes)
        garden_packets = sum(1 for w in wakes if w.packet[7] == 1)
        async with batch_messages(broker) as published:
            async with running_bridge(config, build_sinks(config)) as bridge:
                run("ingest", str(capture), "-c", str(config_file))
                await delivered(bridge, published, len(wakes))
                points_before = influxdb.query(GARDEN_POINTS, "wx")
                first_round = list(published)

                raw["stations"][1]["calibrate"] = {"temperature": {"offset": -0.4}}
                write_config(config_file, raw)
                refused = cli("reprocess", "--station", "1", "-c", str(config_file))
                assert refused.returncode == 4
                assert "stop the bridge first" in refused.stderr

            said = run("reprocess", "--station", "1", "-c", str(config_file))
            assert "the bridge delivers them to its sinks when it next runs" in said
            config = bridge_config(tmp_path, raw)
            async with running_bridge(config, build_sinks(config)) as bridge:
                await delivered(bridge, published, len(wakes) + garden_packets)
            again = published[len(first_round) :]
        points_after = influxdb.query(GARDEN_POINTS, "wx")

    assert len(points_after) == len(points_before) > 0
    before = {p["time"]: p for p in points_before}
    after = {p["time"]: p for p in points_after}
    assert set(after) == set(before)
    for time_ms, point in after.items():
        assert point["temperature"] == pytest.approx(before[time_ms]["temperature"] - 0.4)
        assert point["humidity"] == before[time_ms]["humidity"]

    assert len(again) == garden_packets
    assert {m["device_id"] for m in again} == {1}
    old_samples = {s["time"]: s for m in first_round if m["device_id"] == 1 for s in m["samples"]}
    new_samples = {s["time"]: s for m in again for s in m["samples"]}
    assert set(new_samples) == set(old_samples)
    for time, sample in new_samples.items():
        assert sample["temperature"] == pytest.approx(old_samples[time]["temperature"] - 0.4)


def test_reprocess_ends_with_a_summary_of_what_it_decoded(tmp_path: Path) -> None:
    """Test that off a terminal, reprocess of kept-aside packets (once the config
    has their station) and reprocess --station each print on stderr a plain
    line for the decoding and one summary: packets decoded, their samples, and
    the packets the config refuses with the reason; no bar, no line per packet;
    stdout as it was."""
    wakes = garden_wakes()
    shed = sum(1 for w in wakes if w.packet[7] == 2)
    garden = len(wakes) - shed
    raw: dict[str, Any] = {
        "storage": {"path": "wx.db"},
        "stations": {1: {"name": "Garden"}},
        "unknown_stations": {"action": "keep"},
    }
    config_file = write_config(tmp_path / "config.yaml", raw)
    run("ingest", str(write_capture(tmp_path / "capture.jsonl", wakes)), "-c", str(config_file))
    raw["stations"][2] = {"name": "Shed"}
    write_config(config_file, raw)

    result = cli("reprocess", "-c", str(config_file))
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"{shed} kept-aside packets queued for decoding\ndecoded {shed} packets, 0 kept aside\n"
    )
    decoding, summary = result.stderr.splitlines()
    assert decoding.startswith(f"decoding: {shed} packets in ")
    assert re.fullmatch(
        rf"reprocess: {shed} kept-aside packets queued; {shed} packets decoded into "
        rf"{shed * 30} samples, none kept aside; took [0-9.]+ s",
        summary,
    )

    raw["stations"][1]["address"] = "10.0.0.9"
    write_config(config_file, raw)
    result = cli("reprocess", "--station", "1", "-c", str(config_file))
    assert result.returncode == 0, result.stderr
    why = (
        "device 1 (Garden) must send from 10.0.0.9, this came from 192.168.1.50: fix "
        "stations -> 1 -> address if it moved"
    )
    assert result.stdout.count(f"is not decoded with this config, its samples stay: {why}") == (
        garden
    )
    decoding, summary = result.stderr.splitlines()
    assert decoding.startswith(f"decoding again: {garden} packets in ")
    assert re.fullmatch(
        rf"reprocess of Garden \(1\): 0 packets decoded into 0 samples, {garden} refused by "
        rf"this config, their samples stay \({garden}x {re.escape(why)}\); took [0-9.]+ s",
        summary,
    )
