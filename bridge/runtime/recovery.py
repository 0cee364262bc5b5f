"""A damaged database replaced while the bridge runs, and salvaged in the background.

When a statement finds the file damaged (``SQLITE_CORRUPT``, ``SQLITE_NOTADB``:
a failing SD card leaves pages of garbage), the store tells
:meth:`Recovery.damaged`. The file is moved aside (``wx.db.damaged-<UTC
time>``) and a fresh database opened in its place, on the spool's thread,
numbering its batches after the last one decoded and keeping each sink's
progress, so every part goes on as before: the committer writes what it holds
into the fresh one, nothing read off a socket is lost, and the receiver never
pauses. The damaged file is then salvaged into the fresh database
(:func:`bridge.spool.salvage.salvage`) on the spool's thread, while packets
wait in the committer's memory for the few seconds it takes.

At start (:func:`open_or_replace`) a file SQLite refuses is moved aside the
same way, and salvaged once the bridge listens.

The person is told by the log (the salvage report, a line each), the status
and the problem ``disk_damaged`` with the report's summary. The problem stays
until the bridge restarts: the card is failing whatever the salvage brought
back, and the moved file is the person's to copy off it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bridge.errors import DatabaseError
from bridge.runtime.memory import RecentBatches
from bridge.runtime.reporting import ProblemBoard
from bridge.runtime.store import Store
from bridge.spool import Spool
from bridge.spool.salvage import SalvageReport, is_corruption, move_aside, summary
from wxstation.problems import disk_damaged

__all__ = ["Damage", "Recovery", "open_or_replace"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Damage:
    """A damaged database moved aside: where to, and SQLite's words."""

    moved: Path
    detail: str


def _words(err: BaseException) -> str:
    """SQLite's own words in ``err`` (the bridge's error wraps them in advice
    for a database that was not replaced)."""
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, sqlite3.Error):
        cause = cause.__cause__
    return str(cause if cause is not None else err)


def open_or_replace(spool: Spool) -> Damage | None:
    """Open ``spool``; a file SQLite finds damaged is moved aside and a fresh
    one opened instead (returned: salvage it once running). Raises
    :class:`DatabaseError` for anything else."""
    try:
        spool.open()
        return None
    except DatabaseError as err:
        if not is_corruption(err):
            raise
        detail = _words(err)
    moved = move_aside(spool.path, "damaged")
    log.error(
        "the database %s is damaged (%s): moved to %s; starting with a fresh one and "
        "salvaging the damaged file in the background",
        spool.path,
        detail,
        moved,
    )
    spool.open()
    return Damage(moved, detail)


class Recovery:
    """Replaces the damaged database at ``path`` with a fresh one and salvages it.

    ``memory`` says where decoding and each sink are (the fresh database goes
    on from there); ``on_fresh`` is called once a fresh database is in place
    and again once the salvage copied into it (the decoder and the sinks'
    drivers are woken).
    """

    def __init__(
        self,
        store: Store,
        problems: ProblemBoard,
        memory: RecentBatches,
        *,
        path: Path,
        on_fresh: Callable[[], None],
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._problems = problems
        self._memory = memory
        self._path = path
        self._on_fresh = on_fresh
        self._clock = clock
        self._replacing: asyncio.Task[bool] | None = None
        self._salvaging: list[asyncio.Task[None]] = []
        #: The latest damage and what its salvage said (for the status).
        self.notice: str | None = None
        #: The salvage reports, oldest first.
        self.reports: list[SalvageReport] = []
        store.watch_damage(self.damaged)

    def damaged(self, err: BaseException, generation: int) -> None:
        """The store's word: a call on database ``generation`` found it damaged.
        A call on a database replaced since says nothing new."""
        if generation != self._store.generation:
            return
        if self._replacing is None or self._replacing.done():
            self._replacing = asyncio.create_task(self._replace(_words(err)), name="recovery")

    async def follow(self) -> bool:
        """Wait for the replacement under way, if any; whether a fresh database
        is in place to try again with."""
        if self._replacing is None:
            return False
        return await asyncio.shield(self._replacing)

    def found_at_start(self, damage: Damage) -> None:
        """The file was damaged at start and moved aside: tell it, and salvage it."""
        self._tell(damage)
        self._salvage_later(damage)

    async def _replace(self, detail: str) -> bool:
        try:
            moved = await self._store.start_fresh(
                "damaged", self._memory.newest, self._memory.positions()
            )
        except Exception as err:
            log.error(
                "the database %s is damaged (%s) and no fresh one can take its place: %s; "
                "trying again with the next statement",
                self._path,
                detail,
                err,
            )
            return False
        damage = Damage(moved, detail)
        log.error(
            "the database %s is damaged (%s): moved to %s; receiving into a fresh database "
            "and salvaging the damaged file in the background",
            self._path,
            detail,
            moved,
        )
        self._tell(damage)
        self._on_fresh()
        self._salvage_later(damage)
        return True

    def _tell(self, damage: Damage, salvaged: str | None = None) -> None:
        self.notice = f"the database was damaged ({damage.detail}) and moved to {damage.moved}"
        if salvaged:
            self.notice += f"; salvaged: {salvaged}"
        problem = disk_damaged(
            str(self._path), damage.detail, str(damage.moved), self._clock(), salvaged
        )
        self._problems.raise_problem(problem)

    def _salvage_later(self, damage: Damage) -> None:
        self._salvaging.append(
            asyncio.create_task(self._salvage(damage), name=f"salvage {damage.moved.name}")
        )

    async def _salvage(self, damage: Damage) -> None:
        try:
            report = await self._store.salvage(damage.moved)
        except Exception as err:
            log.error(
                "cannot salvage %s: %s; run 'wxstation-bridge salvage %s' once the bridge "
                "is stopped",
                damage.moved,
                err,
                damage.moved,
            )
            self._tell(damage, f"nothing, the salvage failed ({err})")
            return
        self.reports.append(report)
        for line in report.lines():
            log.warning("%s", line)
        self._tell(damage, summary(report))
        self._on_fresh()
