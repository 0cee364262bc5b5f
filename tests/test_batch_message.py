"""The MQTT batch message: every batch the bridge makes reads back the same, and
what no bridge could have published is refused with the field and value that are wrong."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.sim import SimStation, build_packet
from wxstation.batch_message import (
    CLOCK_SKEW_MS,
    EARLIEST_MS,
    LAST_SEEN_SLACK_MS,
    MAX_KEYS,
    MAX_MESSAGE_BYTES,
    MAX_SAMPLES,
    MAX_SPAN_MS,
    REPEAT_WARNING_S,
    BatchMessage,
    BatchMessageError,
    Refusals,
    batch_payload,
    decode_batch,
    encode_batch,
)
from wxstation.parsers import DeclarativeParser, FieldSpec, ReferenceParser, StationParser
from wxstation.parsers.declarative import TYPES
from wxstation.protocol import MAX_INTERVAL_S, MAX_RECORDS
from wxstation.samples import Batch, format_time, make_batch, parse_time
from wxstation.timing import StationClock

#: A fixed "now" for the messages built here (2026-09-21T13:20:00Z).
ARRIVAL = 1_790_000_000.0
YEAR_S = 365.25 * 86400
REFERENCE = ReferenceParser(["dew_point", "absolute_humidity"])


def assert_reads_back(message: BatchMessage, batch: Batch) -> None:
    """``message`` holds everything ``batch`` has in its message."""
    assert message.samples == batch.samples
    assert message.device_id == batch.device_id
    assert message.station == batch.station
    assert message.header == batch.header
    assert message.health.as_dict() == batch.health()
    assert message.problems == batch.problems
    assert [(o.time_ms, o.key, o.value) for o in message.out_of_range] == [
        (o.time_ms, o.key, o.value) for o in batch.out_of_range
    ]


# --- every batch the bridge makes ----------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One packet of a generated station: its records and when it arrived."""

    resent: int  # leading records of the previous packet, sent again
    new: list[bytes]
    gap: float  # wake intervals since the previous packet (negative: arrived before it)
    cut: float  # the share of the packet's bytes that arrived (1.0: all)


@st.composite
def stations(draw: st.DrawFn) -> tuple[StationParser, int, int]:
    """A station's parser and its header's wake and measure intervals."""
    if draw(st.booleans()):
        parser: StationParser = REFERENCE
    else:
        types = draw(st.lists(st.sampled_from(sorted(TYPES)), min_size=1, max_size=6))
        parser = DeclarativeParser([FieldSpec(f"v{i}", kind) for i, kind in enumerate(types)])
    wake = draw(st.integers(1, MAX_INTERVAL_S))
    measure = draw(st.integers(1, MAX_INTERVAL_S))
    return parser, wake, measure


@st.composite
def packets(draw: st.DrawFn, record_size: int, store: int) -> list[Sent]:
    # All ones: a float's NaN (a problem) and values out of their ranges.
    record = st.just(b"\xff" * record_size) | st.binary(min_size=record_size, max_size=record_size)
    sent = []
    for _ in range(draw(st.integers(1, 6))):
        new = draw(st.lists(record, max_size=min(store, 60)))
        resent = draw(st.integers(0, store - len(new)))
        gap = draw(st.sampled_from([1.0, 0.0, -0.5, 3.0]) | st.floats(-2.0, 5.0))
        cut = draw(st.sampled_from([1.0, 0.5]) | st.floats(0.0, 1.0))
        sent.append(Sent(resent, new, gap, cut))
    return sent


def station_batches(
    parser: StationParser, wake: int, measure: int, start: float, sent: list[Sent], name: str
) -> list[Batch]:
    """The batches the bridge makes of a station's packets, each stamped by the
    clock the previous ones left."""
    clock = StationClock()
    arrival = start
    previous: list[bytes] = []
    batches = []
    for one in sent:
        records = [*previous[len(previous) - one.resent :], *one.new] if one.resent else one.new
        data = build_packet(
            7,
            records,
            record_size=parser.record_size,
            value_count=parser.value_count,
            wake_every_s=wake,
            measure_every_s=measure,
        )
        data = data[: max(9, round(len(data) * one.cut))]
        arrival += one.gap * wake
        batch, clock = make_batch(name, parser, clock, data, arrival)
        batches.append(batch)
        previous = records
    return batches


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    station=stations(),
    data=st.data(),
    start=st.floats(EARLIEST_MS / 1000 + 10 * YEAR_S, 4.0e9),
    replayed_after=st.sampled_from([0.0, 1.0, 10 * YEAR_S]) | st.floats(0.0, 20 * YEAR_S),
    name=st.text(st.characters(blacklist_categories=["Cs"]), max_size=40),
)
def test_every_batch_the_bridge_makes_reads_back_the_same(
    station: tuple[StationParser, int, int],
    data: st.DataObject,
    start: float,
    replayed_after: float,
    name: str,
) -> None:
    """Test that each batch of any station (any record layout and intervals the
    header allows, resends, cut packets, late and clashing packets) decodes to
    the same samples, header, health, problems and values out of range, when
    read at once and when replayed years later."""
    parser, wake, measure = station
    sent = data.draw(packets(parser.record_size, parser.store_records))
    for batch in station_batches(parser, wake, measure, start, sent, name):
        payload = encode_batch(batch)
        assert len(payload) <= MAX_MESSAGE_BYTES
        now = max(batch.arrival, start) + replayed_after
        assert_reads_back(decode_batch(payload, now=now, device_id=7), batch)
        assert orjson.loads(payload) == batch_payload(batch)


def test_batches_replayed_after_a_long_outage_read_back() -> None:
    """Test that a station's batches from before and after its own week without
    a connection (its store full, its oldest records dropped, the rest resent)
    still read back when the bridge publishes them two years later (its broker
    unreachable all along: undelivered batches are kept until delivered)."""
    station = SimStation(3, REFERENCE, ARRIVAL - 30 * 86400, clock_factor=1.03)
    clock = StationClock()
    batches = []
    for skipped in (0, 0, 168, 0, 0):
        station.skip(skipped)
        wake = station.wake()
        batch, clock = make_batch("Shed", REFERENCE, clock, wake.packet, wake.arrival)
        station.delivered()
        batches.append(batch)
    assert batches[2].received == REFERENCE.store_records  # the full store after the week
    now = batches[-1].arrival + 2 * YEAR_S
    for batch in batches:
        assert_reads_back(decode_batch(encode_batch(batch), now=now, device_id=3), batch)


def test_the_largest_messages_a_station_makes_fit() -> None:
    """Test that a packet of the most records one packet holds, each one value
    with a long key, and a full packet of the reference station with both
    derived values and every value out of range, are well within the bound."""
    wide = DeclarativeParser([FieldSpec("a_rather_long_field_name_of_forty_chars_", "u8")])
    records = [bytes([i % 256]) for i in range(MAX_RECORDS)]
    sizes = {}
    for parser, record_list in (
        (wide, records),
        (REFERENCE, [b"\xff\xff\xff\xff\xff\xff"] * REFERENCE.store_records),
    ):
        data = build_packet(
            1, record_list, record_size=parser.record_size, value_count=parser.value_count
        )
        batch, _ = make_batch("A station name", parser, StationClock(), data, ARRIVAL)
        payload = encode_batch(batch)
        sizes[parser.kind] = len(payload)
        assert_reads_back(decode_batch(payload, now=ARRIVAL), batch)
    print(f"largest messages: {sizes} bytes; bound {MAX_MESSAGE_BYTES}")
    assert max(sizes.values()) < MAX_MESSAGE_BYTES / 4


# --- refused ---------------------------------------------------------------------


def payload(**changes: Any) -> dict[str, Any]:
    """A first packet's message of docs/protocol.md's example records, arrived at
    :data:`ARRIVAL`, as JSON-ready data."""
    data = build_packet(
        1,
        [bytes.fromhex("78005c6b106a"), bytes.fromhex("7600806b0c6a")],
        record_size=6,
        value_count=3,
    )
    batch, _ = make_batch("Garden", REFERENCE, StationClock(), data, ARRIVAL)
    message = batch_payload(batch)
    message.update(changes)
    return message


def refused(message: Any, **options: Any) -> BatchMessageError:
    """The error reading ``message`` (JSON-ready data, or the bytes themselves) raises."""
    data = message if isinstance(message, bytes | str) else orjson.dumps(message)
    with pytest.raises(BatchMessageError) as caught:
        decode_batch(data, now=options.pop("now", ARRIVAL + 60), **options)
    return caught.value


def with_sample(**sample: Any) -> dict[str, Any]:
    message = payload()
    message["samples"].append(sample)
    return message


def with_health(**health: Any) -> dict[str, Any]:
    message = payload()
    message["health"].update(health)
    return message


def without(*path: str) -> dict[str, Any]:
    message = payload()
    place = message
    for key in path[:-1]:
        place = place[key]
    del place[path[-1]]
    return message


CASES: list[tuple[str, Callable[[], Any], str, str, Any]] = [
    ("malformed JSON", lambda: b'{"device_id": 1,', "not_json", "message", b'{"device_id": 1,'),
    ("not UTF-8", lambda: b"\xff\xfe", "not_json", "message", b"\xff\xfe"),
    ("a list", lambda: b"[]", "wrong_type", "message", []),
    ("device id a string", lambda: payload(device_id="1"), "wrong_type", "device_id", "1"),
    ("device id 0", lambda: payload(device_id=0), "out_of_bounds", "device_id", 0),
    ("device id a bool", lambda: payload(device_id=True), "wrong_type", "device_id", True),
    ("station a number", lambda: payload(station=5), "wrong_type", "station", 5),
    ("samples an object", lambda: payload(samples={}), "wrong_type", "samples", {}),
    ("a sample a list", lambda: payload(samples=[[]]), "wrong_type", "samples[]", []),
    (
        "a value a string",
        lambda: with_sample(time="2026-09-21T13:19:00Z", light="bright"),
        "wrong_type",
        "samples[].*",
        "bright",
    ),
    (
        "a value null",
        lambda: with_sample(time="2026-09-21T13:19:00Z", light=None),
        "wrong_type",
        "samples[].*",
        None,
    ),
    (
        "a time a number",
        lambda: with_sample(time=1_790_000_000),
        "not_a_time",
        "samples[].time",
        1_790_000_000,
    ),
    ("a time in words", lambda: with_sample(time="noon"), "not_a_time", "samples[].time", "noon"),
    ("health a list", lambda: payload(health=[]), "wrong_type", "health", []),
    (
        "wake_every a word",
        lambda: with_health(wake_every="soon"),
        "wrong_type",
        "health.wake_every",
        "soon",
    ),
    ("wake_every 0", lambda: with_health(wake_every=0), "out_of_bounds", "health.wake_every", 0),
    ("interval a word", lambda: with_health(interval="2m"), "wrong_type", "health.interval", "2m"),
    (
        "header field too wide",
        lambda: payload(header={**payload()["header"], "device_id": 256}),
        "out_of_bounds",
        "header.device_id",
        256,
    ),
    ("problems a string", lambda: payload(problems="none"), "wrong_type", "problems", "none"),
    ("out_of_range a dict", lambda: payload(out_of_range={}), "wrong_type", "out_of_range", {}),
    (
        "out_of_range without a value",
        lambda: payload(out_of_range=[{"time": "2026-09-21T13:19:00Z", "key": "light"}]),
        "missing",
        "out_of_range[].value",
        None,
    ),
    ("no device id", lambda: without("device_id"), "missing", "device_id", None),
    ("no station", lambda: without("station"), "missing", "station", None),
    ("no header", lambda: without("header"), "missing", "header", None),
    (
        "no header field",
        lambda: without("header", "wake_every_s"),
        "missing",
        "header.wake_every_s",
        None,
    ),
    ("no health", lambda: without("health"), "missing", "health", None),
    ("no last_seen", lambda: without("health", "last_seen"), "missing", "health.last_seen", None),
    (
        "no id_clashes",
        lambda: without("health", "id_clashes"),
        "missing",
        "health.id_clashes",
        None,
    ),
    ("no problems", lambda: without("problems"), "missing", "problems", None),
    ("no out_of_range", lambda: without("out_of_range"), "missing", "out_of_range", None),
    ("no samples", lambda: without("samples"), "missing", "samples", None),
    ("a sample without time", lambda: with_sample(light=3.0), "missing", "samples[].time", None),
    (
        "a sample in 1971",
        lambda: with_sample(time="1971-03-01T00:00:00.000Z", light=3.0),
        "too_old",
        "samples[].time",
        "1971-03-01T00:00:00.000Z",
    ),
    (
        "a sample in 2099",
        lambda: with_sample(time="2099-03-01T00:00:00.000Z", light=3.0),
        "after_last_seen",
        "samples[].time",
        "2099-03-01T00:00:00.000Z",
    ),
    (
        "a value out of range in 2099",
        lambda: payload(
            out_of_range=[{"time": "2099-03-01T00:00:00Z", "key": "light", "value": 1e9}]
        ),
        "after_last_seen",
        "out_of_range[].time",
        "2099-03-01T00:00:00Z",
    ),
    (
        "last_seen in 1971",
        lambda: with_health(last_seen="1971-03-01T00:00:00.000Z"),
        "too_old",
        "health.last_seen",
        "1971-03-01T00:00:00.000Z",
    ),
    (
        "last_seen in 2099",
        lambda: with_health(last_seen="2099-03-01T00:00:00.000Z"),
        "in_future",
        "health.last_seen",
        "2099-03-01T00:00:00.000Z",
    ),
    ("another station's", lambda: payload(device_id=2), "wrong_device", "device_id", 2),
]


@pytest.mark.parametrize(
    ("message", "reason", "field", "value"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_what_no_bridge_publishes_is_refused(
    message: Callable[[], Any], reason: str, field: str, value: Any
) -> None:
    """Test that each message is refused, naming the kind of problem, the field
    and the value that is wrong."""
    error = refused(message(), device_id=1)
    assert (error.reason, error.field, error.value) == (reason, field, value)
    path = field.replace("[]", f"[{error.index}]").replace("*", error.key or "*")
    assert str(error).startswith((f"{path} ", f"{path}: "))


def test_a_sample_just_after_last_seen_passes_and_a_second_later_is_refused() -> None:
    """Test the slack after ``last_seen``: rounding and a moved stamp pass, a sample
    more than :data:`LAST_SEEN_SLACK_MS` later does not; the error says which sample."""
    last_seen = round(ARRIVAL * 1000)
    slack = _text(last_seen + LAST_SEEN_SLACK_MS)
    message = decode_batch(orjson.dumps(with_sample(time=slack, light=1.0)), now=ARRIVAL)
    assert message.samples[-1].time_ms == last_seen + LAST_SEEN_SLACK_MS
    error = refused(with_sample(time=_text(last_seen + LAST_SEEN_SLACK_MS + 1), light=1.0))
    assert error.reason == "after_last_seen"
    assert error.index == 2
    assert str(error).startswith("samples[2].time ")


def test_the_oldest_sample_a_store_can_hold_passes() -> None:
    """Test the bound before ``last_seen``: :data:`MAX_SPAN_MS` passes, a millisecond
    more is refused, and a ``last_seen`` from before any station is refused."""
    last_seen = round(ARRIVAL * 1000)
    decode_batch(orjson.dumps(with_sample(time=_text(last_seen - MAX_SPAN_MS))), now=ARRIVAL)
    assert refused(with_sample(time=_text(last_seen - MAX_SPAN_MS - 1))).reason == "too_old"
    early = _text(EARLIEST_MS - 1)
    assert refused(with_health(last_seen=early)).reason == "too_old"


def test_last_seen_may_be_a_little_ahead_of_the_readers_clock() -> None:
    """Test that a bridge's clock ahead by up to :data:`CLOCK_SKEW_MS` passes, and
    further is refused."""
    data = orjson.dumps(payload())
    decode_batch(data, now=ARRIVAL - CLOCK_SKEW_MS / 1000)
    assert refused(data, now=ARRIVAL - CLOCK_SKEW_MS / 1000 - 0.001).reason == "in_future"


def test_oversized_messages_are_refused_before_they_are_parsed() -> None:
    """Test that bytes over :data:`MAX_MESSAGE_BYTES` are refused by their size alone
    (as bytes and as text, even when they are no JSON at all), and more samples than
    one packet holds by their count."""
    huge = b"x" * (MAX_MESSAGE_BYTES + 1)
    for data in (huge, huge.decode(), "é" * (MAX_MESSAGE_BYTES // 2 + 1)):
        error = refused(data)
        assert (error.reason, error.field, error.value) == (
            "too_large",
            "message size",
            len(data.encode() if isinstance(data, str) else data),
        )
    message = payload()
    sample = message["samples"][0]
    message["samples"] = [sample] * (MAX_SAMPLES + 1)
    assert len(orjson.dumps(message)) < MAX_MESSAGE_BYTES
    error = refused(message)
    assert (error.reason, error.field) == ("too_many", "samples")
    assert str(error) == f"samples {MAX_SAMPLES + 1}: one packet holds at most {MAX_SAMPLES}"
    message["samples"] = [sample] * MAX_SAMPLES
    assert len(decode_batch(orjson.dumps(message), now=ARRIVAL).samples) == MAX_SAMPLES


def test_a_newer_bridges_fields_are_ignored() -> None:
    """Test that fields the message has beyond this format's are ignored."""
    message = payload(firmware="2.0")
    message["health"]["battery"] = 3.1
    decode_batch(orjson.dumps(message), now=ARRIVAL)


def _text(time_ms: int) -> str:
    text = format_time(time_ms)
    assert parse_time(text) == time_ms
    return text


# --- which refusals are said -------------------------------------------------------


def test_one_warning_per_topic_and_problem() -> None:
    """Test that a problem on a topic is warned about once, then counted, and warned
    about again with the count :data:`REPEAT_WARNING_S` later; another problem, or
    another topic, has its own warning; the same fault in another sample or value
    is the same problem."""
    late = refused(with_sample(time="2099-03-01T00:00:00Z"))
    late_elsewhere = refused(
        payload(samples=[{"time": "2099-01-01T00:00:00Z"}, {"time": "2099-01-02T00:00:00Z"}])
    )
    assert late.problem == late_elsewhere.problem == "after_last_seen samples[].time"
    word = refused(with_sample(time="2026-09-21T13:19:00Z", light="bright"))
    other_word = refused(with_sample(time="2026-09-21T13:19:00Z", humidity_of_the_soil="wet"))
    assert word.problem == other_word.problem == "wrong_type samples[].*"
    broken = refused(b"{")
    refusals = Refusals()
    t = ARRIVAL
    assert refusals.refused("wx/1/batch", late, t) == 0
    assert refusals.refused("wx/1/batch", late_elsewhere, t + 1) is None
    assert refusals.refused("wx/2/batch", late, t + 2) == 0
    assert refusals.refused("wx/1/batch", broken, t + 3) == 0
    assert refusals.refused("wx/1/batch", late, t + 4) is None  # back to the first
    assert refusals.refused("wx/1/batch", broken, t + 5) is None
    assert refusals.refused("wx/1/batch", word, t + 6) == 0
    assert refusals.refused("wx/1/batch", other_word, t + 7) is None
    assert refusals.refused("wx/1/batch", late, t + REPEAT_WARNING_S) == 2
    assert refusals.refused("wx/1/batch", late, t + REPEAT_WARNING_S + 1) is None
    assert refusals.as_dict() == {
        "wx/1/batch": {
            "after_last_seen samples[].time": {"refused": 5, "warned": t + REPEAT_WARNING_S},
            "not_json message": {"refused": 2, "warned": t + 3},
            "wrong_type samples[].*": {"refused": 2, "warned": t + 6},
        },
        "wx/2/batch": {"after_last_seen samples[].time": {"refused": 1, "warned": t + 2}},
    }


def test_more_keys_than_one_station_has_are_refused() -> None:
    """Test that a sample with more values than one station's records and derived
    values hold, or samples with more keys among them, are refused (each key
    would be a sensor), naming the sample; a long key is shortened in the error."""
    message = payload()
    time = message["samples"][0]["time"]
    message["samples"] = [{"time": time, **{f"v{i}": 1.0 for i in range(MAX_KEYS + 1)}}]
    error = refused(message)
    assert (error.reason, error.field, error.index) == ("too_many", "samples[]", 0)
    message["samples"] = [{"time": time, f"v{i}": 1.0} for i in range(MAX_KEYS + 1)]
    error = refused(message)
    assert (error.reason, error.field, error.value) == (
        "too_many",
        "samples",
        f"{MAX_KEYS + 1} keys",
    )
    long_key = "k" * 1000
    error = refused(with_sample(time=time, **{long_key: "x"}))
    assert error.key == long_key
    assert len(str(error)) < 200
