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

Pure code: the station's :class:`StationClock` goes in, stamps and the next
clock come out, so the runtime can persist the clock and a replay of the same
packets gives the same stamps.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CALIBRATION_WINDOW", "LastBatch", "StationClock", "Timed", "stamp_packet"]

#: A packet calibrates the clock when it arrived within this fraction of
#: ``wake_every_s`` of one wake interval after the previous one; further off, a
#: wake-up was missed or the station reset, and the elapsed time says nothing
#: about the spacing.
CALIBRATION_WINDOW = 1 / 3


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

    @property
    def previous_arrival(self) -> float | None:
        return self.last.arrival if self.last else None

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
) -> Timed:
    """Stamp the complete ``records`` of a packet that announced ``announced``."""
    last = clock.last
    if last is not None and arrival <= last.arrival:
        return _stamp_late(clock, arrival, measure_every_s, records, announced)
    elapsed = arrival - last.arrival if last else None
    nominal = measure_every_s * clock.clock_factor
    resent = _resent_count(last, records, announced, elapsed, nominal, store_records)
    new = announced - resent

    calibrated = (
        elapsed is not None
        and elapsed > 0
        and new > 0
        and abs(elapsed - wake_every_s) <= wake_every_s * CALIBRATION_WINDOW
    )
    spacing = elapsed / new if calibrated and elapsed is not None else nominal
    factor = spacing / measure_every_s if calibrated else clock.clock_factor

    old_stamps = last.stamps[len(last.stamps) - resent :] if last and resent else ()
    all_stamps = (*old_stamps, *(arrival - (new - 1 - j) * spacing for j in range(new)))

    # Resent records at or after this index were never received before.
    first_unseen = len(last.records) - (len(last.stamps) - resent) if last else 0
    stamps = tuple(
        None if index < resent and index < first_unseen else all_stamps[index]
        for index in range(len(records))
    )
    next_clock = StationClock(factor, LastBatch(arrival, all_stamps, tuple(records)))
    return Timed(stamps, resent, spacing, calibrated, next_clock)


def _stamp_late(
    clock: StationClock,
    arrival: float,
    measure_every_s: int,
    records: Sequence[bytes],
    announced: int,
) -> Timed:
    """Stamp a packet that arrived no later than the station's last one.

    Such a packet is stamped after that one when it was kept aside and decoded
    later, or when two connections of the station closed at nearly the same
    moment and the later one was committed first. The same records as the last
    packet's are the same packet delivered twice: they were stored with it, so
    none is stored again. Other records are stamped back from their own arrival
    with the learnt clock factor. Either way the clock stays as it was: it
    follows the station's newest packet.
    """
    spacing = measure_every_s * clock.clock_factor
    last = clock.last
    if last is not None and tuple(records) == last.records and announced == len(last.stamps):
        return Timed((None,) * len(records), announced, spacing, False, clock)
    stamps = tuple(arrival - (announced - 1 - j) * spacing for j in range(len(records)))
    return Timed(stamps, 0, spacing, False, clock)


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
