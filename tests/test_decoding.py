"""Decoding: the packet vectors, arbitrary bytes, and the parsers' own contracts."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.sim import build_packet
from tests.support.vectors import load_vectors, profile_parser
from wxstation import protocol
from wxstation.parsers import DeclarativeParser, FieldSpec, ReferenceParser, make_parser
from wxstation.protocol import MAX_PACKET_SIZE, PacketError, parse_header

CASES = load_vectors("decode.json")


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_decode_vector(case: dict[str, Any], profiles: dict[str, Any]) -> None:
    """Test that every vector decodes to its samples, or is refused, as it says."""
    parser = profile_parser(profiles, case["profile"])
    data = bytes.fromhex(case["hex"])
    if case["valid"] is False:
        with pytest.raises(PacketError):
            parser.decode(data)
        return
    decoded = parser.decode(data)
    if case["valid"] == "partial":
        assert decoded.cut
        assert len(decoded.records) == case["complete_records"]
    else:
        assert not decoded.cut
        assert decoded.header.as_dict() == case["header"]
    assert len(decoded.values) == len(case["samples"])
    for got, want in zip(decoded.values, case["samples"], strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert got[key] == pytest.approx(value, abs=1e-6), key


def test_protocol_example_from_the_spec() -> None:
    """Test the two-sample example packet of docs/protocol.md."""
    data = bytes.fromhex("0c00100e780006010378005c6b106a7600806b0c6a")
    decoded = ReferenceParser().decode(data)
    assert decoded.header.device_id == 1
    assert [v["light"] for v in decoded.values] == [120.0, 118.0]
    assert decoded.values[0]["humidity"] == pytest.approx(125 * 0x6B5C / 65536 - 6)
    assert decoded.values[1]["temperature"] == pytest.approx(175.72 * 0x6A0C / 65536 - 46.85)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "no bytes"),
        (bytes(5), "fewer than 9"),
        (b"\xff" * 15, "all-0xFF"),
        (bytes.fromhex("0600100e0000060103") + bytes(6), "measure_every_s is 0"),
    ],
)
def test_refusals_say_why(data: bytes, words: str) -> None:
    """Test that a refused packet's error says what is wrong."""
    with pytest.raises(PacketError) as caught:
        ReferenceParser().decode(data)
    assert words in str(caught.value)


def test_shape_error_names_device_and_byte() -> None:
    """Test that a layout mismatch names the station and the header byte."""
    data = bytes.fromhex("0700100e780007010401000200030004")
    with pytest.raises(PacketError) as caught:
        ReferenceParser().decode(data)
    assert caught.value.device_id == 1
    assert caught.value.offset == 6
    assert "6-byte, 3-value" in caught.value.reason


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=MAX_PACKET_SIZE + 20))
def test_arbitrary_bytes_raise_only_packet_errors(data: bytes) -> None:
    """Test that no byte string makes the decoder raise anything but PacketError."""
    for parser in (ReferenceParser(), make_parser(fields=[FieldSpec("x", "f32")])):
        try:
            decoded = parser.decode(data)
        except PacketError:
            continue
        assert len(decoded.records) <= decoded.announced
        assert all(len(record) == parser.record_size for record in decoded.records)


@settings(max_examples=500, deadline=None)
@given(
    st.integers(1, 255),
    st.lists(st.binary(min_size=6, max_size=6), max_size=58),
    st.integers(0, 400),
)
def test_any_cut_keeps_exactly_the_complete_records(
    device_id: int, records: list[bytes], keep: int
) -> None:
    """Test that a packet cut anywhere after its header yields its complete records."""
    packet = build_packet(device_id, records, record_size=6, value_count=3)
    cut = packet[: max(9, min(len(packet), keep))]
    decoded = ReferenceParser().decode(cut)
    complete = (len(cut) - 9) // 6
    assert decoded.records == tuple(records[:complete])
    assert decoded.cut == (complete < len(records))


def test_nan_from_a_float_field_is_named_not_passed_on() -> None:
    """Test that a NaN value is left out of the sample and reported."""
    parser = make_parser(fields=[FieldSpec("pressure", "f32"), FieldSpec("t", "i16", 0.1)])
    record = struct.pack("<fh", float("nan"), 215)
    decoded = parser.decode(build_packet(9, [record], record_size=6, value_count=2))
    assert decoded.values == ({"t": pytest.approx(21.5)},)
    assert "pressure is nan" in decoded.problems[0]


def test_declarative_scale_offset_and_named_conversion() -> None:
    """Test a declarative record mixing scale, offset and a named conversion."""
    parser = DeclarativeParser(
        [
            FieldSpec("wind", "u8", scale=0.5, offset=1.0),
            FieldSpec("humidity", "u16", convert="si7021_humidity"),
        ]
    )
    assert (parser.record_size, parser.value_count) == (3, 2)
    assert parser.fields[1].unit == "%"
    assert parser.fields[1].device_class == "humidity"
    values = parser.decode_record(struct.pack("<BH", 10, 0xFFFC))
    assert values == {"wind": 6.0, "humidity": 100.0}


@settings(max_examples=300, deadline=None)
@given(
    st.floats(-40, 60),
    st.floats(0, 100),
    st.integers(0, 65535),
)
def test_encode_then_decode_round_trips(temperature: float, humidity: float, light: int) -> None:
    """Test that the simulator's records decode back to what it meant, within the sensor's step."""
    parser = ReferenceParser(["dew_point"])
    values = {"light": float(light), "humidity": humidity, "temperature": temperature}
    decoded = parser.decode_record(parser.encode_record(values))
    assert decoded["light"] == light
    assert decoded["humidity"] == pytest.approx(humidity, abs=125 * 4 / 65536)
    assert decoded["temperature"] == pytest.approx(temperature, abs=175.72 * 4 / 65536)


def test_derived_values_added_when_configured() -> None:
    """Test dew point and absolute humidity at a textbook point (20 degC, 50 %RH)."""
    parser = ReferenceParser(["dew_point", "absolute_humidity"])
    record = parser.encode_record({"light": 0, "humidity": 50.0, "temperature": 20.0})
    data = build_packet(1, [record], record_size=6, value_count=3)
    sample = parser.decode(data).values[0]
    assert sample["dew_point"] == pytest.approx(9.3, abs=0.1)
    assert sample["absolute_humidity"] == pytest.approx(8.6, abs=0.1)
    assert [f.key for f in parser.all_fields][-2:] == ["dew_point", "absolute_humidity"]


def test_header_parse_matches_struct_layout() -> None:
    """Test the header fields against the layout in docs/protocol.md."""
    header = parse_header(bytes.fromhex("0c00100e7800060103") + bytes(12))
    assert header.as_dict() == {
        "bytes_ready": 12,
        "wake_every_s": 3600,
        "measure_every_s": 120,
        "bytes_per_sample": 6,
        "device_id": 1,
        "sensor_count": 3,
    }


def test_header_offsets_are_where_the_header_keeps_each_field() -> None:
    """Test that each named offset is where HEADER reads its field, and that
    claimed_device reads the device id as soon as its byte arrived."""
    offsets = {
        "bytes_ready": protocol.BYTES_READY_AT,
        "wake_every_s": protocol.WAKE_EVERY_AT,
        "measure_every_s": protocol.MEASURE_EVERY_AT,
        "bytes_per_sample": protocol.BYTES_PER_SAMPLE_AT,
        "device_id": protocol.DEVICE_ID_AT,
        "sensor_count": protocol.SENSOR_COUNT_AT,
    }
    for name, offset in offsets.items():
        data = bytearray(protocol.HEADER_SIZE)
        data[offset] = 0x5A
        header = protocol.Header(*protocol.HEADER.unpack(bytes(data)))
        assert header.as_dict()[name] == 0x5A, name
    assert protocol.claimed_device(bytes(range(7))) is None
    assert protocol.claimed_device(bytes(range(8))) == 7
