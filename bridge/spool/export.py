"""Reading the store out (``export``) and trimming it (``prune``)."""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator

from bridge.spool.base import Tables, transaction, typed_errors
from bridge.spool.packets import StoredPacket

__all__ = ["ExportTables"]


@typed_errors
class ExportTables(Tables):
    """Samples and raw packets for export; retention of old samples."""

    def samples(
        self,
        *,
        device_id: int | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> Generator[tuple[int, str, int, dict[str, float]]]:
        """Stored samples as (device id, station, time in ms, values), by station and time.

        Read as they are taken: close the generator when done with it early."""
        where, args = [], []
        if device_id is not None:
            where.append("device_id = ?")
            args.append(device_id)
        if since_ms is not None:
            where.append("time_ms >= ?")
            args.append(since_ms)
        if until_ms is not None:
            where.append("time_ms < ?")
            args.append(until_ms)
        query = 'SELECT device_id, station, time_ms, "values" FROM samples'
        if where:
            query += " WHERE " + " AND ".join(where)
        for device, station, time_ms, values in self.db.execute(
            query + " ORDER BY device_id, time_ms", args
        ):
            yield int(device), str(station), int(time_ms), json.loads(values)

    def raw_packets(self) -> Iterator[StoredPacket]:
        """Every stored packet, in the order they were stored."""
        rows = self.db.execute(
            "SELECT id, data, received_at, peer, device_id, state, reason FROM packets ORDER BY id"
        )
        for row in rows:
            yield StoredPacket(*row)

    def prune(self, before_ms: int) -> int:
        """Delete decoded samples, and conflicts, older than ``before_ms`` (raw
        packets stay)."""
        with transaction(self.db):
            samples = self.db.execute("DELETE FROM samples WHERE time_ms < ?", (before_ms,))
            conflicts = self.db.execute("DELETE FROM conflicts WHERE time_ms < ?", (before_ms,))
            return samples.rowcount + conflicts.rowcount
