"""What connections delivered, committed to the database in groups.

The receiver hands each packet to :meth:`Committer.put`, which returns at once;
the committer gathers what arrives within :data:`GATHER_WINDOW` and commits it
in one transaction (one fsync for many packets), then tells the decoder once
for the whole group. A write that fails on a disk fault is the ``faults``
handler's first: a damaged file is replaced with a fresh one and the group
written again at once (:mod:`bridge.runtime.recovery`); a read-only or failing
disk sends this and every later group to the :class:`~bridge.runtime.fallback.Fallback`
until it is merged back. Otherwise (the disk is full, the database's own cap,
the fallback full) the packets stay in memory, the receiver is told to stop
accepting (through ``on_room``) and the commit is tried again until it
succeeds: a packet in memory is the only copy there is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bridge.runtime.fallback import Fallback
from bridge.runtime.status import RuntimeEvents
from bridge.runtime.store import Store
from wxstation.packets import Received

__all__ = ["FULL_RETRY_INTERVAL", "GATHER_WINDOW", "Committer"]

log = logging.getLogger(__name__)

#: Seconds the committer waits after a packet arrives for others to commit with
#: it: at a few hundred packets per second, a few share each fsync instead of
#: one each, for at most this much more delay before a packet is on disk. At
#: 500 packets/s, 5 ms instead of 2 cut the commit's CPU per packet by a third
#: (about 85 to 60 µs; the total moved more, but within the noise of paired
#: runs) for about 1 ms more from arrival to MQTT at the median, also within
#: the noise: decoding passes are 10 ms apart anyway.
GATHER_WINDOW = 0.005
#: Seconds between attempts to commit after the database failed a write.
FULL_RETRY_INTERVAL = 5.0


class Committer:
    """Group commit: packets in, committed groups out to ``on_committed``.

    ``on_room`` hears why packets do not fit when a write fails, and None once
    a write succeeds again. ``faults`` hears a failed write first and says
    whether it handled it (the group is then written again at once, or held
    by ``fallback``).
    """

    def __init__(
        self,
        store: Store,
        *,
        on_committed: Callable[[], None],
        on_room: Callable[[str | None], None],
        events: RuntimeEvents,
        fallback: Fallback,
        faults: Callable[[BaseException], Awaitable[bool]],
    ) -> None:
        self._store = store
        self._fallback = fallback
        self._faults = faults
        self._on_committed = on_committed
        self._on_room = on_room
        self._events = events
        self._pending: list[Received] = []
        self._arrived = asyncio.Event()
        self._failing = False
        self._finishing = False

    @property
    def pending(self) -> int:
        """Packets in memory, not yet committed."""
        return len(self._pending)

    def put(self, item: Received) -> None:
        """Take what a connection delivered; it is committed with the next group."""
        self._pending.append(item)
        if not self._arrived.is_set():
            self._arrived.set()

    def finish(self) -> None:
        """Commit what is in hand at once, then end :meth:`run`."""
        self._finishing = True
        self._arrived.set()

    async def run(self) -> None:
        """Commit groups until :meth:`finish` was called and nothing is left."""
        while True:
            if not self._pending:
                if self._finishing:
                    return
                await self._arrived.wait()
                self._arrived.clear()
                continue
            if not self._finishing:
                # Packets trickling in share the next commit's fsync.
                await asyncio.sleep(GATHER_WINDOW)
            self._arrived.clear()
            group, self._pending = self._pending, []
            if self._fallback.holding:
                # Held packets go to the database before any newer one.
                if self._fallback.hold(group):
                    self._room_again()
                    continue
                await self._keep(group, "the fallback is full", str(self._fallback.reason))
                continue
            try:
                await self._store.add_packets(group)
            except Exception as err:
                self._pending[:0] = group
                if await self._faults(err):
                    continue
                await self._keep([], "cannot write the database", str(err))
                continue
            self._room_again()
            self._events.committed(group)
            self._on_committed()

    async def _keep(self, group: list[Received], what: str, detail: str) -> None:
        """Disk full, or the database and the fallback failing: keep the packets
        in memory, stop accepting more, and try again after a wait. Nothing else
        may lose them."""
        self._pending[:0] = group
        self._failing = True
        self._on_room(f"{what}: {detail}")
        log.error("cannot commit %d packets (%s); retrying", len(self._pending), detail)
        await asyncio.sleep(FULL_RETRY_INTERVAL)

    def _room_again(self) -> None:
        if self._failing:
            self._failing = False
            self._on_room(None)
