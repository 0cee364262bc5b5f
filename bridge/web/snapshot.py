"""What the status page, the JSON API and the metrics show, read from the database at once.

:func:`read_snapshot` runs on the web server's own database thread, with a
connection of its own (the database is in WAL mode, so reading never holds up
the runtime's writes), and the server reuses one snapshot for every request
within :data:`bridge.web.server.SNAPSHOT_MAX_AGE`: a storm of requests reads the
database no more often than one request.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from bridge.overview import SinkOverview, StationOverview, sink_overviews, station_overviews
from bridge.spool import Spool
from bridge.spool.giving_way import RemovedHistory
from wxstation.capacity import Projection
from wxstation.config import Config
from wxstation.packets import StoredPacket

__all__ = ["KEPT_SHOWN", "PLOT_HOURS", "PLOT_POINTS", "Series", "Snapshot", "read_snapshot"]

#: Hours of each station's samples the page plots.
PLOT_HOURS = 24
#: Points per plotted line at most: a sample every 2 minutes is 720 a day, a
#: demo's every 2 s is 43,200; each point is the mean of its stretch of time.
PLOT_POINTS = 360
#: Kept-aside packets the page lists (the newest); the count says how many in all.
KEPT_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Series:
    """A station's samples over the plotted hours, as means per stretch of time."""

    since_ms: int
    until_ms: int
    #: Per field, (time in ms, value) pairs, oldest first.
    lines: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    #: Samples read (before taking means).
    count: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The database's state at ``taken_at`` (unix seconds)."""

    taken_at: float
    #: Packets by state: ``done``, ``kept``, ``new``.
    counts: dict[str, int]
    #: Why packets are kept aside, most common first, with their counts.
    kept_reasons: list[tuple[str, int]]
    #: The newest kept-aside packets.
    kept: list[StoredPacket]
    stations: list[StationOverview]
    sinks: list[SinkOverview]
    series: dict[int, Series]
    #: The database against its cap, and what decoded history gave way at it.
    storage: Projection | None = None
    removed: list[RemovedHistory] = field(default_factory=list)


def read_snapshot(spool: Spool, config: Config, now: float) -> Snapshot:
    """Everything the page shows, from ``spool`` (synchronous: call it on its thread)."""
    until_ms = round(now * 1000)
    since_ms = until_ms - PLOT_HOURS * 3600 * 1000
    stations = station_overviews(
        config, spool.samples.newest_batches(), spool.samples.newest_samples(), now
    )
    return Snapshot(
        taken_at=now,
        counts=spool.packets.counts(),
        kept_reasons=spool.packets.kept_reasons(),
        kept=spool.packets.newest_kept(KEPT_SHOWN),
        stations=stations,
        sinks=sink_overviews(
            config, spool.samples.last_seq(), spool.progress.by_sink(), spool.progress.rejected()
        ),
        series={
            station.device_id: thin(
                spool.export.samples(
                    device_id=station.device_id, since_ms=since_ms, until_ms=until_ms
                ),
                since_ms,
                until_ms,
            )
            for station in stations
        },
        storage=spool.history.projection(now),
        removed=spool.history.removed(),
    )


def thin(
    rows: Iterable[tuple[int, str, int, dict[str, float]]],
    since_ms: int,
    until_ms: int,
    points: int = PLOT_POINTS,
) -> Series:
    """The mean of each field over each of ``points`` equal stretches of time, from
    the first of ``rows`` (oldest first, none before ``since_ms``) to ``until_ms``.

    A station heard from for less than the plotted hours is drawn over the time
    it was heard, not squeezed into the right end of the plot.
    """
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return Series(since_ms, until_ms)
    since_ms = max(since_ms, first[2])
    width = max(1, -(-(until_ms - since_ms) // points))
    sums: dict[str, dict[int, list[float]]] = {}
    count = 0
    for _, _, time_ms, values in itertools.chain((first,), rows):
        count += 1
        slot = (time_ms - since_ms) // width
        for key, value in values.items():
            if not isinstance(value, int | float) or value != value:  # NaN: nothing to draw
                continue
            total = sums.setdefault(key, {}).setdefault(slot, [0.0, 0.0, 0.0])
            total[0] += time_ms
            total[1] += value
            total[2] += 1
    lines = {
        key: [(round(t / n), v / n) for _, (t, v, n) in sorted(slots.items())]
        for key, slots in sums.items()
    }
    return Series(since_ms, until_ms, lines, count)
