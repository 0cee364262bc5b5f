"""Reading the store out: its samples and its raw packets, as ``export``, the
status page's downloads and ``export --raw`` take them."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Generator, Iterator

from bridge.spool import readings
from bridge.spool.base import Handle, typed_errors
from wxstation.packets import StoredPacket
from wxstation.samples import Sample

__all__ = ["Export"]


@typed_errors
class Export:
    """Samples and raw packets, read out."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    def samples(
        self,
        *,
        device_id: int | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> Generator[tuple[int, str, int, dict[str, float]]]:
        """Stored samples as (device id, station, time in ms, values), by station and time.

        Read as they are taken: close the generator when done with it early."""
        where, args = _readings_within(device_id, since_ms, until_ms)
        query = 'SELECT device_id, station, first_ms, keys, times, "values" FROM readings'
        rows = self._handle.db.execute(query + where + " ORDER BY device_id, first_ms", args)
        # Rows by their first sample: a sample of a later row can be older than
        # the last of an earlier one (a packet decoded late), so samples wait in
        # a heap until no row still to come can hold an older one.
        waiting: list[tuple[int, int, str, dict[str, float]]] = []
        order = itertools.count()
        current = None
        for device, station, first_ms, keys, times, values in rows:
            if device != current:
                while waiting:
                    yield _out(current, heapq.heappop(waiting))
                current = device
            while waiting and waiting[0][0] < first_ms:
                yield _out(current, heapq.heappop(waiting))
            for sample in readings.unpack(keys, times, values):
                if _within(sample, since_ms, until_ms):
                    heapq.heappush(waiting, (sample.time_ms, next(order), station, sample.values))
        while waiting:
            yield _out(current, heapq.heappop(waiting))

    def samples_at_most(
        self,
        *,
        device_id: int | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> int:
        """How many samples :meth:`samples` gives at most, read from the rows'
        counts alone (exact unless a row straddles ``since_ms`` or ``until_ms``):
        the total of ``export``'s progress."""
        where, args = _readings_within(device_id, since_ms, until_ms)
        query = "SELECT coalesce(sum(count), 0) FROM readings"
        (count,) = self._handle.db.execute(query + where, args).fetchone()
        return int(count)

    def packets(self) -> Iterator[StoredPacket]:
        """Every stored packet, in the order they were stored."""
        rows = self._handle.db.execute(
            "SELECT id, data, received_at, peer, device_id, state, reason FROM packets ORDER BY id"
        )
        for row in rows:
            yield StoredPacket(*row)


def _within(sample: Sample, since_ms: int | None, until_ms: int | None) -> bool:
    return (since_ms is None or sample.time_ms >= since_ms) and (
        until_ms is None or sample.time_ms < until_ms
    )


def _readings_within(
    device_id: int | None, since_ms: int | None, until_ms: int | None
) -> tuple[str, list[int]]:
    """The WHERE clause (empty when nothing limits) and its arguments for the
    ``readings`` rows of a station, a time range, or both."""
    where, args = [], []
    if device_id is not None:
        where.append("device_id = ?")
        args.append(device_id)
    if since_ms is not None:
        where.append("last_ms >= ?")
        args.append(since_ms)
    if until_ms is not None:
        where.append("first_ms < ?")
        args.append(until_ms)
    return (" WHERE " + " AND ".join(where) if where else ""), args


def _out(
    device: int | None, waiting: tuple[int, int, str, dict[str, float]]
) -> tuple[int, str, int, dict[str, float]]:
    time_ms, _, station, values = waiting
    return int(device or 0), station, time_ms, values
