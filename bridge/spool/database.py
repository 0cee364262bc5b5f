"""The database as one object: open it, use it from one thread, close it.

:class:`Spool` owns the connection and what concerns the whole file: opening
and closing it, the bytes it takes, and whether more packets fit. Each group of
tables is an object it holds, built with what that group needs:
``spool.packets``, ``spool.samples``, ``spool.progress``, ``spool.noise``,
``spool.export`` and ``spool.history``. It is synchronous and not
thread-safe: the runtime calls it from one thread only (see
:class:`bridge.runtime.store.Store`).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from bridge.spool.base import Handle, typed_errors
from bridge.spool.export import Export
from bridge.spool.giving_way import History, used_pages
from bridge.spool.noise_store import Noise
from bridge.spool.packets import Packets
from bridge.spool.sample_store import Samples
from bridge.spool.schema import connect
from bridge.spool.sink_progress import SinkProgress
from wxstation.config import StorageConfig, config_default

__all__ = ["Spool"]


@typed_errors
class Spool:
    """The bridge's database. Open it, use it from one thread, close it.

    Each group of tables is one of the attributes below, used as
    ``spool.packets.add(...)``; all of them share the spool's connection.
    """

    #: Packets as they arrived, and their state.
    packets: Packets
    #: Decoded batches, their samples, conflicts and the stations' clocks.
    samples: Samples
    #: Where each sink is, and the batches it refused.
    progress: SinkProgress
    #: Traffic that was not a station's.
    noise: Noise
    #: Samples and raw packets read out.
    export: Export
    #: The decoded history against the cap: what gives way, and the growth.
    history: History

    def __init__(
        self,
        path: Path,
        *,
        max_size_mb: float = config_default(StorageConfig, "max_size_mb"),
        min_free_mb: float = config_default(StorageConfig, "min_free_mb"),
    ):
        self.path = path
        self.min_free = int(min_free_mb * 1024 * 1024)
        self._handle = handle = Handle(path, int(max_size_mb * 1024 * 1024))
        self.packets = Packets(handle)
        self.samples = Samples(handle)
        self.progress = SinkProgress(handle)
        self.noise = Noise(handle)
        self.export = Export(handle)
        self.history = History(handle, self.used)

    @property
    def max_size(self) -> int:
        """The database's size cap in bytes (``storage.max_size_mb``).

        Set, it holds for every group of tables at once; the write-ahead log
        keeps the size it was given for the cap the database was opened with.
        """
        return self._handle.max_size

    @max_size.setter
    def max_size(self, max_size: int) -> None:
        self._handle.max_size = max_size

    @property
    def db(self) -> sqlite3.Connection:
        """The open connection; raises :class:`~bridge.errors.DatabaseError` when closed."""
        return self._handle.db

    def open(self) -> Spool:
        """Open the database, creating or upgrading it; raises :class:`DatabaseError`."""
        self._handle.attach(connect(self.path, self.max_size))
        return self

    def close(self) -> None:
        """Close the database, if open."""
        self._handle.close()

    def __enter__(self) -> Spool:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def used(self) -> int:
        """Bytes the database takes: its pages in use and its write-ahead log.

        Pages freed by deletions are not counted: SQLite writes into them
        before it grows the file.
        """
        wal = self.path.with_name(self.path.name + "-wal")
        return used_pages(self.db) + (wal.stat().st_size if wal.exists() else 0)

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
        given back first (:meth:`Noise.give_back <bridge.spool.noise_store.Noise.give_back>`);
        station data is never dropped to make room. Delivered decoded history
        gives way before the cap is reached
        (:meth:`History.give_way <bridge.spool.giving_way.History.give_way>`, which the
        runtime calls first).
        """
        size = self.used()
        if size >= self.max_size and self.noise.give_back():
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
