"""The simulator: firmware-identical bytes, the station's store and clock."""

from __future__ import annotations

import struct

import pytest

from bridge.sim import SimStation, build_packet, weather
from tests.support.vectors import load_vectors
from wxstation.parsers import FieldSpec, ReferenceParser, make_parser

PARSER = ReferenceParser()


def test_build_packet_matches_the_protocol_example() -> None:
    """Test that the simulator lays out the header and records as the firmware does."""
    records = [struct.pack("<HHH", 120, 0x6B5C, 0x6A10), struct.pack("<HHH", 118, 0x6B80, 0x6A0C)]
    data = build_packet(1, records, record_size=6, value_count=3)
    assert data.hex() == "0c00100e780006010378005c6b106a7600806b0c6a"


@pytest.mark.parametrize(
    "case", [c for c in load_vectors("decode.json") if c["valid"] is True], ids=lambda c: c["name"]
)
def test_build_packet_reproduces_every_valid_vector(
    case: dict[str, object], profiles: dict[str, object]
) -> None:
    """Test that re-packing a vector's own records gives its bytes back exactly."""
    data = bytes.fromhex(str(case["hex"]))
    header = case["header"]
    assert isinstance(header, dict)
    size = header["bytes_per_sample"]
    records = [data[i : i + size] for i in range(9, len(data), size)]
    rebuilt = build_packet(
        header["device_id"],
        records,
        record_size=size,
        value_count=header["sensor_count"],
        wake_every_s=header["wake_every_s"],
        measure_every_s=header["measure_every_s"],
    )
    assert rebuilt == data


def test_station_store_drops_the_oldest_when_full() -> None:
    """Test that after missed wake-ups a packet holds the newest 58 records only."""
    station = SimStation(1, PARSER, 1_790_000_000.0)
    station.skip(1)
    wake = station.wake()
    assert len(wake.packet) == 9 + 58 * 6
    assert len(wake.taken) == 58
    assert wake.taken[-1] == pytest.approx(1_790_000_000.0 + 2 * 3600)
    assert wake.taken[0] == pytest.approx(1_790_000_000.0 + 3 * 120)


def test_station_clock_error_stretches_real_time() -> None:
    """Test that a slow watchdog spaces samples further apart in real seconds."""
    station = SimStation(1, PARSER, 0.0, clock_factor=1.03)
    wake = station.wake()
    gaps = {round(b - a, 6) for a, b in zip(wake.taken, wake.taken[1:], strict=False)}
    assert gaps == {round(120 * 1.03, 6)}
    assert wake.arrival - wake.taken[-1] == pytest.approx(2.0, abs=1.0)


def test_delivery_empties_the_store_and_failure_keeps_it() -> None:
    station = SimStation(1, PARSER, 0.0)
    first = station.wake()
    second = station.wake()  # not delivered: the old records come again, 2 dropped for room
    assert second.taken[:28] == first.taken[2:]
    station.delivered()
    assert len(station.wake().taken) == 30


def test_values_are_plausible_for_declarative_fields() -> None:
    """Test that a declarative station's simulated values decode into sane ranges."""
    parser = make_parser(
        fields=[
            FieldSpec("temperature", "i16", scale=0.01),
            FieldSpec("humidity", "u16", scale=0.01),
            FieldSpec("pressure", "f32"),
            FieldSpec("battery", "u8"),
        ]
    )
    decoded = parser.decode(SimStation(9, parser, 1_790_000_000.0).wake().packet)
    for sample in decoded.values:
        assert -30 < sample["temperature"] < 45
        assert 0 <= sample["humidity"] <= 100
        assert 950 < sample["pressure"] < 1060
        assert 0 <= sample["battery"] <= 100


def test_light_follows_day_and_night() -> None:
    fields = PARSER.fields
    midnight = 1_790_035_200.0 - 1_790_035_200.0 % 86400
    assert weather(fields, midnight, 1)["light"] == 0
    assert weather(fields, midnight + 12 * 3600, 1)["light"] > 1000
