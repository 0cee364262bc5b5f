"""What every part of the database shares: its connection, transactions, and
SQLite's errors turned into the bridge's.

Each group of tables is an object of its own module (packets, samples, sink
progress, noise, export, history), built with the :class:`Handle` to the
database and whatever else it needs; :class:`bridge.spool.Spool` opens the
connection and holds them. Every public method of those objects raises
:class:`~bridge.errors.DatabaseError` (or :class:`~bridge.errors.DatabaseBusyError`)
where SQLite raised ``sqlite3.Error``, with the database's path and what to do,
so a caller (and the command line's exit code) goes by the error's type.
"""

from __future__ import annotations

import functools
import inspect
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bridge.errors import DatabaseBusyError, DatabaseError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "Handle",
    "database_error",
    "give_back_pages",
    "is_corruption",
    "transaction",
    "typed_errors",
]

#: How long a statement waits for another connection's lock before it fails:
#: long enough for any one transaction of a running bridge (a group commit,
#: a pass of the decoder) on a slow SD card.
BUSY_TIMEOUT_MS = 10_000

# SQLite's primary result codes (https://sqlite.org/rescode.html) the bridge
# has advice for; an extended code carries its primary one in its low byte.
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


def is_corruption(err: BaseException) -> bool:
    """Whether ``err`` (SQLite's, or the bridge's error made of it) says the
    database file is damaged: ``SQLITE_CORRUPT`` or ``SQLITE_NOTADB``."""
    while err is not None and not isinstance(err, sqlite3.Error):
        err = err.__cause__  # type: ignore[assignment]
    if err is None:
        return False
    code = (getattr(err, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (_CORRUPT, _NOTADB):
        return True
    # Without a result code (Python before 3.11 or an error raised by the
    # module itself), SQLite's own words say it.
    text = str(err)
    return "malformed" in text or "file is not a database" in text


def give_back_pages(db: sqlite3.Connection) -> None:
    """Give the database's free pages back to the filesystem (incremental
    vacuum) and copy its write-ahead log into it, cutting the log back to
    nothing: after a deletion, the files then take what is left, not what
    the database once needed. A database opened before incremental vacuum
    was set only has its log cut back (see
    :func:`bridge.spool.schema.switch_to_incremental_vacuum`)."""
    # Each step of the statement frees one page, and execute() steps a pragma
    # without result columns once; executescript() runs it to its end.
    db.executescript("PRAGMA incremental_vacuum;")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def database_error(path: Path, err: sqlite3.Error) -> DatabaseError:
    """SQLite's ``err`` on the database at ``path`` as the bridge's error, saying what to do."""
    code = (getattr(err, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (_BUSY, _LOCKED):
        return DatabaseBusyError(
            path,
            f"{path} is locked by another process ({err}): stop whatever else "
            "writes to it (another bridge, a sqlite3 shell)",
        )
    if code == _READONLY:
        advice = f"give the bridge's user write access to it and to {path.parent}"
    elif code in (_CORRUPT, _NOTADB):
        advice = (
            f"it is damaged: stop the bridge and run 'wxstation-bridge salvage {path}', which "
            "moves it aside and copies what can be read of it into a fresh database"
        )
    elif code == _FULL:
        advice = "free space on its disk, or lower storage.max_size_mb"
    elif code in (_IOERR, _CANTOPEN):
        advice = "check its disk and the permissions of it and its directory"
    else:
        return DatabaseError(path, f"cannot use {path}: {err}")
    return DatabaseError(path, f"cannot use {path} ({err}): {advice}")


@contextmanager
def transaction(db: sqlite3.Connection, *, durable: bool = True) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on error.

    A ``durable`` commit is on disk when it returns (``synchronous=FULL``, the
    connection's setting). Otherwise it skips the fsync (``NORMAL``): for what can
    be derived again from what is durable (a packet decoded again, a batch
    delivered again, both harmless). In WAL mode that is still atomic and in
    order: a power cut can only lose the newest such commits, never an older
    durable one, and the next durable commit syncs them with it; a crash of the
    process alone loses none.
    """
    if not durable:
        db.execute("PRAGMA synchronous=NORMAL")
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
            db.execute("COMMIT")
        except BaseException:
            # SQLite rolls back by itself on some errors (SQLITE_FULL among them);
            # a second ROLLBACK would fail and hide the error that says what happened.
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    finally:
        if not durable:
            db.execute("PRAGMA synchronous=FULL")


class Handle:
    """The database at ``path``, its size cap of ``max_size`` bytes, and its
    connection while the spool has it open.

    Each group of tables is built with the handle before the file is opened,
    and reaches the connection and the cap through it; only
    :class:`bridge.spool.Spool` opens and closes it, and sets the cap.
    """

    def __init__(self, path: Path, max_size: int) -> None:
        self.path = path
        self.max_size = max_size
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        """The open connection; raises :class:`DatabaseError` while there is none."""
        if self._db is None:
            raise DatabaseError(self.path, f"{self.path} is not open: open the spool first")
        return self._db

    def attach(self, db: sqlite3.Connection) -> None:
        """Use ``db``, the database opened, from now on."""
        self._db = db

    def close(self) -> None:
        """Close the connection, if open."""
        if self._db is not None:
            self._db.close()
            self._db = None


class _OnDatabase(Protocol):
    """What :func:`typed_errors` needs of an object: the handle its errors name."""

    _handle: Handle


_Class = TypeVar("_Class", bound=type[Any])


def typed_errors(cls: _Class) -> _Class:
    """Make the public methods of ``cls`` raise :func:`database_error` for ``sqlite3.Error``.

    Its instances keep their :class:`Handle` as ``_handle``, whose path the
    error names.
    """
    for name, method in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(method):
            continue
        setattr(cls, name, _typed(method))
    return cls


def _typed(method: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def rows(self: _OnDatabase, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from method(self, *args, **kwargs)
            except sqlite3.Error as err:
                raise database_error(self._handle.path, err) from err

        return rows

    @functools.wraps(method)
    def call(self: _OnDatabase, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as err:
            raise database_error(self._handle.path, err) from err

    return call
