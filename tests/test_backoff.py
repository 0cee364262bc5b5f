"""The retry policy shared by the MQTT connection and the runtime's sink drivers."""

from __future__ import annotations

import pytest

from bridge.backoff import Backoff


def test_waits_double_up_to_the_most_and_reset_starts_again() -> None:
    """Test that each step doubles the wait up to its ceiling, and reset starts over."""
    backoff = Backoff(0.5, 3.0, jitter=0.2)
    assert [backoff.step() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.step() == 0.5


def test_jitter_stays_within_its_fraction() -> None:
    """Test that a jittered wait is never more than the jitter away from the wait."""
    backoff = Backoff(1.0, 60.0, jitter=0.1)
    waits = [backoff.jittered(10.0) for _ in range(1000)]
    assert all(9.0 <= wait <= 11.0 for wait in waits)
    assert len(set(waits)) > 1


@pytest.mark.parametrize(
    ("first", "most", "jitter"), [(0.0, 1.0, 0.1), (2.0, 1.0, 0.1), (1.0, 2.0, 1.0)]
)
def test_impossible_settings_are_refused(first: float, most: float, jitter: float) -> None:
    """Test that a backoff that could never wait, or wait less than nothing, is refused."""
    with pytest.raises(ValueError, match="backoff"):
        Backoff(first, most, jitter)
