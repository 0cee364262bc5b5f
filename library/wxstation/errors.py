"""The root of the project's errors, and the config's.

Every error the library and the bridge raise on purpose is a
:class:`WxStationError`, and its message says what went wrong and what to do
about it. Other subclasses live beside the code they describe:
:class:`wxstation.protocol.PacketError` for a packet that is refused,
:class:`wxstation.batch_message.BatchMessageError` for a batch message that is;
the bridge adds its own (``bridge.errors``).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ConfigError", "WxStationError"]


class WxStationError(Exception):
    """The root of the project's errors; ``str()`` is a message for a person."""


class ConfigError(WxStationError):
    """A config the bridge cannot run with; the message says where and why.

    ``source`` is the config file, when the problem is in one; ``problems`` are
    the invalid keys, each as ``key path: what is wrong``, when the file was read.
    """

    def __init__(
        self, message: str, *, source: Path | None = None, problems: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.source = source
        self.problems = problems
