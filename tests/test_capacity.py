"""The growth projection against the database's cap: pure, at a fixed "now"."""

from __future__ import annotations

from datetime import UTC, datetime

from wxstation.capacity import (
    AT_CAP,
    GIVE_WAY_AT,
    READING_EVERY,
    WARN_DAYS,
    Reading,
    growth_per_day,
    project,
)

DAY = 86400.0
MB = 1_000_000
#: 2027-03-01T12:00:00Z: "now" in every test here.
NOW = datetime(2027, 3, 1, 12, tzinfo=UTC).timestamp()
CAP = 1000 * MB


def hourly(days: float, start_mb: float, mb_per_day: float) -> list[Reading]:
    """Readings every hour for ``days`` up to NOW, growing steadily."""
    count = int(days * DAY / READING_EVERY)
    return [
        Reading(
            NOW - (count - i) * READING_EVERY,
            round((start_mb + mb_per_day * i * READING_EVERY / DAY) * MB),
        )
        for i in range(count + 1)
    ]


def test_growth_is_measured_over_the_last_week_of_readings() -> None:
    """Test that the rate is the growth from the oldest reading of the window
    to the newest, per day, and that readings older than the window count not."""
    # Ten days: the first three grew 50 MB a day, the last seven 4 MB a day.
    early = hourly(10, 100, 50)[: 3 * 24]
    late = [Reading(r.at, r.used + early[-1].used - 100 * MB + 4 * MB) for r in hourly(7, 100, 4)]
    rate = growth_per_day([*early, *late], NOW)
    assert rate is not None
    assert abs(rate - 4 * MB) < 0.01 * MB


def test_no_rate_before_a_day_of_readings() -> None:
    """Test that less than a day of readings gives no rate, and no warning,
    however fast the database grows meanwhile."""
    readings = hourly(0.9, 100, 500)
    assert growth_per_day(readings, NOW) is None
    projection = project(readings, used=readings[-1].used, cap=CAP, now=NOW)
    assert projection.days_left is None
    assert not projection.warn
    assert projection.warning() is None
    assert "known after a day" in projection.summary()


def test_days_until_history_gives_way() -> None:
    """Test the days left: from the size now to the share of the cap where
    delivered history gives way, at the measured rate, and the date it says."""
    readings = hourly(7, 500, 10)
    used = readings[-1].used  # 570 MB
    projection = project(readings, used=used, cap=CAP, now=NOW)
    assert projection.per_day is not None
    assert abs(projection.per_day - 10 * MB) < 0.01 * MB
    expected = (CAP * GIVE_WAY_AT - used) / (10 * MB)  # 38 days
    assert projection.days_left is not None
    assert abs(projection.days_left - expected) < 0.01
    assert not projection.warn
    assert projection.summary().endswith("reaches its cap in 38 days (2027-04-08)")


def test_warning_within_thirty_days_says_what_gives_way() -> None:
    """Test that the warning comes when history gives way within 30 days, with
    the rate, the days, the date, and what gives way and what is kept."""
    readings = hourly(7, 650, 10)
    projection = project(
        readings,
        used=readings[-1].used,
        cap=CAP,
        now=NOW,
        oldest_history_ms=round(datetime(2025, 6, 1, tzinfo=UTC).timestamp() * 1000),
    )
    assert projection.days_left is not None
    assert projection.days_left <= WARN_DAYS
    assert projection.warn
    warning = projection.warning()
    assert warning is not None
    for words in (
        "grew 10.0 MB a day over the last 7 days",
        "reaches its cap (1000 MB, storage.max_size_mb) in 23 days (2027-03-24)",
        "delivered gives way, oldest first (it now reaches back to 2025-06-01)",
        "raw packets and undelivered samples are kept",
        "reprocess --removed",
    ):
        assert words in warning


def test_a_database_that_does_not_grow_is_never_projected_to_fill() -> None:
    """Test that a flat or shrinking database (retention keeps it steady) has no
    days left and no warning, even close to its cap."""
    for rate in (0, -3):
        readings = hourly(7, 900, rate)
        projection = project(readings, used=readings[-1].used, cap=CAP, now=NOW)
        assert projection.days_left is None
        assert not projection.warn


def test_at_the_cap_while_history_gives_way() -> None:
    """Test that the database is at its cap at the give-way share, and, once
    history has given way, from the share each removal goes down to."""
    readings = hourly(7, 900, 1)
    at_share = project(readings, used=int(CAP * GIVE_WAY_AT), cap=CAP, now=NOW)
    assert at_share.days_left == 0
    assert at_share.warn
    between = project(readings, used=int(CAP * AT_CAP), cap=CAP, now=NOW, removing=True)
    assert between.days_left == 0
    warning = between.warning()
    assert warning is not None
    assert warning.startswith("the database is at its cap (850 MB of 1000 MB")
    assert "at its cap: delivered decoded history gives way" in between.summary()
    # Retention set since keeps the database below: no longer at its cap.
    below = project(readings, used=int(CAP * AT_CAP) - MB, cap=CAP, now=NOW, removing=True)
    assert below.days_left != 0
