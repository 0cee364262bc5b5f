"""The database's cap, ahead of time: how fast the database grows, when it
reaches its cap at that rate, and what gives way then.

Space is budgeted by what may never be lost. Raw packets (every byte a station
sent) and whatever a sink has not delivered yet are kept first; the decoded
history that every configured sink has delivered is what gives way, oldest
first, once the database is :data:`GIVE_WAY_AT` full (it can be decoded again
from the raw packets). Only when raw packets and undelivered data alone fill
the cap does the bridge stop accepting packets.

The growth rate comes from the database's own recent history: the bridge
writes down its size every :data:`READING_EVERY` seconds, and the rate is the
growth over the last :data:`GROWTH_WINDOW` of those readings. Pure code: the
readings and "now" go in, the projection comes out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from wxstation.samples import format_time

__all__ = [
    "AT_CAP",
    "GIVE_WAY_AT",
    "GIVE_WAY_TO",
    "GROWTH_WINDOW",
    "MIN_GROWTH_SPAN",
    "READING_EVERY",
    "WARN_DAYS",
    "Projection",
    "Reading",
    "project",
]

DAY = 86400.0
#: Share of the cap from which delivered history gives way: below the cap by
#: more than the write-ahead log (at most 1/16 of the cap) and a few seconds
#: of packets take, so the cap itself is never reached while there is history
#: to remove.
GIVE_WAY_AT = 0.95
#: Share of the cap that removing history goes down to: each pass frees a
#: twentieth of the cap, so it runs seldom, not with every packet.
GIVE_WAY_TO = 0.90
#: Share of the cap from which a database whose history has given way before
#: is at its cap: each removal leaves it at about :data:`GIVE_WAY_TO` less its
#: write-ahead log.
AT_CAP = 0.85
#: Days ahead of the cap that the log, ``status`` and Home Assistant warn.
WARN_DAYS = 30.0
#: Seconds between two readings of the database's size.
READING_EVERY = 3600.0
#: Seconds of readings the growth rate is measured over (older ones are dropped).
GROWTH_WINDOW = 7 * DAY
#: Seconds of readings needed before there is a rate at all: less than a day
#: says more about the time of day than about the fleet.
MIN_GROWTH_SPAN = DAY


@dataclass(frozen=True, slots=True)
class Reading:
    """The database's size (bytes of its pages in use) at a moment (unix seconds)."""

    at: float
    used: int


@dataclass(frozen=True, slots=True)
class Projection:
    """Where the database stands against its cap, and where it is heading."""

    now: float
    #: Bytes the database takes, and its cap (``storage.max_size_mb``).
    used: int
    cap: int
    #: Bytes a day it grew over the readings, or None before a day of them.
    per_day: float | None
    #: Days until delivered history starts giving way at that rate: 0 when it
    #: already does, None when the database does not grow (or it is not known).
    days_left: float | None
    #: When the oldest decoded history still kept was taken (epoch ms), if any.
    oldest_history_ms: int | None = None

    @property
    def at_cap(self) -> bool:
        """Whether delivered history gives way already."""
        return self.days_left == 0

    @property
    def reaches_cap(self) -> str | None:
        """The day (UTC, ``YYYY-MM-DD``) history starts giving way at this rate, if it will."""
        if not self.days_left:
            return None
        return time.strftime("%Y-%m-%d", time.gmtime(self.now + self.days_left * DAY))

    @property
    def warn(self) -> bool:
        """Whether history gives way within :data:`WARN_DAYS` at this rate (or already does)."""
        return self.days_left is not None and self.days_left <= WARN_DAYS

    def summary(self) -> str:
        """One line for ``status``: the size, the rate, the days left."""
        line = f"{self.used / 1e6:.1f} MB of its {self.cap / 1e6:.0f} MB cap"
        if self.per_day is not None:
            growing = self.per_day > 0
            line += f", growing {self.per_day / 1e6:.2f} MB a day" if growing else ", not growing"
        if self.at_cap:
            return line + "; at its cap: delivered decoded history gives way, oldest first"
        if self.per_day is None:
            return line + "; the growth rate is known after a day of running"
        if self.days_left is None:
            return line
        return line + f"; reaches its cap in {self.days_left:.0f} days ({self.reaches_cap})"

    def warning(self) -> str | None:
        """What the log says when :attr:`warn`: the projection and what will give way."""
        if not self.warn:
            return None
        if self.at_cap:
            head = (
                f"the database is at its cap ({self.used / 1e6:.0f} MB of "
                f"{self.cap / 1e6:.0f} MB, storage.max_size_mb): "
            )
        else:
            assert self.per_day is not None
            assert self.days_left is not None
            head = (
                f"the database ({self.used / 1e6:.0f} MB) grew {self.per_day / 1e6:.1f} MB a day "
                f"over the last {self._window_days()}; at this rate it reaches its cap "
                f"({self.cap / 1e6:.0f} MB, storage.max_size_mb) in {self.days_left:.0f} days "
                f"({self.reaches_cap}). Then "
            )
        oldest = (
            f" (it now reaches back to {format_time(self.oldest_history_ms)[:10]})"
            if self.oldest_history_ms is not None
            else ""
        )
        return (
            head + "the decoded history that every sink has delivered gives way, oldest "
            f"first{oldest}; raw packets and undelivered samples are kept, and "
            "'wxstation-bridge reprocess --removed' decodes removed history again. "
            "To keep more, raise storage.max_size_mb"
        )

    def _window_days(self) -> str:
        return f"{GROWTH_WINDOW / DAY:.0f} days"


def growth_per_day(readings: Sequence[Reading], now: float) -> float | None:
    """Bytes a day the database grew from the oldest reading of the last
    :data:`GROWTH_WINDOW` to the newest; None with less than
    :data:`MIN_GROWTH_SPAN` between them."""
    recent = sorted((r for r in readings if now - GROWTH_WINDOW <= r.at <= now), key=lambda r: r.at)
    if len(recent) < 2:
        return None
    first, last = recent[0], recent[-1]
    span = last.at - first.at
    if span < MIN_GROWTH_SPAN:
        return None
    return (last.used - first.used) / span * DAY


def project(
    readings: Sequence[Reading],
    *,
    used: int,
    cap: int,
    now: float,
    removing: bool = False,
    oldest_history_ms: int | None = None,
) -> Projection:
    """Where the database of ``used`` bytes stands against its ``cap`` at ``now``.

    ``removing`` says that delivered history has given way before: the
    database is then at its cap from :data:`AT_CAP` on.
    """
    per_day = growth_per_day(readings, now)
    limit = int(cap * GIVE_WAY_AT)
    if used >= limit or (removing and used >= cap * AT_CAP):
        days_left: float | None = 0.0
    elif per_day is None or per_day <= 0:
        days_left = None
    else:
        days_left = (limit - used) / per_day
    return Projection(now, used, cap, per_day, days_left, oldest_history_ms)
