"""Quality control with the simulator: calibration, plausible ranges, the send
delay, and two stations flashed with one device id."""

from __future__ import annotations

import json
import logging
import struct
from pathlib import Path
from typing import Any

import pytest

from bridge import cli as bridge_cli
from bridge.offline import decode_offline
from bridge.sim import SimStation, Wake
from bridge.spool import Spool
from tests.support.bridge import cli, write_config
from wxstation.config import ConfigError, parse_config
from wxstation.decoding import DecodeResult, log_result
from wxstation.packets import Received, StoredPacket
from wxstation.parsers import ReferenceParser
from wxstation.parsers.conversions import raw_si7021_temperature
from wxstation.parsers.derived import dew_point
from wxstation.quality import Calibration, OutOfRange, Quality
from wxstation.samples import Batch, format_time, make_batch, shares_id
from wxstation.timing import CLASH_LIMIT, SHARED_ID_CLASHES, StationClock

PARSER = ReferenceParser()
START = 1_790_000_000.0
#: A packet to log a batch with.
PACKET = StoredPacket(1, b"", START, "10.0.0.5:4000", 5, "done", None)
#: Byte offset of a record's temperature word in a reference packet.
TEMPERATURE_AT = 4


def with_temperature_raw(wake: Wake, record: int, raw: int) -> Wake:
    """The wake-up's packet with one record's SI7021 temperature word replaced."""
    data = bytearray(wake.packet)
    at = 9 + record * PARSER.record_size + TEMPERATURE_AT
    data[at : at + 2] = struct.pack("<H", raw)
    return Wake(wake.arrival, bytes(data), wake.taken)


def decoded(tmp_path: Path, raw: dict[str, Any], received: list[Received]) -> list[Batch]:
    """The batches the bridge's decoding stores for ``received`` with config ``raw``."""
    with Spool(tmp_path / "wx.db") as spool:
        spool.packets.add(received)
        tally = decode_offline(spool, parse_config(raw))
        assert (tally.decoded, tally.kept_aside) == (len(received), 0)
        return [batch for _, batch in spool.samples.batches(after=0, limit=1000)]


def delivered_wakes(station: SimStation, count: int) -> list[Wake]:
    wakes = []
    for _ in range(count):
        wakes.append(station.wake())
        station.delivered()
    return wakes


def test_a_spike_of_a_drifting_station_is_no_value_and_is_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Test that a drifting station's SI7021 reading all ones (128.9 degC, above the
    sensor's 125) is taken out of its sample, named in the batch with its time
    and counted in the health, logged with station, field and value, while the
    sample keeps its other values and every sample its true time."""
    station = SimStation(1, PARSER, START, clock_factor=1.03, seed=3, send_delay=0.0)
    wakes = delivered_wakes(station, 4)
    wakes[2] = with_temperature_raw(wakes[2], 7, 0xFFFC)
    received = [Received(w.packet, w.arrival, "10.0.0.1:4000") for w in wakes]
    # Decoded offline, each packet's lines are at DEBUG (the bridge logs them at WARNING).
    with caplog.at_level(logging.DEBUG, logger="wxstation.decoding"):
        batches = decoded(tmp_path, {"stations": {1: {"name": "Garden"}}}, received)

    spiked = batches[2]
    spike_time = spiked.samples[7].time_ms
    assert "temperature" not in spiked.samples[7].values
    assert set(spiked.samples[7].values) == {"light", "humidity"}
    assert all("temperature" in s.values for i, s in enumerate(spiked.samples) if i != 7)
    assert spiked.out_of_range == (
        OutOfRange(spike_time, "temperature", pytest.approx(128.859, abs=0.001), -40.0, 125.0),
    )
    assert [b.health()["out_of_range"] for b in batches] == [0, 0, 1, 0]
    # Calibrated from the second packet on: every sample at its true time.
    for batch, wake in zip(batches[1:], wakes[1:], strict=True):
        for sample, taken in zip(batch.samples, wake.taken, strict=True):
            assert sample.time_ms / 1000 == pytest.approx(taken, abs=0.01)
    logged = [r.getMessage() for r in caplog.records if "plausible range" in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].startswith("Garden (1): temperature 128.859 at ")
    assert "outside its plausible range -40..125" in logged[0]


def test_decode_applies_the_config_s_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test that the decode command applies the station's send delay, calibration
    and ranges, and names the values out of range."""
    station = SimStation(1, PARSER, START, seed=3, send_delay=0.0)
    wake = with_temperature_raw(station.wake(), 29, 0xFFFC)
    config_file = write_config(
        tmp_path / "config.yaml",
        {"stations": {1: {"send_delay": 2.5, "calibrate": {"humidity": {"offset": 1}}}}},
    )
    assert (
        bridge_cli.main(
            ["decode", wake.packet.hex(), "-c", str(config_file), "--arrival", str(wake.arrival)]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    newest = out["samples"][-1]
    assert newest["time"] == format_time(round((wake.arrival - 2.5) * 1000))
    assert "temperature" not in newest
    assert out["out_of_range"] == [
        {
            "time_ms": round((wake.arrival - 2.5) * 1000),
            "key": "temperature",
            "value": pytest.approx(128.859, abs=0.001),
            "low": -40.0,
            "high": 125.0,
        }
    ]
    plain = PARSER.decode(wake.packet).values[-1]
    assert newest["humidity"] == pytest.approx(plain["humidity"] + 1)


def test_a_configured_range_narrows_the_sensors_own(tmp_path: Path) -> None:
    """Test that a station's range replaces its sensor's: 60 degC is the sensor's
    but not the garden's, and the dew point goes with the temperature."""
    station = SimStation(1, ReferenceParser(["dew_point"]), START, seed=1, send_delay=0.0)
    wake = with_temperature_raw(station.wake(), 0, raw_si7021_temperature(60.0))
    raw = {"stations": {1: {"name": "Garden", "derived": ["dew_point"], "range": {}}}}
    default = decoded(tmp_path / "a", raw, [Received(wake.packet, wake.arrival, "p:1")])[0]
    assert default.samples[0].values["temperature"] == pytest.approx(60.0, abs=0.01)
    assert default.out_of_range == ()

    raw["stations"][1]["range"] = {"temperature": [-30, 50]}
    narrowed = decoded(tmp_path / "b", raw, [Received(wake.packet, wake.arrival, "p:1")])[0]
    assert set(narrowed.samples[0].values) == {"light", "humidity"}
    assert [(o.key, o.low, o.high) for o in narrowed.out_of_range] == [("temperature", -30, 50)]
    assert all("dew_point" in s.values for s in narrowed.samples[1:])


def test_a_calibrated_field_and_what_is_derived_from_it(tmp_path: Path) -> None:
    """Test that calibration corrects the values after conversion (offset and
    scale) and that the dew point is computed from the corrected values."""
    station = SimStation(1, ReferenceParser(["dew_point"]), START, seed=2, send_delay=0.0)
    wake = station.wake()
    received = [Received(wake.packet, wake.arrival, "p:1")]
    plain = decoded(tmp_path / "a", {"stations": {1: {"derived": ["dew_point"]}}}, received)[0]
    calibrated = decoded(
        tmp_path / "b",
        {
            "stations": {
                1: {
                    "derived": ["dew_point"],
                    "calibrate": {"temperature": {"offset": -0.4}, "humidity": {"scale": 1.02}},
                }
            }
        },
        received,
    )[0]
    assert [s.time_ms for s in calibrated.samples] == [s.time_ms for s in plain.samples]
    for before, after in zip(plain.samples, calibrated.samples, strict=True):
        assert after.values["temperature"] == pytest.approx(before.values["temperature"] - 0.4)
        assert after.values["humidity"] == pytest.approx(before.values["humidity"] * 1.02)
        assert after.values["light"] == before.values["light"]
        assert after.values["dew_point"] == pytest.approx(
            dew_point(after.values["temperature"], after.values["humidity"])
        )
        assert after.values["dew_point"] != pytest.approx(before.values["dew_point"])


def test_calibration_comes_before_the_range_check() -> None:
    """Test that a value is judged as corrected: 99 % read 2 % high is 101 %."""
    quality = Quality.of(PARSER, {"humidity": Calibration(scale=1.02)})
    kept, outside = quality.check({"light": 5.0, "humidity": 99.0, "temperature": 20.0})
    assert kept == {"light": 5.0, "temperature": 20.0}
    assert outside == {"humidity": pytest.approx(100.98)}


def test_a_send_delay_of_2_5_s_judged_against_the_true_sample_times(tmp_path: Path) -> None:
    """Test that with the station's send delay in the config every sample is
    stamped at the moment it was taken, while without it every one is 2.5 s late."""
    station = SimStation(1, PARSER, START, clock_factor=0.98, seed=5, send_delay=2.5)
    wakes = delivered_wakes(station, 5)
    received = [Received(w.packet, w.arrival, "10.0.0.1:4000") for w in wakes]
    late = decoded(tmp_path / "a", {"stations": {1: {}}}, received)
    right = decoded(tmp_path / "b", {"stations": {1: {"send_delay": 2.5}}}, received)

    def errors(batches: list[Batch]) -> list[float]:
        # From the second packet on, once the clock is learnt.
        return [
            sample.time_ms / 1000 - taken
            for batch, wake in zip(batches[1:], wakes[1:], strict=True)
            for sample, taken in zip(batch.samples, wake.taken, strict=True)
        ]

    assert max(abs(e) for e in errors(right)) < 0.002
    assert all(e == pytest.approx(2.5, abs=0.002) for e in errors(late))
    # The newest sample of the first packet too, before any clock is learnt.
    assert right[0].samples[-1].time_ms / 1000 == pytest.approx(wakes[0].taken[-1], abs=0.001)
    assert [b.clock_factor for b in right] == [b.clock_factor for b in late]


def test_two_stations_with_one_id_keep_every_sample_and_say_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Test that two stations flashed with one device id, waking 20 minutes apart
    with clocks 3 % apart, are recognised: a warning from the second clash on,
    every sample of both stored at its own time, none two at one time, and the
    clock factor not learnt from their mixed-up spacing."""
    one = SimStation(9, PARSER, START, clock_factor=1.0, seed=1, send_delay=0.0)
    other = SimStation(9, PARSER, START + 1200, clock_factor=1.03, seed=2, send_delay=0.0)
    wakes = sorted([*delivered_wakes(one, 6), *delivered_wakes(other, 6)], key=lambda w: w.arrival)
    received = [Received(w.packet, w.arrival, f"10.0.0.{n % 2}:4000") for n, w in enumerate(wakes)]
    with caplog.at_level(logging.WARNING, logger="wxstation.decoding"):
        batches = decoded(tmp_path, {"stations": {9: {"name": "Twins"}}}, received)

    assert sum(len(b.samples) for b in batches) == sum(len(w.taken) for w in wakes)
    times = [s.time_ms for b in batches for s in b.samples]
    assert len(set(times)) == len(times)
    clashes = [b.id_clashes for b in batches]
    assert clashes[0] == 0
    assert clashes[-1] >= SHARED_ID_CLASHES
    assert all(b.clock_factor == 1.0 for b in batches[1:])
    assert shares_id(batches[-1].health())
    assert not shares_id(batches[0].health())
    warned = [r.getMessage() for r in caplog.records if "two stations" in r.getMessage()]
    # Said with the clash that showed it, then with clashes after half an hour
    # without one: not with every packet.
    news = [b for b in batches if b.shared_id_news]
    assert news[0].id_clashes == SHARED_ID_CLASHES
    assert len(warned) == len(news)
    assert 2 <= len(news) < clashes[-1]
    assert warned[0].startswith("Twins (9): ")
    assert "give each station its own device id" in warned[0]

    config_file = write_config(
        tmp_path / "config.yaml", {"storage": {"path": "wx.db"}, "stations": {9: {"name": "Twins"}}}
    )
    status = cli("status", "-c", str(config_file)).stdout
    shared = [line for line in status.splitlines() if line.startswith("shared device id")]
    assert len(shared) == 1
    assert shared[0].startswith(f"shared device id 9 (Twins): {clashes[-1]} packets in the day")
    assert "give each station its own device id" in shared[0]


def test_a_sender_far_faster_than_its_wake_interval_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Test that packets every 10 s of a station that says it wakes hourly (a load
    test, or stations sharing an id under a flood) are said once, and that the
    clashes remembered stay bounded."""
    clock = StationClock()
    station = SimStation(5, PARSER, START, seed=5, send_delay=0.0)
    batches = []
    with caplog.at_level(logging.WARNING, logger="wxstation.decoding"):
        for number in range(200):
            wake = station.wake()
            station.delivered()
            batch, clock = make_batch("Fast", PARSER, clock, wake.packet, START + 10 * number)
            log_result(DecodeResult(PACKET, batch=batch))
            batches.append(batch)
    assert len(clock.clashes) == CLASH_LIMIT
    assert [b.id_clashes for b in batches[:3]] == [0, 1, 2]
    assert sum(b.shared_id_news for b in batches) == 1
    assert len([r for r in caplog.records if "two stations" in r.getMessage()]) == 1


def test_one_station_reset_between_wake_ups_is_not_two() -> None:
    """Test that a single early packet (a station reset with new batteries) is one
    clash, not a shared id, and that it is forgotten after a day."""
    station = SimStation(4, PARSER, START, seed=4, send_delay=0.0)
    clock = StationClock()
    wake = station.wake()
    station.delivered()
    batch, clock = make_batch("S", PARSER, clock, wake.packet, wake.arrival)
    reset = SimStation(4, PARSER, wake.arrival + 600 - 3600, seed=5, send_delay=0.0).wake()
    batch, clock = make_batch("S", PARSER, clock, reset.packet, reset.arrival)
    assert batch.id_clashes == 1
    assert not batch.shared_id
    later = SimStation(4, PARSER, reset.arrival + 86400, seed=6, send_delay=0.0).wake()
    batch, clock = make_batch("S", PARSER, clock, later.packet, later.arrival)
    assert batch.id_clashes == 0


@pytest.mark.parametrize(
    ("station", "problem"),
    [
        (
            {"calibrate": {"tempreature": {"offset": 1}}},
            "stations -> 3 -> calibrate -> tempreature: the station has no measured field "
            "'tempreature'; its reference parser has: light, humidity, temperature",
        ),
        (
            {"derived": ["dew_point"], "calibrate": {"dew_point": {"offset": 1}}},
            "stations -> 3 -> calibrate -> dew_point: the station has no measured field "
            "'dew_point'; its reference parser has: light, humidity, temperature",
        ),
        (
            {"fields": [{"key": "wind", "type": "u8"}], "range": {"gust": [0, 60]}},
            "stations -> 3 -> range -> gust: the station has no field 'gust'; its fields "
            "parser has: wind",
        ),
        (
            {"range": {"temperature": [50, -30]}},
            "stations -> 3 -> range -> temperature: the lowest value must be below the "
            "highest (got [50, -30])",
        ),
        (
            {"range": {"temperature": [50]}},
            "stations -> 3 -> range -> temperature: give [lowest, highest], e.g. [-30, 50]",
        ),
        (
            {"calibrate": {"temperature": {}}},
            "stations -> 3 -> calibrate -> temperature: give an offset, a scale or both, "
            "e.g. {offset: -0.4}",
        ),
        (
            {"send_delay": 2500},
            "stations -> 3 -> send_delay: seconds from 0 to 60 (see docs/protocol.md) (got 2500)",
        ),
    ],
)
def test_config_errors_name_the_station_and_key(station: dict[str, Any], problem: str) -> None:
    """Test that a calibration, range or send delay the station cannot have is a
    config error that names the station, the key and what is allowed."""
    with pytest.raises(ConfigError) as caught:
        parse_config({"stations": {3: station}})
    assert problem in caught.value.problems


def test_the_issue_s_config_shape() -> None:
    """Test that the documented shape gives the station its delay, corrections
    and ranges, over the sensor's own where given."""
    config = parse_config(
        {
            "stations": {
                1: {
                    "name": "Garden",
                    "parser": "reference",
                    "send_delay": 2.5,
                    "calibrate": {"temperature": {"offset": -0.4}, "humidity": {"scale": 1.02}},
                    "range": {"temperature": [-30, 50]},
                }
            }
        }
    )
    garden = config.stations[1]
    assert garden.send_delay == 2.5
    assert garden.quality.calibrate == {
        "temperature": Calibration(offset=-0.4),
        "humidity": Calibration(scale=1.02),
    }
    assert garden.quality.ranges == {
        "light": (0.0, 40000.0),
        "humidity": (0.0, 100.0),
        "temperature": (-30.0, 50.0),
    }
    unknown = config.station(7)
    assert unknown is not None
    assert unknown.send_delay == 0.0
    assert unknown.quality.ranges["temperature"] == (-40.0, 125.0)
