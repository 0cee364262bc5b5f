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
:data:`~wxstation.timing.CALIBRATION_WINDOW` of an interval late: the tolerance the
timing rule already uses to tell one wake-up from the next (the station's
watchdog clock runs a few percent off, and the ESP takes seconds to boot and
connect). So a station turns unavailable
``(MISSED_WAKE_UPS + CALIBRATION_WINDOW) * wake_every_s`` seconds after its
newest packet arrived: 8400 s with the firmware's 3600 s.

Pure code: the caller says what time it is, so the bridge and the integration
judge the same packet the same way, and tests fix "now".

:class:`AvailabilityTracker` applies the rule to many stations over time: it
keeps each station's newest packet and the availability last said of it, and
says which stations changed at a given moment and when the next one is due. The
bridge's MQTT sink says it on the broker, the integration shows it; both run
their own timer and ask the tracker.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from wxstation.timing import CALIBRATION_WINDOW

__all__ = [
    "MISSED_WAKE_UPS",
    "AvailabilityChange",
    "AvailabilityTracker",
    "LastPacket",
    "is_available",
    "missed_wake_ups",
    "unavailable_at",
]

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


@dataclass(frozen=True, slots=True)
class AvailabilityChange:
    """A station whose availability is not what was last said of it."""

    device_id: int
    available: bool
    #: What was said of it before; None when nothing was (its first word).
    before: bool | None
    #: Its newest packet; None for a station never heard from.
    last_packet: LastPacket | None


class AvailabilityTracker:
    """Each station's newest packet and the availability last said of it.

    "Said" is what the audience holds: what the broker retains, what Home
    Assistant shows. :meth:`changes` applies the rule and records the new word;
    a caller whose word may not have arrived takes it back (:meth:`unsay`), so
    that the next look says it again. A station never heard from counts as
    unavailable.
    """

    def __init__(self) -> None:
        self._heard: dict[int, LastPacket] = {}
        self._said: dict[int, bool] = {}

    def hear(self, device_id: int, packet: LastPacket) -> None:
        """Learn of a packet; an older one than the newest known changes nothing."""
        heard = self._heard.get(device_id)
        if heard is None or packet.arrival >= heard.arrival:
            self._heard[device_id] = packet

    def last_packet(self, device_id: int) -> LastPacket | None:
        """The station's newest packet, None if it was never heard from."""
        return self._heard.get(device_id)

    def live(self, now: float) -> set[int]:
        """The stations the rule says are available at ``now``."""
        return {device for device, heard in self._heard.items() if heard.available(now)}

    def said(self, device_id: int) -> bool | None:
        """The availability last said of the station; None if nothing was."""
        return self._said.get(device_id)

    def changes(self, device_ids: Iterable[int], now: float) -> list[AvailabilityChange]:
        """The stations of ``device_ids`` whose availability at ``now`` is not what
        was last said of them, by device id; from now on it is what is said."""
        found = []
        for device in sorted(device_ids):
            heard = self._heard.get(device)
            available = heard is not None and heard.available(now)
            before = self._said.get(device)
            if before != available:
                self._said[device] = available
                found.append(AvailabilityChange(device, available, before, heard))
        return found

    def take_word(self, device_id: int, available: bool) -> AvailabilityChange | None:
        """Record what another judge says of a station (a bridge the integration
        follows); the change, or None if it says what was said."""
        before = self._said.get(device_id)
        if before == available:
            return None
        self._said[device_id] = available
        return AvailabilityChange(device_id, available, before, self._heard.get(device_id))

    def assume(self, said: Mapping[int, bool]) -> None:
        """Take ``said`` as everything the audience holds now (what a broker
        retains, read back at a connection); the rest counts as never said."""
        self._said = dict(said)

    def unsay(self, device_ids: Iterable[int]) -> None:
        """Forget what was said of these stations: it may not have arrived."""
        for device in device_ids:
            self._said.pop(device, None)

    def forget(self, device_id: int) -> None:
        """Drop the station; it is new again when it is next heard from."""
        self._heard.pop(device_id, None)
        self._said.pop(device_id, None)

    def next_check(self, now: float) -> float | None:
        """The first moment after ``now`` at which a station said to be available
        turns unavailable (unix seconds); None when none will by itself.

        A deadline already past is not due again: its change is one the caller
        could not say yet (no connection), and says at its next look.
        """
        upcoming = [
            heard.unavailable_at
            for device, available in self._said.items()
            if available
            and (heard := self._heard.get(device)) is not None
            and heard.unavailable_at > now
        ]
        return min(upcoming, default=None)
