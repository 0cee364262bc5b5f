"""The bridge's errors: one tree, each error carrying what a caller acts on.

The tree's root, :class:`WxStationError`, and :class:`ConfigError` are the
library's (``wxstation.errors``); the bridge adds those of its database and its
input files. The command line picks its exit code by the error's type (see
``bridge.cli``); other subclasses live beside the code they describe:
:class:`wxstation.protocol.PacketError` for a packet the bridge refuses,
:class:`bridge.sinks.SinkError` for a delivery that failed.
"""

from __future__ import annotations

from pathlib import Path

from wxstation.errors import ConfigError, WxStationError

__all__ = [
    "ConfigError",
    "DatabaseBusyError",
    "DatabaseError",
    "InputFileError",
    "SchemaError",
    "WxStationError",
]


class DatabaseError(WxStationError):
    """The bridge cannot use its database at ``path``; the message says why."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


class DatabaseBusyError(DatabaseError):
    """Another process holds the database: a bridge (its lock file), or
    SQLite's lock for longer than a statement waits."""

    def __init__(self, path: Path, message: str | None = None) -> None:
        super().__init__(path, message or f"another wxstation bridge is using {path}")


class SchemaError(DatabaseError):
    """The database's schema is one this bridge cannot use or upgrade.

    ``found`` is the database's schema version, ``supported`` the newest this
    bridge knows.
    """

    def __init__(self, path: Path, message: str, *, found: int, supported: int) -> None:
        super().__init__(path, message)
        self.found = found
        self.supported = supported


class InputFileError(WxStationError):
    """A file the user gave a command cannot be read; ``line`` is where, when known."""

    def __init__(self, path: str | Path, reason: str, *, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason
