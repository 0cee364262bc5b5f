"""Packets held off the database while its disk fails writes, merged back once it works.

A disk that turns read-only (ext4's ``errors=remount-ro`` after it finds an
error) or fails writes (EIO on write or fsync: ``SQLITE_IOERR``,
``SQLITE_READONLY``) must not silence the stations: each keeps only about two
hours of samples while it cannot deliver. The committer hands what
connections delivered to the :class:`Fallback` instead, and the receiver goes
on accepting while it has room:

- first memory, up to :data:`FALLBACK_MEMORY_BYTES`;
- then, when ``storage.fallback_path`` names a directory (on another disk),
  an append-only file there (``<database name>.held``), up to
  :data:`FALLBACK_FILE_BYTES`, fsynced after each group;
- past both, the committer keeps the group in its own memory and the receiver
  pauses (stations keep their samples and send them again later).

Every :data:`PROBE_INTERVAL` seconds the database is opened again and the held
packets are written to it, oldest first, in groups; once all are in, the
problem clears and the committer writes directly again. While packets are
held: one log line a minute, the status (``/healthz`` answers 503 with the
reason) and the problem ``disk_read_only`` or ``disk_io_error``.

What survives a restart: the file. At a stop with packets still in memory,
they are written to the file's front (memory holds older packets than the
file); without ``storage.fallback_path`` they are lost, and the log says how
many. At the next start a file left is merged before anything new.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import sqlite3
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path

from bridge.runtime.reporting import ProblemBoard
from bridge.runtime.status import RuntimeEvents
from bridge.runtime.store import Store
from wxstation.packets import Received
from wxstation.problems import DISK_IO_ERROR, DISK_READ_ONLY, disk_io_error, disk_read_only

__all__ = [
    "FALLBACK_FILE_BYTES",
    "FALLBACK_MEMORY_BYTES",
    "FULL_DISK_BYTES",
    "LOUD_INTERVAL",
    "MERGE_GROUP",
    "PROBE_INTERVAL",
    "READ_BYTES",
    "Fallback",
    "HeldFile",
    "write_fault",
]

log = logging.getLogger(__name__)

#: Bytes of packets held in memory: 64 MB is about 100 000 packets (months of
#: 40 stations waking hourly) and a small part of a Raspberry Pi's memory.
FALLBACK_MEMORY_BYTES = 64 * 1024 * 1024
#: Bytes the file in ``storage.fallback_path`` may grow to: about 2 million
#: packets, while leaving the other disk room for its own use.
FALLBACK_FILE_BYTES = 1024 * 1024 * 1024
#: What a held packet costs in memory beyond its bytes and its peer's text:
#: the object, its float and its strings' headers.
PACKET_OVERHEAD = 120
#: Seconds between tries of the disk while packets are held: soon enough that
#: a disk remounted read-write is used again at once, rare enough to cost
#: nothing on a disk that stays broken.
PROBE_INTERVAL = 5.0
#: Seconds between the log lines that say packets are held: loud, not a flood.
LOUD_INTERVAL = 60.0
#: Bytes free below which a disk counts as full, whatever SQLite's error
#: says: the full disk's own path (the receiver pauses until there is room).
FULL_DISK_BYTES = 1024 * 1024
#: Held packets written back per transaction.
MERGE_GROUP = 500
#: Bytes of the file read for one group: far more than :data:`MERGE_GROUP`
#: station packets take, so merging a large file reads each byte about once.
READ_BYTES = 4 * 1024 * 1024

# SQLite's primary result codes (https://sqlite.org/rescode.html) of a disk
# that fails writes; SQLITE_FULL (13) is the database's own "full" path.
_READONLY, _IOERR, _CANTOPEN = 8, 10, 14
_DISK_ERRNOS = frozenset({errno.EIO, errno.EROFS})
#: One held packet in the file: arrival (unix seconds), the peer's length, the
#: data's length; the peer (UTF-8) and the data follow.
_RECORD = struct.Struct("<dHI")


def write_fault(err: BaseException, path: Path) -> str | None:
    """Which disk fault ``err`` (a failed write to the database at ``path``)
    is: :data:`~wxstation.problems.DISK_READ_ONLY`,
    :data:`~wxstation.problems.DISK_IO_ERROR`, or None for any other error (a full
    disk, also when SQLite calls it an I/O error; a damaged file; a bug)."""
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, sqlite3.Error | OSError):
        cause = cause.__cause__
    if isinstance(cause, sqlite3.Error):
        code = (getattr(cause, "sqlite_errorcode", None) or 0) & 0xFF
        if code not in (_READONLY, _IOERR, _CANTOPEN):
            return None
        read_only = code == _READONLY
    elif isinstance(cause, OSError) and cause.errno in _DISK_ERRNOS:
        read_only = cause.errno == errno.EROFS
    else:
        return None
    with contextlib.suppress(OSError):
        if shutil.disk_usage(path.parent).free < FULL_DISK_BYTES:
            # SQLite may say "disk I/O error" for a write a full disk refused.
            return None
    return DISK_READ_ONLY if read_only or _read_only(path.parent) else DISK_IO_ERROR


def _read_only(directory: Path) -> bool:
    """Whether the filesystem of ``directory`` is read-only. A file is made to
    tell: ext4 after an error (``errors=remount-ro``) refuses writes with
    EROFS while its mount flags may still say read-write."""
    with contextlib.suppress(OSError):
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return True
    probe = directory / f".wxstation-probe-{os.getpid()}"
    try:
        probe.touch()
    except OSError as err:
        return err.errno == errno.EROFS
    probe.unlink(missing_ok=True)
    return False


def _size(item: Received) -> int:
    return len(item.data) + len(item.peer) + PACKET_OVERHEAD


def held_path(database: Path, directory: Path) -> Path:
    """The file in ``directory`` (``storage.fallback_path``) that holds the packets
    of ``database`` while its disk fails writes."""
    return directory / f"{database.name}.held"


class HeldFile:
    """The append-only file of held packets at ``path``: appended to, read
    from the front in groups, removed once all of it was merged."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: Where the first record not merged yet starts.
        self.read_at = 0

    @property
    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    @property
    def unmerged(self) -> int:
        """Bytes of records not merged yet."""
        return max(0, self.size - self.read_at)

    def append(self, items: Sequence[Received], *, front: bytes = b"") -> None:
        """Write ``items`` after what the file holds, on disk when it returns."""
        with self.path.open("ab") as file:
            file.write(front + b"".join(_encode(item) for item in items))
            file.flush()
            os.fsync(file.fileno())

    def read(self, limit: int) -> tuple[list[Received], int]:
        """Up to ``limit`` records from :attr:`read_at`, and where the next starts."""
        with self.path.open("rb") as file:
            file.seek(self.read_at)
            data = file.read(READ_BYTES)
            if len(data) == READ_BYTES and next(_records(data, 0), None) is None:
                data += file.read()
            items: list[Received] = []
            at = self.read_at
            for item, end in _records(data, at):
                items.append(item)
                at = end
                if len(items) >= limit:
                    break
        return items, at

    def rewrite(self, first: Sequence[Received]) -> None:
        """``first``, then the records not merged yet, as the whole file."""
        rest = b""
        if self.path.exists():
            with self.path.open("rb") as file:
                file.seek(self.read_at)
                rest = file.read()
        temporary = self.path.with_name(self.path.name + ".new")
        temporary.unlink(missing_ok=True)
        HeldFile(temporary).append(first, front=b"")
        with temporary.open("ab") as file:
            file.write(rest)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(self.path)
        self.read_at = 0

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self.read_at = 0


def _encode(item: Received) -> bytes:
    peer = item.peer.encode()
    return _RECORD.pack(item.received_at, len(peer), len(item.data)) + peer + item.data


def _records(data: bytes, offset: int) -> Iterator[tuple[Received, int]]:
    """The whole records of ``data`` (read at ``offset`` of the file), each with
    the file offset after it; a record cut short by a crash ends them."""
    at = 0
    while at + _RECORD.size <= len(data):
        received_at, peer_length, data_length = _RECORD.unpack_from(data, at)
        start = at + _RECORD.size
        end = start + peer_length + data_length
        if end > len(data):
            return
        peer = data[start : start + peer_length].decode(errors="replace")
        yield Received(data[start + peer_length : end], received_at, peer), offset + end
        at = end


class Fallback:
    """Packets held while the database at ``path`` fails writes; merged back
    by :meth:`run`. ``directory`` is ``storage.fallback_path`` (None: memory only).

    ``reopen`` opens the database again before each try, and has the
    runtime go on from what its disk holds: a disk that failed may have lost
    the newest commits that did not wait for an fsync (the decoder's).
    ``on_committed`` hears each merged group (the decoder is woken);
    ``events`` counts them as committed.
    """

    def __init__(
        self,
        store: Store,
        problems: ProblemBoard,
        *,
        path: Path,
        directory: Path | None,
        reopen: Callable[[], Awaitable[None]],
        on_committed: Callable[[], None],
        events: RuntimeEvents,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._problems = problems
        self._path = path
        self._file = HeldFile(held_path(path, directory)) if directory else None
        self._reopen = reopen
        self._on_committed = on_committed
        self._events = events
        self._clock = clock
        self._memory: deque[Received] = deque()
        self._memory_bytes = 0
        #: The fault's kind and words while packets are held, and since when.
        self._fault: tuple[str, str] | None = None
        self._engaged = asyncio.Event()
        self._said_at = 0.0
        #: Packets merged back since the fault began (for the line that says it ended).
        self._merged = 0

    @property
    def holding(self) -> bool:
        """Whether packets go here instead of to the database."""
        return self._fault is not None

    @property
    def reason(self) -> str | None:
        """Why packets are held off the database, and how many; None while they are not."""
        if self._fault is None:
            return None
        kind, detail = self._fault
        what = "is read-only" if kind == DISK_READ_ONLY else "fails writes"
        held = f"{len(self._memory)} packets held in memory ({self._memory_bytes / 1e6:.1f} MB of "
        held += f"{FALLBACK_MEMORY_BYTES / 1e6:.0f} MB)"
        if self._file is not None:
            held += f", {self._file.unmerged / 1e6:.1f} MB in {self._file.path}"
        return (
            f"the disk of the database {self._path} {what} ({detail}): {held}; "
            f"trying it again every {PROBE_INTERVAL:g} s"
        )

    async def start(self) -> None:
        """Merge the packets the last run left in the file, before any new one;
        while the disk does not take them, hold from the start."""
        file = self._file
        if file is None or not file.size:
            return
        log.warning("merging the packets the last run held in %s", file.path)
        self._fault = (DISK_IO_ERROR, f"packets held by the last run in {file.path}")
        self._merged = 0
        try:
            await self.merge()
        except Exception as err:
            self._fault = None
            self._engage(write_fault(err, self._path) or DISK_IO_ERROR, str(err))

    def engage(self, err: BaseException) -> bool:
        """Hold packets from now on if ``err`` is a disk fault and there is room;
        whether they are held."""
        kind = write_fault(err, self._path)
        if kind is None:
            return False
        self._engage(kind, str(err))
        return self._has_room(1)

    def _engage(self, kind: str, detail: str) -> None:
        fault = (kind, detail)
        if self._fault is None:
            self._merged = 0
            log.error(
                "cannot write the database %s (%s): holding what stations send "
                "(memory up to %.0f MB%s) and trying the disk every %g s",
                self._path,
                detail,
                FALLBACK_MEMORY_BYTES / 1e6,
                f", then {self._file.path}" if self._file else "",
                PROBE_INTERVAL,
            )
            self._said_at = time.monotonic()
        self._fault = fault
        problem = disk_read_only if kind == DISK_READ_ONLY else disk_io_error
        self._problems.raise_problem(problem(str(self._path), detail, self._clock()))
        for other in (DISK_READ_ONLY, DISK_IO_ERROR):
            if other != kind:
                self._problems.clear(other)
        self._engaged.set()

    def _has_room(self, size: int) -> bool:
        if self._file is not None and self._file.unmerged:
            return self._file.size + size <= FALLBACK_FILE_BYTES
        if self._memory_bytes + size <= FALLBACK_MEMORY_BYTES:
            return True
        return self._file is not None and self._file.size + size <= FALLBACK_FILE_BYTES

    def hold(self, group: Sequence[Received]) -> bool:
        """Keep ``group`` until the disk takes it; False when there is no room
        (the caller keeps it)."""
        size = sum(_size(item) for item in group)
        if not self._has_room(size):
            return False
        file = self._file
        spill = self._memory_bytes + size > FALLBACK_MEMORY_BYTES
        if file is not None and (file.unmerged or spill):
            try:
                file.append(group)
            except OSError as err:
                log.error("cannot hold packets in %s: %s", file.path, err)
                return False
        else:
            self._memory.extend(group)
            self._memory_bytes += size
        return True

    async def run(self) -> None:
        """While packets are held: try the disk every :data:`PROBE_INTERVAL`
        seconds, say so once a minute, merge them back once it takes writes."""
        while True:
            if self._fault is None:
                await self._engaged.wait()
                self._engaged.clear()
                continue
            await asyncio.sleep(PROBE_INTERVAL)
            self._say_so()
            try:
                await self.merge()
            except Exception as err:
                kind = write_fault(err, self._path)
                if kind is not None:
                    self._engage(kind, str(err))
                else:
                    log.debug("the disk does not take held packets yet: %s", err)

    def _say_so(self) -> None:
        now = time.monotonic()
        if now - self._said_at >= LOUD_INTERVAL and self.reason is not None:
            self._said_at = now
            log.error("%s", self.reason)

    async def merge(self) -> None:
        """Write every held packet to the database, oldest first; then write
        directly again. Raises what the database raised."""
        await self._reopen()
        while True:
            group, drop = self._front()
            if not group:
                break
            await self._store.add_packets(group)
            drop()
            self._merged += len(group)
            self._events.committed(group)
            self._on_committed()
        if self._fault is not None:
            log.warning(
                "the database %s takes writes again: the %d packets held are in it",
                self._path,
                self._merged,
            )
            self._fault = None
            self._problems.clear(DISK_READ_ONLY)
            self._problems.clear(DISK_IO_ERROR)

    def _front(self) -> tuple[list[Received], Callable[[], None]]:
        """The oldest held packets (memory's first, then the file's), and how
        to drop them once merged."""
        if self._memory:
            group = [self._memory[n] for n in range(min(MERGE_GROUP, len(self._memory)))]

            def forget() -> None:
                for _ in group:
                    self._memory_bytes -= _size(self._memory.popleft())

            return group, forget
        file = self._file
        if file is None or not file.unmerged:
            if file is not None:
                file.remove()
            return [], lambda: None
        group, end = file.read(MERGE_GROUP)

        def advance() -> None:
            file.read_at = end

        return group, advance

    async def finish(self) -> None:
        """At a stop: one last try of the disk, then what memory holds goes to
        the file's front, or is said lost when there is no file."""
        if self._fault is None:
            return
        try:
            await self.merge()
            return
        except Exception as err:
            log.error("the database %s still fails writes at the stop: %s", self._path, err)
        count = len(self._memory)
        if not count:
            return
        if self._file is not None:
            try:
                self._file.rewrite(list(self._memory))
                log.warning(
                    "%d packets held in memory are in %s, merged at the next start",
                    count,
                    self._file.path,
                )
                return
            except OSError as err:
                log.error("cannot write the held packets to %s: %s", self._file.path, err)
        log.error(
            "stopping with %d packets held in memory that the disk did not take: they are "
            "lost (set storage.fallback_path to a directory on another disk to keep them "
            "across a restart)",
            count,
        )
