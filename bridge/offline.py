"""Decoding in the command's own process, when no bridge holds the database:
``ingest`` and ``reprocess`` decode here (a running bridge decodes what they
stored itself).

A year's capture holds thousands of packets a station, so each packet's log
line is at DEBUG here; what they came to is counted instead, in a :class:`Tally` that
the command prints: packets decoded, their samples, and every packet kept
aside with its reason. ``advance`` is told how many packets each group took,
for the command's progress.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.overview import sink_names
from bridge.runtime.store import decode_pending
from bridge.spool import Spool
from wxstation.config import Config
from wxstation.decoding import DecodeResult, decode_one, log_result
from wxstation.samples import Batch
from wxstation.timing import StationClock

__all__ = [
    "SUMMARY_REASONS",
    "Tally",
    "decode_offline",
    "decode_removed",
    "give_way",
    "no_progress",
]

log = logging.getLogger(__name__)

#: Reasons for keeping packets aside that a summary names, the most common
#: first; ``status`` lists them all.
SUMMARY_REASONS = 3


def no_progress(count: int) -> None:
    """Show no progress (the default ``advance``)."""


@dataclass(slots=True)
class Tally:
    """What a command's decoding came to: packets decoded, the samples they
    brought, and how many packets were kept aside for each reason."""

    decoded: int = 0
    samples: int = 0
    kept: Counter[str] = field(default_factory=Counter)
    #: Samples different from the stored one of their station and time, kept
    #: aside as conflicts; values outside their plausible range, not stored.
    conflicts: int = 0
    out_of_range: int = 0
    #: Packets whose decoded history gave way at the database's cap meanwhile.
    gave_way: int = 0

    @property
    def kept_aside(self) -> int:
        return sum(self.kept.values())

    @property
    def set_aside(self) -> bool:
        """Whether packets or samples were kept aside (``status`` lists them)."""
        return bool(self.kept or self.conflicts)

    def add(self, result: DecodeResult) -> None:
        """Count one packet's outcome."""
        if result.batch is None:
            self.kept[result.kept or "not decoded"] += 1
        else:
            self.add_batch(result.batch, len(result.conflicts))

    def add_batch(self, batch: Batch, conflicts: int = 0) -> None:
        """Count a packet decoded into ``batch`` (its newly stored samples), with
        ``conflicts`` of its samples kept aside."""
        self.decoded += 1
        self.samples += len(batch.samples)
        self.out_of_range += len(batch.out_of_range)
        self.conflicts += conflicts

    def line(self, kept: str = "kept aside") -> str:
        """One line: decoded, samples, and what was ``kept`` aside, with the
        commonest reasons why."""
        parts = [f"{self.decoded} packets decoded into {self.samples} samples"]
        if self.kept:
            reasons = [f"{count}x {why}" for why, count in self.kept.most_common(SUMMARY_REASONS)]
            if len(self.kept) > SUMMARY_REASONS:
                reasons.append(f"{len(self.kept) - SUMMARY_REASONS} more reasons")
            parts.append(f"{self.kept_aside} {kept} ({'; '.join(reasons)})")
        else:
            parts.append(f"none {kept}")
        if self.conflicts:
            parts.append(f"{self.conflicts} samples kept aside as conflicts")
        if self.out_of_range:
            parts.append(f"{self.out_of_range} values out of range, not stored")
        if self.gave_way:
            parts.append(
                f"the decoded history of {self.gave_way} packets gave way at the cap "
                "(storage.max_size_mb; 'reprocess --removed' decodes it again)"
            )
        return ", ".join(parts)


def give_way(spool: Spool, config: Config, now: float) -> int:
    """Let delivered decoded history give way near the cap, as the running
    bridge does every few seconds (:meth:`bridge.spool.giving_way.History.give_way`,
    with the sinks ``config`` sets up); returns the packets whose history went."""
    removal = spool.history.give_way(sink_names(config), now)
    if removal is None:
        return 0
    # The command's summary counts them; each pass's line is for --log-level debug.
    log.debug("%s", removal)
    return removal.packets


def decode_offline(
    spool: Spool,
    config: Config,
    advance: Callable[[int], None] = no_progress,
    clock: Callable[[], float] = time.time,
) -> Tally:
    """Decode every new packet now, a group at a time, letting history give
    way at the cap after each group (``clock`` says "now" for that)."""
    clocks: dict[int, StationClock] = spool.samples.clocks()
    tally = Tally()
    while results := decode_pending(spool, config, clocks):
        for result in results:
            log_result(result, logging.DEBUG)
            tally.add(result)
        tally.gave_way += give_way(spool, config, clock())
        advance(len(results))
    return tally


def decode_removed(
    spool: Spool, config: Config, advance: Callable[[int], None] = no_progress
) -> Tally:
    """Decode again the packets whose decoded history gave way at the cap.

    Each such station's packets are replayed from its first one with a clock of
    their own (the station's clock in the database stays as it is), so the
    samples get the times they had; only the packets whose history was removed
    are stored again, as new batches that the sinks deliver again (InfluxDB
    writes the same points, Home Assistant takes a sample once). Such a packet
    that the config no longer decodes is counted as kept aside, with why, and
    its station's removed history stays listed until a run decodes them all.
    ``advance`` counts the packets whose history was removed.
    """
    tally = Tally()
    for removed in spool.history.removed():
        kept_before = tally.kept_aside
        clocks: dict[int, StationClock] = {}
        after = 0
        while rows := spool.history.decoded_packets(removed.device_id, after=after):
            after = rows[-1][0].id
            again = []
            for packet, gave_way in rows:
                result = decode_one(config, clocks, packet)
                if not gave_way:
                    continue
                if result.batch is None:
                    log_result(result, logging.DEBUG)
                    tally.add(result)
                else:
                    again.append((packet.id, result.batch))
            for stored in spool.samples.record(again, [], {}):
                tally.add_batch(stored.batch, len(stored.conflicts))
            advance(sum(gave_way for _, gave_way in rows))
        # Still listed while a packet's history is missing: run again once the
        # config decodes it.
        if tally.kept_aside == kept_before:
            spool.history.forget_removed(removed.device_id)
    return tally
