"""When a station counts as gone: one rule for the bridge and the Home Assistant integration.

A station is **unavailable once it has missed** :data:`MISSED_WAKE_UPS` **wake-ups
in a row**. Why two:

- One missed wake-up is ordinary and loses nothing. The WiFi or the router was
  down for a moment, the ESP could not connect within its timeout, or the
  bridge was restarting; the station keeps its samples and sends them with the
  next packet an interval later. Showing every such hour as "unavailable" would
  teach users to ignore it.
- Two in a row are not ordinary: the batteries are flat, the station lost its
  network for good, or it was reset. That is what a user wants to see, and with
  the firmware's hour it shows after a little over two hours.

A wake-up counts as missed once its packet is more than
:data:`~bridge.timing.CALIBRATION_WINDOW` of an interval late: the tolerance the
timing rule already uses to tell one wake-up from the next (the station's
watchdog clock runs a few percent off, and the ESP takes seconds to boot and
connect). So a station turns unavailable
``(MISSED_WAKE_UPS + CALIBRATION_WINDOW) * wake_every_s`` seconds after its
newest packet arrived: 8400 s with the firmware's 3600 s.

Pure code: the caller says what time it is, so the bridge and the integration
judge the same packet the same way, and tests fix "now".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bridge.timing import CALIBRATION_WINDOW

__all__ = ["MISSED_WAKE_UPS", "LastPacket", "is_available", "missed_wake_ups", "unavailable_at"]

#: Wake-ups in a row a station may miss before it counts as gone (see above).
MISSED_WAKE_UPS = 2


def _missed_at(arrival: float, wake_every_s: int, wake_ups: int) -> float:
    """When the station has missed ``wake_ups`` wake-ups in a row."""
    return arrival + (wake_ups + CALIBRATION_WINDOW) * wake_every_s


def unavailable_at(arrival: float, wake_every_s: int) -> float:
    """When a station whose newest packet arrived at ``arrival`` turns unavailable.

    Times are unix seconds; ``wake_every_s`` is the interval that packet's header gave.
    """
    return _missed_at(arrival, wake_every_s, MISSED_WAKE_UPS)


def missed_wake_ups(arrival: float, wake_every_s: int, now: float) -> int:
    """How many wake-ups in a row a station has missed at ``now`` (see above)."""
    if wake_every_s <= 0:
        return 0
    missed = max(0, math.floor((now - arrival) / wake_every_s - CALIBRATION_WINDOW))
    # Settled on the moments themselves, so that rounding never makes the count
    # and is_available disagree at a deadline.
    while missed > 0 and now < _missed_at(arrival, wake_every_s, missed):
        missed -= 1
    while now >= _missed_at(arrival, wake_every_s, missed + 1):
        missed += 1
    return missed


def is_available(arrival: float, wake_every_s: int, now: float) -> bool:
    """Whether a station whose newest packet arrived at ``arrival`` is available at ``now``."""
    return now < unavailable_at(arrival, wake_every_s)


@dataclass(frozen=True, slots=True)
class LastPacket:
    """What the rule needs to know of a station's newest packet."""

    #: When it arrived, unix seconds.
    arrival: float
    #: The station's wake interval, from the packet's header.
    wake_every_s: int

    def available(self, now: float) -> bool:
        return is_available(self.arrival, self.wake_every_s, now)

    def missed(self, now: float) -> int:
        return missed_wake_ups(self.arrival, self.wake_every_s, now)

    @property
    def unavailable_at(self) -> float:
        return unavailable_at(self.arrival, self.wake_every_s)
