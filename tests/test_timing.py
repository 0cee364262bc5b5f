"""Timing: the vectors, restarts, and resends checked against the simulator's truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.sim import SimStation
from tests.support.vectors import load_vectors
from wxstation.parsers import ReferenceParser
from wxstation.protocol import HEADER_SIZE
from wxstation.timing import StationClock, Timed, stamp_packet

SEQUENCES = load_vectors("timing.json")
PARSER = ReferenceParser()


def stamp(clock: StationClock, data: bytes, arrival: float) -> Timed:
    decoded = PARSER.decode(data)
    return stamp_packet(
        clock,
        arrival=arrival,
        wake_every_s=decoded.header.wake_every_s,
        measure_every_s=decoded.header.measure_every_s,
        records=decoded.records,
        announced=decoded.announced,
        store_records=PARSER.store_records,
    )


@pytest.mark.parametrize("sequence", SEQUENCES, ids=[s["name"] for s in SEQUENCES])
def test_timing_vector(sequence: dict[str, Any]) -> None:
    """Test that every packet of every sequence gets its stamps to 1 ms."""
    clock = StationClock()
    for packet in sequence["packets"]:
        timed = stamp(clock, bytes.fromhex(packet["hex"]), packet["arrival"])
        assert timed.stamps == pytest.approx(packet["stamps"], abs=1e-3)
        clock = timed.clock


@pytest.mark.parametrize("sequence", SEQUENCES, ids=[s["name"] for s in SEQUENCES])
def test_clock_survives_a_restart(sequence: dict[str, Any]) -> None:
    """Test that a clock saved as JSON and read back stamps the same as one kept in memory."""
    clock = StationClock()
    for packet in sequence["packets"]:
        clock = StationClock.from_json(clock.to_json())
        timed = stamp(clock, bytes.fromhex(packet["hex"]), packet["arrival"])
        assert timed.stamps == pytest.approx(packet["stamps"], abs=1e-3)
        clock = timed.clock


def test_replay_gives_identical_stamps() -> None:
    """Test that stamping the same packets again from the same clock repeats every stamp exactly."""
    packets = SEQUENCES[0]["packets"]
    runs = []
    for _ in range(2):
        clock, stamps = StationClock(), []
        for packet in packets:
            timed = stamp(clock, bytes.fromhex(packet["hex"]), packet["arrival"])
            stamps.extend(timed.stamps)
            clock = timed.clock
        runs.append(stamps)
    assert runs[0] == runs[1]


def test_calibration_kept_across_a_missed_wake_up() -> None:
    """Test that a missed wake-up uses the learnt clock factor, not the nominal spacing."""
    station = SimStation(1, PARSER, 1_790_000_000.0, clock_factor=1.02)
    clock = StationClock()
    for _ in range(3):
        wake = station.wake()
        station.delivered()
        clock = stamp(clock, wake.packet, wake.arrival).clock
    station.skip(1)  # the ESP could not send: the next packet holds two hours, 58 kept
    wake = station.wake()
    timed = stamp(clock, wake.packet, wake.arrival)
    assert not timed.calibrated
    assert timed.spacing == pytest.approx(120 * 1.02, rel=2e-3)
    assert timed.stamps[0] == pytest.approx(wake.taken[0], abs=5)


# --- resends ------------------------------------------------------------------------

#: What can happen to one wake-up's packet, as docs/protocol.md describes.
OUTCOMES = (
    "delivered",  # all bytes arrive, the ATtiny empties its store
    "unreachable",  # the ESP cannot connect: the bridge sees nothing, the store is kept
    "cut_kept",  # the connection drops mid-write and the ESP sees it: store kept
    "cut_lost",  # the connection drops but the ESP's write was accepted: store emptied
    "unconfirmed",  # all bytes arrive but the ATtiny hears no confirmation: store kept
)


@dataclass
class Ledger:
    """What the bridge stored, against what the station really took."""

    clock: StationClock = field(default_factory=StationClock)
    #: True time of each stored sample -> the stamp the bridge gave it.
    stored: dict[float, float] = field(default_factory=dict)
    received: set[float] = field(default_factory=set)
    calibrated: bool = False

    def receive(self, data: bytes, taken: tuple[float, ...], arrival: float) -> tuple[float, ...]:
        timed = stamp(self.clock, data, arrival)
        self.clock = timed.clock
        self.calibrated |= timed.calibrated
        errors = []
        for index, when in enumerate(timed.stamps):
            truth = taken[index]
            self.received.add(truth)
            if when is None:
                continue
            assert truth not in self.stored, "a sample was stored twice"
            self.stored[truth] = when
            errors.append(abs(when - truth))
        return tuple(errors)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    factor=st.floats(0.96, 1.04),
    start=st.floats(1.7e9, 1.9e9),
    script=st.lists(
        st.tuples(st.sampled_from(OUTCOMES), st.floats(0.0, 1.0)), min_size=1, max_size=10
    ),
)
def test_resends_store_every_sample_once_at_its_own_time(
    factor: float, start: float, script: list[tuple[str, float]]
) -> None:
    """Test that whatever happens to the connections, every sample that arrived is
    stored exactly once, and its stamp stays close to when it was really taken."""
    station = SimStation(1, PARSER, start, clock_factor=factor)
    ledger = Ledger()
    # One clean hour first, as every installed station has: it calibrates the clock.
    for outcome, where in [("delivered", 0.0), ("delivered", 0.0), *script]:
        wake = station.wake()
        data, taken = wake.packet, wake.taken
        if outcome.startswith("cut"):
            records = len(taken)
            keep = HEADER_SIZE + int(where * records * PARSER.record_size)
            data = data[:keep]
        if outcome != "unreachable":
            errors = ledger.receive(data, taken, wake.arrival)
            # The newest sample is taken up to 3 s before arrival (ESP boot and WiFi).
            # Before the first calibration the spacing is nominal, off by the clock
            # error; once calibrated it is right to a few hundredths of a second per
            # sample, so no stamp strays further than a few seconds.
            bound = 8.0 if ledger.calibrated else 3.0 + abs(1 - factor) * 3600 * 1.1
            assert max(errors, default=0.0) < bound, (outcome, errors)
        if outcome in ("delivered", "cut_lost"):
            station.delivered()
    assert set(ledger.stored) == ledger.received, "a received sample was not stored"


def test_cut_packet_then_resend_with_dropped_records() -> None:
    """Test the full-store case: a cut packet of 50, then a resend whose oldest records fell out."""
    station = SimStation(1, PARSER, 1_790_000_000.0, clock_factor=1.01)
    ledger = Ledger()
    for _ in range(2):
        wake = station.wake()
        ledger.receive(wake.packet, wake.taken, wake.arrival)
        station.delivered()
    station.skip(1)  # 58 records now wait in the store (60 taken, 2 dropped)
    wake = station.wake()  # this one is cut after 20 records, and the ESP keeps them
    ledger.receive(wake.packet[: HEADER_SIZE + 20 * 6], wake.taken, wake.arrival)
    resend = station.wake()  # 58 again: 28 old ones (30 dropped) and 30 new
    errors = ledger.receive(resend.packet, resend.taken, resend.arrival)
    assert set(ledger.stored) == ledger.received
    assert len(ledger.stored) == 30 + 30 + 20 + 58
    assert max(errors) < 8.0


def test_the_same_packet_twice_within_a_second_is_stamped_once() -> None:
    """Test that the same bytes arriving twice, 0.4 s apart, give samples once, in
    whichever order the two connections are stamped."""
    station = SimStation(1, PARSER, 1_790_000_000.0, clock_factor=1.01)
    first = station.wake()
    station.delivered()
    wake = station.wake()
    before = stamp(StationClock(), first.packet, first.arrival).clock
    early, late = wake.arrival, wake.arrival + 0.4

    in_order = stamp(before, wake.packet, early)
    again = stamp(in_order.clock, wake.packet, late)
    assert None not in in_order.stamps
    assert again.stamps == (None,) * 30
    assert again.resent == 30

    # The later connection committed first: its copy is stamped, the earlier one
    # is then the same packet and the station's clock stays as the later one left it.
    swapped = stamp(before, wake.packet, late)
    after = stamp(swapped.clock, wake.packet, early)
    assert None not in swapped.stamps
    assert after.stamps == (None,) * 30
    assert after.clock is swapped.clock


def test_a_late_packet_with_other_records_is_stamped_from_its_own_arrival() -> None:
    """Test that a packet older than the station's newest, with other records (a kept
    packet decoded later), gets evenly spaced stamps from its arrival with the learnt
    clock factor, and leaves the clock alone."""
    station = SimStation(1, PARSER, 1_790_000_000.0, clock_factor=1.01)
    clock = StationClock()
    wakes = []
    for _ in range(3):
        wakes.append(station.wake())
        station.delivered()
    for wake in wakes[1:]:
        clock = stamp(clock, wake.packet, wake.arrival).clock
    timed = stamp(clock, wakes[0].packet, wakes[0].arrival)
    spacing = 120 * clock.clock_factor
    assert clock.clock_factor != 1.0
    assert timed.stamps == pytest.approx(
        [wakes[0].arrival - (29 - j) * spacing for j in range(30)], abs=1e-6
    )
    assert timed.clock is clock
