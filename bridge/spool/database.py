"""The database as one object: open it, use it from one thread, close it.

:class:`Spool` is every group of tables over one connection, and owns what
concerns the whole file: opening and closing it, and whether more packets fit.
It is synchronous and not thread-safe: the runtime calls it from one thread
only (see :class:`bridge.pipeline.SpoolThread`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bridge.config import StorageConfig, config_default
from bridge.spool.base import typed_errors
from bridge.spool.export import ExportTables
from bridge.spool.giving_way import HistoryTables
from bridge.spool.noise_store import NoiseTables
from bridge.spool.packets import PacketTables
from bridge.spool.sample_store import SampleTables
from bridge.spool.schema import connect
from bridge.spool.sink_progress import SinkTables

__all__ = ["Spool"]


@typed_errors
class Spool(PacketTables, SampleTables, SinkTables, NoiseTables, ExportTables, HistoryTables):
    """The bridge's database. Open it, use it from one thread, close it."""

    def __init__(
        self,
        path: Path,
        *,
        max_size_mb: float = config_default(StorageConfig, "max_size_mb"),
        min_free_mb: float = config_default(StorageConfig, "min_free_mb"),
    ):
        self.path = path
        self.max_size = int(max_size_mb * 1024 * 1024)
        self.min_free = int(min_free_mb * 1024 * 1024)
        self._db = None

    def open(self) -> Spool:
        """Open the database, creating or upgrading it; raises :class:`DatabaseError`."""
        self._db = connect(self.path, self.max_size)
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Spool:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def used(self) -> int:
        """Bytes the database takes: its pages in use and its write-ahead log.

        Pages freed by deletions are not counted: SQLite writes into them
        before it grows the file.
        """
        page_size, pages, free = (
            int(self.db.execute(f"PRAGMA {name}").fetchone()[0])
            for name in ("page_size", "page_count", "freelist_count")
        )
        wal = self.path.with_name(self.path.name + "-wal")
        return (pages - free) * page_size + (wal.stat().st_size if wal.exists() else 0)

    def disk_short_of_cap(self) -> str | None:
        """What to change when the disk fills before the database reaches its cap,
        or None when the cap fits.

        Delivered history gives way at the cap, not at a full disk: on a disk
        smaller than that, the bridge stops accepting packets once
        ``storage.min_free_mb`` is reached, as it does when raw packets fill it.
        """
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        on_disk = sum(f.stat().st_size for f in files if f.exists())
        room = on_disk + shutil.disk_usage(self.path.parent).free - self.min_free
        if self.max_size <= room:
            return None
        return (
            f"storage.max_size_mb ({self.max_size / 1e6:.0f} MB) is more than the disk of "
            f"{self.path.parent} can give the database ({max(room, 0) / 1e6:.0f} MB, keeping "
            "storage.min_free_mb free): it would fill before decoded history gives way, and "
            f"the bridge would then stop accepting packets. Set storage.max_size_mb to "
            f"{max(room, 0) * 0.9 / 1024 / 1024:.0f} or less, or free space on the disk"
        )

    def room(self) -> str | None:
        """Why no more packets fit, or None while they do.

        At the cap, the room that traffic which is not a station's takes is
        given back first (:meth:`give_back`); station data is never dropped to
        make room. Delivered decoded history gives way before the cap is
        reached (:meth:`give_way`, which the pipeline calls first).
        """
        size = self.used()
        if size >= self.max_size and self.give_back():
            size = self.used()
        if size >= self.max_size:
            return (
                f"the database is {size / 1e6:.1f} MB, at its cap (storage.max_size_mb), "
                "and raw packets and undelivered samples alone fill it"
            )
        free = shutil.disk_usage(self.path.parent).free
        if free < self.min_free:
            return (
                f"only {free / 1e6:.0f} MB free on the disk of {self.path.parent} "
                "(storage.min_free_mb)"
            )
        return None
