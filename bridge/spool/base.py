"""What every part of the database shares: its connection, transactions, and
SQLite's errors turned into the bridge's.

Each group of tables keeps its methods in a class of its own module (packets,
samples, sink progress, noise, export); :class:`bridge.spool.Spool` is all of
them over one connection. Every public method of those classes raises
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
from typing import Any, TypeVar

from bridge.errors import DatabaseBusyError, DatabaseError

__all__ = ["BUSY_TIMEOUT_MS", "Tables", "database_error", "transaction", "typed_errors"]

#: How long a statement waits for another connection's lock before it fails:
#: long enough for any one transaction of a running bridge (a group commit,
#: a pass of the decoder) on a slow SD card.
BUSY_TIMEOUT_MS = 10_000

# SQLite's primary result codes (https://sqlite.org/rescode.html) the bridge
# has advice for; an extended code carries its primary one in its low byte.
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


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
            "it is damaged: stop the bridge, move it aside, and recover what it holds "
            "with sqlite3's .recover"
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


class Tables:
    """The database's path, its size cap and its open connection, which the
    methods of each group of tables use."""

    path: Path
    max_size: int
    _db: sqlite3.Connection | None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise DatabaseError(self.path, f"{self.path} is not open: open the spool first")
        return self._db


_Class = TypeVar("_Class", bound=type[Tables])


def typed_errors(cls: _Class) -> _Class:
    """Make the public methods of ``cls`` raise :func:`database_error` for ``sqlite3.Error``."""
    for name, method in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(method):
            continue
        setattr(cls, name, _typed(method))
    return cls


def _typed(method: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def rows(self: Tables, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from method(self, *args, **kwargs)
            except sqlite3.Error as err:
                raise database_error(self.path, err) from err

        return rows

    @functools.wraps(method)
    def call(self: Tables, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as err:
            raise database_error(self.path, err) from err

    return call
