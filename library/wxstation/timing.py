"""When each sample was taken: the timing rule of docs/protocol.md, with resends.

Samples carry no timestamps. The newest sample of a packet was taken moments
before the packet arrived; the others are evenly spaced before it. The spacing
is measured between two packets an hour apart and kept per station as a clock
factor, because the ATtiny's watchdog runs a few percent off.

A station may send records again: after a cut connection, or when its ESP could
not confirm delivery, the next packet holds the old records followed by new ones
(the oldest dropped if the store filled up). The last packet's records and the
stamps they were given are kept, so a resent record keeps the time it was taken
and a record already received is not stored twice.

Two stations flashed with the same device id send packets whose spacing
contradicts the wake interval: one arrives sooner after the previous packet of
the id than any station of that wake interval sends, and does not resend its
records. Such a packet is a clash: the clock factor is left alone while clashes
are remembered (their spacing says nothing of either clock), and its stamps
are moved by a millisecond where they would meet the previous packet's, so the
two stations' samples never share a time.

The stamps are of the moment each sample was taken: the newest one the
station's ``send_delay`` (the time its ESP needs to boot, join the network and
connect) before the packet arrived.

Pure code: the station's :class:`StationClock` goes in, stamps and the next
clock come out, so the runtime can persist the clock and a replay of the same
packets gives the same stamps.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CALIBRATION_WINDOW",
    "CLASH_LIMIT",
    "CLASH_MEMORY_S",
    "CLASH_QUIET_S",
    "CLASH_WINDOW",
    "SHARED_ID_CLASHES",
    "LastBatch",
    "StationClock",
    "Timed",
    "stamp_packet",
]

#: A packet calibrates the clock when it arrived within this fraction of
#: ``wake_every_s`` of one wake interval after the previous one; further off, a
#: wake-up was missed or the station reset, and the elapsed time says nothing
#: about the spacing.
CALIBRATION_WINDOW = 1 / 3
#: A new packet that arrives sooner than this fraction of ``wake_every_s`` after
#: the previous one of its id, resending none of its records, is a clash: no
#: station of that wake interval sends so soon (a cut connection is resent an
#: interval later, and the resend is recognised).
CLASH_WINDOW = 1 - CALIBRATION_WINDOW
#: Seconds a clash is remembered: while any is, the clock factor is not
#: learnt, and :data:`SHARED_ID_CLASHES` of them say two stations share the id.
CLASH_MEMORY_S = 86400.0
#: Clashes within :data:`CLASH_MEMORY_S` that mean two stations share an id. One
#: alone can be a station that was reset (new batteries) between wake-ups.
SHARED_ID_CLASHES = 2
#: Clashes remembered at most: a day of two stations' hourly packets, with room
#: to spare; more (a sender far faster than its wake interval) says no more.
CLASH_LIMIT = 64
#: Seconds without a clash after which a clash of a shared id is news again
#: (two stations of hourly packets clash about once an hour: each is said; a
#: sender far faster than its wake interval is said once).
CLASH_QUIET_S = 1800.0
#: Seconds a stamp is moved to keep it off a time the previous packet's samples
#: have: one millisecond, the stamps' resolution.
NUDGE_S = 0.001


@dataclass(frozen=True, slots=True)
class LastBatch:
    """The previous packet of a station, as needed to recognise a resend."""

    arrival: float
    #: One stamp per announced record, oldest first (a cut packet's missing
    #: records included, as if the whole batch had arrived).
    stamps: tuple[float, ...]
    #: The complete records that did arrive, oldest first.
    records: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class StationClock:
    """What the bridge remembers of one station's clock between packets."""

    clock_factor: float = 1.0
    last: LastBatch | None = None
    #: Arrivals of the clashes within :data:`CLASH_MEMORY_S` of the newest packet.
    clashes: tuple[float, ...] = ()

    @property
    def previous_arrival(self) -> float | None:
        return self.last.arrival if self.last else None

    @property
    def shared_id(self) -> bool:
        """True when the clashes remembered say two stations send with this id."""
        return len(self.clashes) >= SHARED_ID_CLASHES

    @property
    def clash_is_news(self) -> bool:
        """True when the newest packet is a clash worth saying: the one that showed
        two stations share the id, or the first of a shared id after
        :data:`CLASH_QUIET_S` without one."""
        clashes = self.clashes
        if not self.shared_id or self.last is None or clashes[-1] != self.last.arrival:
            return False
        return len(clashes) == SHARED_ID_CLASHES or clashes[-1] - clashes[-2] >= CLASH_QUIET_S

    def to_json(self) -> str:
        last = self.last
        return json.dumps(
            {
                "clock_factor": self.clock_factor,
                "last": None
                if last is None
                else {
                    "arrival": last.arrival,
                    "stamps": list(last.stamps),
                    "records": [record.hex() for record in last.records],
                },
                "clashes": list(self.clashes),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> StationClock:
        data = json.loads(text)
        last = data.get("last")
        return cls(
            clock_factor=float(data["clock_factor"]),
            last=None
            if last is None
            else LastBatch(
                arrival=float(last["arrival"]),
                stamps=tuple(float(s) for s in last["stamps"]),
                records=tuple(bytes.fromhex(r) for r in last["records"]),
            ),
            clashes=tuple(float(t) for t in data.get("clashes", ())),
        )


@dataclass(frozen=True, slots=True)
class Timed:
    """The stamps of one packet and the station's clock after it."""

    #: Per complete record, its time in unix seconds, or None where the record
    #: was already received in an earlier packet (a resend duplicate).
    stamps: tuple[float | None, ...]
    #: Leading records of the packet that the station sent before.
    resent: int
    #: Spacing between this packet's new samples, seconds.
    spacing: float
    #: True when this packet measured the spacing (and updated the clock factor).
    calibrated: bool
    clock: StationClock
    #: True when the packet's spacing contradicts the wake interval (see
    #: :data:`CLASH_WINDOW`).
    clash: bool = False

    @property
    def duplicates(self) -> int:
        return sum(1 for stamp in self.stamps if stamp is None)


def stamp_packet(
    clock: StationClock,
    *,
    arrival: float,
    wake_every_s: int,
    measure_every_s: int,
    records: Sequence[bytes],
    announced: int,
    store_records: int,
    send_delay: float = 0.0,
) -> Timed:
    """Stamp the complete ``records`` of a packet that announced ``announced``.

    ``send_delay`` is the seconds between the newest sample and the packet's
    arrival; the clock is learnt from arrivals, which the delay does not change.
    """
    last = clock.last
    if last is not None and arrival <= last.arrival:
        return _stamp_late(
            clock, arrival, wake_every_s, measure_every_s, records, announced, send_delay
        )
    elapsed = arrival - last.arrival if last else None
    nominal = measure_every_s * clock.clock_factor
    resent = _resent_count(last, records, announced, elapsed, nominal, store_records)
    new = announced - resent
    clash = (
        elapsed is not None
        and resent == 0
        and announced > 0
        and elapsed < wake_every_s * CLASH_WINDOW
    )
    clashes = _remember_clashes(clock.clashes, arrival, clash)

    calibrated = (
        elapsed is not None
        and elapsed > 0
        and new > 0
        and not clashes
        and abs(elapsed - wake_every_s) <= wake_every_s * CALIBRATION_WINDOW
    )
    spacing = elapsed / new if calibrated and elapsed is not None else nominal
    factor = spacing / measure_every_s if calibrated else clock.clock_factor

    taken = arrival - send_delay
    old_stamps = last.stamps[len(last.stamps) - resent :] if last and resent else ()
    new_stamps = tuple(taken - (new - 1 - j) * spacing for j in range(new))
    if clash and last is not None:
        new_stamps = _off_stamps(new_stamps, last.stamps)
    all_stamps = (*old_stamps, *new_stamps)

    # Resent records at or after this index were never received before.
    first_unseen = len(last.records) - (len(last.stamps) - resent) if last else 0
    stamps = tuple(
        None if index < resent and index < first_unseen else all_stamps[index]
        for index in range(len(records))
    )
    next_clock = StationClock(factor, LastBatch(arrival, all_stamps, tuple(records)), clashes)
    return Timed(stamps, resent, spacing, calibrated, next_clock, clash)


def _remember_clashes(clashes: tuple[float, ...], arrival: float, clash: bool) -> tuple[float, ...]:
    """The clashes to remember once a packet arrived at ``arrival``."""
    kept = tuple(t for t in clashes if arrival - t < CLASH_MEMORY_S)
    return (*kept, arrival)[-CLASH_LIMIT:] if clash else kept


def _off_stamps(stamps: tuple[float, ...], taken: Sequence[float]) -> tuple[float, ...]:
    """``stamps``, each moved on by a millisecond until it meets none of ``taken``
    (compared in milliseconds, as samples are stored)."""
    busy = {round(t * 1000) for t in taken}
    moved = []
    for stamp in stamps:
        while round(stamp * 1000) in busy:
            stamp += NUDGE_S
        busy.add(round(stamp * 1000))
        moved.append(stamp)
    return tuple(moved)


def _stamp_late(
    clock: StationClock,
    arrival: float,
    wake_every_s: int,
    measure_every_s: int,
    records: Sequence[bytes],
    announced: int,
    send_delay: float,
) -> Timed:
    """Stamp a packet that arrived no later than the station's last one.

    Such a packet is stamped after that one when it was kept aside and decoded
    later, or when two connections of the id closed at nearly the same moment
    and the later one was committed first. The same records as the last
    packet's are the same packet delivered twice: they were stored with it, so
    none is stored again. Other records are stamped back from their own arrival
    with the learnt clock factor; sooner after the last packet than a station
    sends, they are a clash (two stations with one id, sending within moments
    of each other) and keep off the last packet's stamps. Either way the clock
    factor stays as it was: it follows the station's newest packet.
    """
    spacing = measure_every_s * clock.clock_factor
    last = clock.last
    if last is not None and tuple(records) == last.records and announced == len(last.stamps):
        return Timed((None,) * len(records), announced, spacing, False, clock)
    taken = arrival - send_delay
    stamps = tuple(taken - (announced - 1 - j) * spacing for j in range(len(records)))
    clash = (
        last is not None and announced > 0 and last.arrival - arrival < wake_every_s * CLASH_WINDOW
    )
    if not clash or last is None:
        return Timed(stamps, 0, spacing, False, clock)
    after = StationClock(
        clock.clock_factor,
        last,
        _remember_clashes(clock.clashes, last.arrival, True),
    )
    return Timed(_off_stamps(stamps, last.stamps), 0, spacing, False, after, True)


def _resent_count(
    last: LastBatch | None,
    records: Sequence[bytes],
    announced: int,
    elapsed: float | None,
    nominal_spacing: float,
    store_records: int,
) -> int:
    """How many leading records of a packet are the previous packet's, sent again.

    A resend of the previous batch with its ``dropped`` oldest records gone is
    possible when the store was full (a station only drops records to make
    room) and the records that overlap what already arrived are byte for byte
    the same. Among the possible resends, and not resending at all, the one
    whose count of new samples best fits the time elapsed is taken; on a tie,
    the one with more records proven by their bytes.
    """
    if last is None or elapsed is None or elapsed <= 0 or announced == 0:
        return 0
    expected_new = elapsed / nominal_spacing if elapsed > 0 else 0.0
    store_full = announced >= store_records
    best = (abs(announced - expected_new), 0, 0)  # (misfit, -proven, resent)
    previous = len(last.stamps)
    for resent in range(1, min(previous, announced) + 1):
        dropped = previous - resent
        if dropped and not store_full:
            continue
        overlap = min(len(last.records) - dropped, len(records))
        if overlap > 0 and tuple(records[:overlap]) != last.records[dropped : dropped + overlap]:
            continue
        candidate = (abs(announced - resent - expected_new), -max(overlap, 0), resent)
        best = min(best, candidate)
    return best[2]
