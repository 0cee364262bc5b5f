"""Replays: the same packets ingested, merged or received twice are stored once,
and the sinks deliver only what was newly stored."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bridge.offline import decode_offline
from bridge.service import build_sinks
from bridge.sim import SimStation, Wake, send_packet
from bridge.spool import Spool
from tests.support.bridge import (
    RunningBridge,
    bridge_config,
    cli,
    running_bridge,
    write_config,
)
from tests.support.capture import write_capture
from tests.support.ledger import READINGS, readings_samples
from tests.support.mqtt import batch_messages
from tests.support.servers import InfluxDB1, Mosquitto
from tests.support.waiting import eventually
from wxstation.config import parse_config
from wxstation.decoding import DecodeResult, log_result
from wxstation.packets import Received
from wxstation.parsers import ReferenceParser
from wxstation.samples import format_time, make_batch
from wxstation.timing import StationClock

PARSER = ReferenceParser()
#: Samples per packet of a station that delivered its previous one.
PER_PACKET = 30


def station_wakes(count: int) -> list[Wake]:
    """``count`` delivered packets of each of two stations, in arrival order."""
    wakes = []
    for device, factor in ((1, 1.01), (2, 0.98)):
        station = SimStation(
            device, ReferenceParser(), 1_790_000_000.0 + device, clock_factor=factor, seed=device
        )
        for _ in range(count):
            wakes.append(station.wake())
            station.delivered()
    return sorted(wakes, key=lambda wake: wake.arrival)


WAKES = station_wakes(4)


def ingest(capture: Path, config_file: Path) -> str:
    result = cli("ingest", str(capture), "-c", str(config_file))
    assert result.returncode == 0, result.stderr
    return result.stdout


def exports(config_file: Path) -> tuple[str, str]:
    """``export`` as JSON lines and as CSV."""
    jsonl = cli("export", "-c", str(config_file)).stdout
    table = cli("export", "--format", "csv", "-c", str(config_file)).stdout
    return jsonl, table


def assert_each_sample_once(exported: tuple[str, str], expected: int) -> None:
    """Both exports hold ``expected`` samples, no station and time twice."""
    jsonl, table = exported
    lines = [json.loads(line) for line in jsonl.splitlines()]
    rows = list(csv.DictReader(io.StringIO(table)))
    for keys in (
        [(line["device_id"], line["time"]) for line in lines],
        [(int(row["device_id"]), row["time"]) for row in rows],
    ):
        assert len(keys) == expected
        assert Counter(keys).most_common(1)[0][1] == 1


def test_a_capture_ingested_twice_is_stored_once(tmp_path: Path) -> None:
    """Test that ingesting the same capture again stores and decodes nothing, says
    so, and leaves both exports as they were, with each sample once."""
    config_file = write_config(tmp_path / "config.yaml", {"storage": {"path": "wx.db"}})
    capture = write_capture(tmp_path / "capture.jsonl", WAKES)
    first = ingest(capture, config_file)
    assert "stored 8 packets, skipped 0 already in the database" in first
    assert "decoded 8 packets, 0 kept aside" in first
    exported = exports(config_file)
    assert_each_sample_once(exported, 8 * PER_PACKET)

    again = ingest(capture, config_file)
    assert "stored 0 packets, skipped 8 already in the database" in again
    assert "decoded 0 packets, 0 kept aside" in again
    assert exports(config_file) == exported
    status = cli("status", "-c", str(config_file)).stdout.splitlines()
    assert "packets: 8 decoded, 0 kept aside, 0 waiting" in status
    assert any(line.startswith("conflicts: 0 samples") for line in status)


def test_an_overlapping_capture_after_a_partial_one(tmp_path: Path) -> None:
    """Test that ingesting ``export --raw`` of a database that holds the first half of
    a capture, then the whole capture, stores the second half only and exports what
    one ingest of the whole capture does."""
    older = write_config(tmp_path / "older.yaml", {"storage": {"path": "older.db"}})
    merged = write_config(tmp_path / "merged.yaml", {"storage": {"path": "merged.db"}})
    once = write_config(tmp_path / "once.yaml", {"storage": {"path": "once.db"}})
    whole = write_capture(tmp_path / "whole.jsonl", WAKES)
    ingest(write_capture(tmp_path / "half.jsonl", WAKES[:4]), older)
    part = tmp_path / "part.jsonl"
    part.write_text(cli("export", "--raw", "-c", str(older)).stdout)
    assert len(part.read_text().splitlines()) == 4

    assert "stored 4 packets, skipped 0" in ingest(part, merged)
    assert "stored 4 packets, skipped 4 already in the database" in ingest(whole, merged)
    ingest(whole, once)
    assert exports(merged) == exports(once)
    assert_each_sample_once(exports(merged), 8 * PER_PACKET)


async def test_the_same_bytes_twice_within_a_second_are_stored_once(tmp_path: Path) -> None:
    """Test the live path: a station's packet sent twice by one address, 0.4 s apart,
    to a running bridge over real sockets, is two packets whose samples are stored
    once, also when the later copy is committed (and so decoded) first."""
    station = SimStation(1, ReferenceParser(), 1_790_000_000.0, clock_factor=1.01)
    first, second = station.wake(), None
    station.delivered()
    second = station.wake()
    async with running_bridge(bridge_config(tmp_path)) as bridge:
        now = [0.0]
        bridge.receiver.clock = lambda: now[0]
        # In order, then with the copy that arrived later committed first.
        sends = [
            (first.packet, first.arrival),
            (first.packet, first.arrival + 0.4),
            (second.packet, second.arrival + 0.4),
            (second.packet, second.arrival),
        ]
        for number, (data, arrival) in enumerate(sends, 1):
            now[0] = arrival
            await asyncio.to_thread(send_packet, "127.0.0.1", bridge.port, data)
            await eventually(lambda n=number: decoded(bridge) == n, what=f"packet {number} decoded")
        per_batch = bridge.query(
            "SELECT p.received_at, (SELECT coalesce(sum(count), 0) FROM readings s "
            "WHERE s.seq = b.seq) "
            "FROM batches b JOIN packets p ON p.id = b.packet_id ORDER BY b.seq"
        )
        times = sorted(t for _, _, t, _ in readings_samples(bridge.query(READINGS)))
    assert per_batch == [
        (arrival, n) for (_, arrival), n in zip(sends, [30, 0, 30, 0], strict=True)
    ]
    assert len(times) == len(set(times)) == 60
    assert times[29] == round(first.arrival * 1000)
    assert times[59] == round((second.arrival + 0.4) * 1000)


def decoded(bridge: RunningBridge) -> int:
    return bridge.count("SELECT count(*) FROM packets WHERE state = 'done'")


# --- the sinks ---------------------------------------------------------------------


@pytest.mark.servers
async def test_the_sinks_deliver_a_replayed_capture_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that with a bridge running, ingesting half a capture, the same half again
    and then the whole, InfluxDB gets every sample once at its time and the MQTT
    batch topic publishes one message per packet and every sample once."""
    monkeypatch.setattr("bridge.runtime.decoder.POLL_INTERVAL", 0.2)  # ingested packets at once
    with InfluxDB1() as influxdb, Mosquitto() as broker:
        influxdb.create_database("wx")
        # The path bridge_config gives the bridge, for the ingest command too.
        raw = {
            "storage": {"path": str(tmp_path / "wxstation.db")},
            "influxdb": {"url": influxdb.url, "api": 1, "database": "wx", "flush_interval": 0.05},
            "mqtt": {"host": broker.host, "port": broker.port},
        }
        config_file = write_config(tmp_path / "config.yaml", raw)
        config = bridge_config(tmp_path, raw)
        half = write_capture(tmp_path / "half.jsonl", WAKES[:4])
        whole = write_capture(tmp_path / "whole.jsonl", WAKES)
        async with (
            batch_messages(broker) as published,
            running_bridge(config, build_sinks(config)) as bridge,
        ):
            assert "stored 4 packets" in ingest(half, config_file)
            await delivered(bridge, 4, published)
            assert "stored 0 packets, skipped 4" in ingest(half, config_file)
            await asyncio.sleep(1.0)  # five looks for new packets
            assert len(published) == 4
            assert bridge.count("SELECT max(seq) FROM batches") == 4
            assert "stored 4 packets, skipped 4" in ingest(whole, config_file)
            await delivered(bridge, 8, published)
            stored = [(d, t) for d, _, t, _ in readings_samples(bridge.query(READINGS))]
        points = influxdb.query('SELECT * FROM "weather" GROUP BY "device_id"', "wx")

    assert len(stored) == 8 * PER_PACKET
    sent = Counter(
        (message["device_id"], sample["time"])
        for message in published
        for sample in message["samples"]
    )
    assert len(published) == 8
    assert set(sent.values()) == {1}
    assert set(sent) == {(device, format_time(time_ms)) for device, time_ms in stored}
    assert sorted((int(p["device_id"]), p["time"]) for p in points) == sorted(stored)


async def delivered(bridge: RunningBridge, batches: int, published: list[Any]) -> None:
    """Wait until ``batches`` are stored, both sinks delivered them and the batch
    messages arrived."""

    def done() -> bool:
        progress = dict(bridge.query("SELECT sink, seq FROM sink_progress"))
        return (
            bridge.count("SELECT count(*) FROM batches") == batches
            and progress == {"influxdb": batches, "mqtt": batches}
            and len(published) >= batches
        )

    await eventually(done, within=30, what=f"{batches} batches delivered")


def test_two_stations_with_one_id_in_the_same_millisecond_lose_no_sample(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Test that two different packets of one device id that arrive in the same
    millisecond from two addresses (two stations flashed with one id) are both
    stored whole, the second one's samples a millisecond after the first's, so
    no two different samples of the station share a time; the clash is counted."""
    twins = [SimStation(3, ReferenceParser(), 1_790_000_000.0, seed=seed) for seed in (1, 2)]
    packets = [twin.wake().packet for twin in twins]
    with Spool(tmp_path / "wx.db") as spool:
        spool.packets.add(
            [Received(data, 1_790_003_600.0, f"10.0.0.{n}:4000") for n, data in enumerate(packets)]
        )
        # Each packet's lines are at DEBUG when decoded offline.
        with caplog.at_level(logging.DEBUG, logger="wxstation.decoding"):
            tally = decode_offline(spool, parse_config({}))
            assert (tally.decoded, tally.kept_aside, tally.conflicts) == (2, 0, 0)
        stored = [(time_ms, values) for _, _, time_ms, values in spool.export.samples()]
        assert spool.samples.conflicts(100) == (0, [])
        batches = [batch for _, batch in spool.samples.batches(after=0, limit=10)]
    decoded = [PARSER.decode(data).values for data in packets]
    first, second = (b.samples for b in batches)
    assert [s.values for s in first] == list(decoded[0])
    assert [s.values for s in second] == list(decoded[1])
    assert [s.time_ms for s in second] == [s.time_ms + 1 for s in first]
    assert sorted(stored, key=lambda one: one[0]) == sorted(
        (s.time_ms, s.values) for s in (*first, *second)
    )
    assert [b.id_clashes for b in batches] == [0, 1]
    assert not any("two different samples" in r.getMessage() for r in caplog.records)


def test_two_different_samples_of_one_time_are_a_logged_conflict(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Test that where two different samples of one station get one time (batches
    stamped apart, as a database from before clashes were recognised holds), the
    store keeps the first and the other aside with both values, each logged with
    the station, the time and both values."""
    twins = [SimStation(3, ReferenceParser(), 1_790_000_000.0, seed=seed) for seed in (1, 2)]
    packets = [twin.wake().packet for twin in twins]
    with Spool(tmp_path / "wx.db") as spool:
        ids = spool.packets.add(
            [Received(data, 1_790_003_600.0, f"10.0.0.{n}:4000") for n, data in enumerate(packets)]
        )
        batches = [
            make_batch("Station 3", PARSER, StationClock(), data, 1_790_003_600.0)[0]
            for data in packets
        ]
        results = spool.samples.record(list(zip(ids, batches, strict=True)), [], {})
        with caplog.at_level(logging.WARNING, logger="wxstation.decoding"):
            for packet_id, stored_batch in zip(ids, results, strict=True):
                log_result(
                    DecodeResult(
                        next(p for p in spool.export.packets() if p.id == packet_id),
                        batch=stored_batch.batch,
                        seq=stored_batch.seq,
                        repeated=stored_batch.repeated,
                        conflicts=stored_batch.conflicts,
                    )
                )
        stored = {time_ms: values for _, _, time_ms, values in spool.export.samples()}
        count, conflicts = spool.samples.conflicts(100)
    decoded = [PARSER.decode(data).values for data in packets]
    assert list(stored.values()) == list(decoded[0])
    assert count == 30
    assert sorted((c.time_ms, tuple(c.other.items())) for c in conflicts) == sorted(
        (time_ms, tuple(values.items())) for time_ms, values in zip(stored, decoded[1], strict=True)
    )
    assert all(c.stored == stored[c.time_ms] for c in conflicts)
    logged = [r.getMessage() for r in caplog.records if "two different samples" in r.getMessage()]
    assert len(logged) == 30
    newest = max(conflicts, key=lambda c: c.time_ms)
    assert (
        "two different samples of one station and time, Station 3 (3) at "
        f"2026-09-21T15:13:20.000Z: stored {json.dumps(newest.stored)}, "
        f"other {json.dumps(newest.other)}: the stored one stays, the other (from packet 2) "
        "is kept aside; 'wxstation-bridge status' lists them"
    ) in logged
