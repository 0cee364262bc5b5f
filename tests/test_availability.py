"""The availability rule on its own: when a station that went quiet counts as gone."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.availability import (
    MISSED_WAKE_UPS,
    LastPacket,
    is_available,
    missed_wake_ups,
    unavailable_at,
)
from bridge.timing import CALIBRATION_WINDOW

ARRIVAL = 1_790_000_000.0


def test_two_missed_wake_ups_and_a_third_of_an_interval() -> None:
    """Test the deadline with the firmware's hour: 2 h 20 min after the newest packet."""
    assert MISSED_WAKE_UPS == 2
    assert unavailable_at(ARRIVAL, 3600) == pytest.approx(ARRIVAL + 2 * 3600 + 1200)
    assert unavailable_at(ARRIVAL, 600) == pytest.approx(ARRIVAL + 2 * 600 + 200)


@pytest.mark.parametrize("wake_every_s", [10, 600, 3600, 65535])
def test_one_missed_wake_up_is_not_enough(wake_every_s: int) -> None:
    """Test that a station whose next packet is one wake-up late, on a slow clock, stays."""
    # One wake-up missed, the second one on a watchdog 10 % slow.
    second = ARRIVAL + 2 * wake_every_s * 1.10
    assert is_available(ARRIVAL, wake_every_s, second)
    # The second missed too, by more than the timing rule's window.
    late = ARRIVAL + (2 + CALIBRATION_WINDOW) * wake_every_s
    assert not is_available(ARRIVAL, wake_every_s, late)
    assert is_available(ARRIVAL, wake_every_s, late - 0.5)


def test_last_packet_applies_the_same_rule() -> None:
    packet = LastPacket(ARRIVAL, 3600)
    assert packet.unavailable_at == unavailable_at(ARRIVAL, 3600)
    assert packet.available(packet.unavailable_at - 1)
    assert not packet.available(packet.unavailable_at)
    # A packet from the future (a clock set back) keeps the station available.
    assert packet.available(ARRIVAL - 60)


@given(
    wake_every_s=st.integers(min_value=1, max_value=65535),
    elapsed=st.floats(min_value=0, max_value=10**7, allow_nan=False),
)
def test_missed_wake_ups_say_the_same_as_availability(wake_every_s: int, elapsed: float) -> None:
    """Test that a station is unavailable exactly when it has missed
    MISSED_WAKE_UPS wake-ups (each counted once it is a third of an interval late)."""
    now = ARRIVAL + elapsed
    missed = missed_wake_ups(ARRIVAL, wake_every_s, now)
    assert (missed >= MISSED_WAKE_UPS) == (not is_available(ARRIVAL, wake_every_s, now))


def test_missed_wake_ups_counts_each_late_wake_up() -> None:
    """Test the count with the firmware's hour: none until 1 h 20 min, then one per hour."""
    assert missed_wake_ups(ARRIVAL, 3600, ARRIVAL + 4799) == 0
    assert missed_wake_ups(ARRIVAL, 3600, ARRIVAL + 4801) == 1
    assert missed_wake_ups(ARRIVAL, 3600, ARRIVAL + 8401) == 2
    assert missed_wake_ups(ARRIVAL, 3600, ARRIVAL + 3 * 86400) == 71
    assert LastPacket(ARRIVAL, 3600).missed(ARRIVAL + 8401) == 2


@given(wake_every_s=st.integers(min_value=1, max_value=65535))
def test_missed_wake_ups_and_availability_agree_at_the_deadline(wake_every_s: int) -> None:
    """Test that at the very moment a station turns unavailable, and just before,
    the count of missed wake-ups says the same."""
    deadline = unavailable_at(ARRIVAL, wake_every_s)
    for now in (math.nextafter(deadline, 0), deadline, math.nextafter(deadline, math.inf)):
        missed = missed_wake_ups(ARRIVAL, wake_every_s, now)
        assert (missed >= MISSED_WAKE_UPS) == (not is_available(ARRIVAL, wake_every_s, now))
