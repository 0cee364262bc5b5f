"""The availability rule on its own: when a station that went quiet counts as gone, and
the tracker that applies it to many stations over time."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wxstation.availability import (
    MISSED_WAKE_UPS,
    AvailabilityChange,
    AvailabilityTracker,
    LastPacket,
    is_available,
    missed_wake_ups,
    unavailable_at,
)
from wxstation.timing import CALIBRATION_WINDOW

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


# --- the tracker: the rule over many stations and over time ---------------------------


def test_the_tracker_says_each_change_at_the_rules_moment() -> None:
    """Test a station heard once: online at once, nothing until its deadline, offline at
    the deadline to the second, then nothing more; the next check is that deadline."""
    tracker = AvailabilityTracker()
    tracker.hear(1, LastPacket(ARRIVAL, 600))
    deadline = unavailable_at(ARRIVAL, 600)

    assert tracker.changes([1], ARRIVAL) == [
        AvailabilityChange(1, True, None, LastPacket(ARRIVAL, 600))
    ]
    assert tracker.said(1) is True
    assert tracker.next_check(ARRIVAL) == deadline
    assert tracker.changes([1], math.nextafter(deadline, 0)) == []
    assert tracker.changes([1], deadline) == [
        AvailabilityChange(1, False, True, LastPacket(ARRIVAL, 600))
    ]
    assert tracker.said(1) is False
    assert tracker.next_check(deadline) is None
    assert tracker.changes([1], deadline + 86400) == []


def test_the_tracker_follows_the_newest_packet() -> None:
    """Test that a newer packet brings a station back and moves its deadline, and an
    older one (a packet decoded late) changes nothing."""
    tracker = AvailabilityTracker()
    tracker.hear(1, LastPacket(ARRIVAL, 600))
    later = unavailable_at(ARRIVAL, 600) + 60
    tracker.changes([1], ARRIVAL)
    assert [c.available for c in tracker.changes([1], later)] == [False]

    tracker.hear(1, LastPacket(later, 3600))
    tracker.hear(1, LastPacket(ARRIVAL + 60, 600))
    assert tracker.last_packet(1) == LastPacket(later, 3600)
    assert tracker.changes([1], later) == [
        AvailabilityChange(1, True, False, LastPacket(later, 3600))
    ]
    assert tracker.next_check(later) == unavailable_at(later, 3600)


def test_a_station_never_heard_from_is_unavailable() -> None:
    """Test that a station with no packet is said unavailable once, is not live, and
    has no deadline."""
    tracker = AvailabilityTracker()
    assert tracker.said(7) is None
    assert tracker.changes([7], ARRIVAL) == [AvailabilityChange(7, False, None, None)]
    assert tracker.changes([7], ARRIVAL + 10**6) == []
    assert tracker.live(ARRIVAL) == set()
    assert tracker.next_check(ARRIVAL) is None


def test_the_tracker_after_a_restart() -> None:
    """Test a tracker built again from the newest packets and what the audience holds
    (a broker's retained availability): a station that went while nothing ran is said
    offline, one still in time is not said again, one the audience lacks gets its
    first word."""
    tracker = AvailabilityTracker()
    went = LastPacket(ARRIVAL - 3 * 3600, 3600)
    stays = LastPacket(ARRIVAL - 600, 3600)
    new = LastPacket(ARRIVAL - 60, 600)
    for device, packet in ((1, went), (2, stays), (3, new)):
        tracker.hear(device, packet)
    tracker.assume({1: True, 2: True, 9: False})

    assert tracker.live(ARRIVAL) == {2, 3}
    assert tracker.changes([1, 2, 3], ARRIVAL) == [
        AvailabilityChange(1, False, True, went),
        AvailabilityChange(3, True, None, new),
    ]
    assert tracker.said(9) is False
    assert tracker.next_check(ARRIVAL) == min(stays.unavailable_at, new.unavailable_at)


def test_a_word_taken_back_is_said_again() -> None:
    """Test that a change the audience may not have received is a change at the next
    look, and that a deadline already past is not a next check (it waits for that look)."""
    tracker = AvailabilityTracker()
    tracker.hear(1, LastPacket(ARRIVAL, 600))
    tracker.changes([1], ARRIVAL)
    tracker.unsay([1])
    assert tracker.said(1) is None
    assert tracker.changes([1], ARRIVAL + 1) == [
        AvailabilityChange(1, True, None, LastPacket(ARRIVAL, 600))
    ]
    deadline = unavailable_at(ARRIVAL, 600)
    assert tracker.next_check(deadline + 1) is None


def test_another_judges_word_and_forgetting() -> None:
    """Test that a word taken from elsewhere (a bridge followed) is recorded once, and that
    a station forgotten is new again."""
    tracker = AvailabilityTracker()
    tracker.hear(1, LastPacket(ARRIVAL, 600))
    assert tracker.take_word(1, False) == AvailabilityChange(
        1, False, None, LastPacket(ARRIVAL, 600)
    )
    assert tracker.take_word(1, False) is None
    assert tracker.take_word(1, True) == AvailabilityChange(
        1, True, False, LastPacket(ARRIVAL, 600)
    )
    tracker.forget(1)
    assert tracker.said(1) is None
    assert tracker.last_packet(1) is None
    assert tracker.changes([1], ARRIVAL) == [AvailabilityChange(1, False, None, None)]
