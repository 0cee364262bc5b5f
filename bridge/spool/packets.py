"""The ``packets`` table: what each connection delivered, as it arrived.

A packet is committed before anything else is done with it; the same bytes
from the same peer at the same time (a capture ingested again) are one packet.
Its ``state`` is ``new`` (not yet decoded), ``done`` (decoded into a batch) or
``kept`` (kept aside with a ``reason``: undecodable, unknown station, wrong
address).
"""

from __future__ import annotations

from collections.abc import Sequence

from bridge.spool.base import Handle, transaction, typed_errors
from wxstation.packets import Received, StoredPacket, peer_host
from wxstation.protocol import claimed_device

__all__ = ["Packets"]


@typed_errors
class Packets:
    """Storing packets, and reading them back by state."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    def add(self, items: Sequence[Received]) -> list[int]:
        """Commit what connections delivered, in one transaction; returns the ids of
        those stored. A packet already stored (the same bytes from the same peer at
        the same time: a capture ingested again) is not stored twice."""
        db = self._handle.db
        ids = []
        with transaction(db):
            for item in items:
                device = claimed_device(item.data)
                cursor = db.execute(
                    "INSERT INTO packets (received_at, peer, data, device_id) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (item.received_at, item.peer, item.data, device),
                )
                if cursor.rowcount:
                    ids.append(int(cursor.lastrowid or 0))
        return ids

    def in_state(self, state: str, *, limit: int = 1000) -> list[StoredPacket]:
        """The first ``limit`` packets in ``state``, in the order stored."""
        rows = self._handle.db.execute(
            "SELECT id, data, received_at, peer, device_id, state, reason FROM packets "
            "WHERE state = ? ORDER BY id LIMIT ?",
            (state, limit),
        ).fetchall()
        return [StoredPacket(*row) for row in rows]

    def newest_kept(self, limit: int) -> list[StoredPacket]:
        """The newest ``limit`` kept-aside packets, newest first."""
        rows = self._handle.db.execute(
            "SELECT id, data, received_at, peer, device_id, state, reason FROM packets "
            "WHERE state = 'kept' ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [StoredPacket(*row) for row in rows]

    def requeue_kept(self, device_id: int | None = None) -> int:
        """Mark kept-aside packets as new again, so they are decoded once more."""
        query = "UPDATE packets SET state = 'new' WHERE state = 'kept'"
        args: tuple[int, ...] = ()
        if device_id is not None:
            query += " AND device_id = ?"
            args = (device_id,)
        db = self._handle.db
        with transaction(db):
            return db.execute(query, args).rowcount

    def counts(self) -> dict[str, int]:
        """Packets in each state."""
        query = "SELECT state, count(*) FROM packets GROUP BY state"
        rows = self._handle.db.execute(query).fetchall()
        return {state: int(count) for state, count in rows}

    def kept_reasons(self) -> list[tuple[str, int]]:
        """Why packets are kept aside, most common first, with their counts."""
        rows = self._handle.db.execute(
            "SELECT reason, count(*) FROM packets WHERE state = 'kept' "
            "GROUP BY reason ORDER BY count(*) DESC"
        ).fetchall()
        return [(str(reason), int(count)) for reason, count in rows]

    def station_hosts(self, limit: int = 10_000) -> dict[str, float]:
        """The hosts that sent the newest ``limit`` decoded packets, with the
        arrival of each one's newest: the stations' addresses, after a restart."""
        rows = self._handle.db.execute(
            "SELECT peer, received_at FROM packets WHERE state = 'done' ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        hosts: dict[str, float] = {}
        for peer, received_at in rows:
            host = peer_host(peer)
            hosts[host] = max(hosts.get(host, 0.0), received_at)
        return hosts
