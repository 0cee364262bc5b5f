"""The bridge's problems: what is wrong now that a person has to put right.

A :class:`Problem` is a value: a stable key (one problem, however often it
recurs: ``upload_refused:wunderground:KXXYYY12``, ``disk_read_only``), its
kind, the words a person reads (a title and a message), since when it has been
so and what to do about it. :class:`Problems` is the set of those that hold
now: a problem is raised, raised again with new words (it keeps its ``since``)
and cleared. The runtime hands the whole set to every sink after each change
(:meth:`bridge.sinks.Sink.report_problems`); the MQTT sink publishes it,
retained, and the Home Assistant integration shows one repair issue per key.

The words go to the log, the page and Home Assistant, so no secret is ever in
them: the constructors here take the network's answer and remove the upload's
key from it (:func:`redact`), whatever the network echoed.

Pure code: no I/O, no clock (``since`` comes in).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from wxstation.config import UploadConfig
from wxstation.errors import WxStationError
from wxstation.samples import format_time, parse_time

__all__ = [
    "DISK_DAMAGED",
    "DISK_IO_ERROR",
    "DISK_READ_ONLY",
    "HIDDEN",
    "UPLOAD_REFUSED",
    "Problem",
    "ProblemFormatError",
    "Problems",
    "disk_damaged",
    "disk_io_error",
    "disk_read_only",
    "read_problems",
    "redact",
    "upload_key",
    "upload_refused",
]

#: The kinds of problem, each a key of its own or the head of its keys.
UPLOAD_REFUSED = "upload_refused"
DISK_DAMAGED = "disk_damaged"
DISK_READ_ONLY = "disk_read_only"
DISK_IO_ERROR = "disk_io_error"
#: Shown instead of a key or password.
HIDDEN = "***"


def redact(text: str, secrets: Sequence[str | None]) -> str:
    """``text`` without any of ``secrets``, as it is or as a URL would quote it."""
    for secret in secrets:
        if secret:
            for form in {secret, urlencode({"": secret})[1:]}:
                text = text.replace(form, HIDDEN)
    return text


class ProblemFormatError(WxStationError, ValueError):
    """A published problem this code cannot read; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the bridge, in the words a person reads."""

    #: Stable across runs and recurrences: names the problem, never its details.
    key: str
    kind: str
    #: One line: what is wrong.
    title: str
    #: What is wrong in full: which station, file or network, and its answer.
    message: str
    #: What to do about it, and whether it passes by itself.
    action: str
    #: Unix seconds since when it has been so.
    since: float

    def as_dict(self) -> dict[str, str]:
        """The problem as the MQTT sink publishes it (see docs/mqtt.md)."""
        return {
            "key": self.key,
            "kind": self.kind,
            "title": self.title,
            "message": self.message,
            "action": self.action,
            "since": format_time(round(self.since * 1000)),
        }

    @classmethod
    def from_dict(cls, raw: Any) -> Problem:
        """Read what :meth:`as_dict` wrote; raises :class:`ProblemFormatError`."""
        if not isinstance(raw, Mapping):
            raise ProblemFormatError("a problem is not a JSON object")
        texts = {}
        for name in ("key", "kind", "title", "message", "action", "since"):
            value = raw.get(name)
            if not isinstance(value, str) or not value:
                raise ProblemFormatError(f"a problem has no {name!r} text")
            texts[name] = value
        try:
            since = parse_time(texts.pop("since")) / 1000
        except ValueError:
            raise ProblemFormatError(f"problem {texts['key']!r}: 'since' is not a time") from None
        return cls(since=since, **texts)


def read_problems(payload: Any) -> list[Problem]:
    """The problems of a published list (``[]``: none); raises :class:`ProblemFormatError`."""
    if not isinstance(payload, list):
        raise ProblemFormatError("the problems are not a JSON list")
    return [Problem.from_dict(raw) for raw in payload]


class Problems:
    """The problems that hold now, by key."""

    def __init__(self) -> None:
        self._by_key: dict[str, Problem] = {}

    def raise_problem(self, problem: Problem) -> bool:
        """Hold ``problem``; one already held keeps its ``since`` and takes the new
        words. True when the set changed."""
        held = self._by_key.get(problem.key)
        if held is not None:
            problem = replace(problem, since=held.since)
        self._by_key[problem.key] = problem
        return problem != held

    def clear(self, key: str) -> bool:
        """The problem of ``key`` no longer holds; True when it did."""
        return self._by_key.pop(key, None) is not None

    def current(self) -> tuple[Problem, ...]:
        """Every problem held, the oldest first."""
        return tuple(sorted(self._by_key.values(), key=lambda p: (p.since, p.key)))

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.current())

    def __len__(self) -> int:
        return len(self._by_key)


def upload_key(upload: UploadConfig) -> str:
    """The key of the problem of ``upload`` being refused: to clear it once the
    network takes its uploads again."""
    return f"{UPLOAD_REFUSED}:{upload.name}"


def upload_refused(
    upload: UploadConfig, network: str, answer: str, since: float, *, credentials: bool
) -> Problem:
    """``network`` (its name as people know it) refuses the uploads of ``upload``
    with ``answer``; ``credentials`` when it refused the station id or key. The
    upload's key is never in the words, whatever the answer echoed."""
    answer = redact(answer, [upload.key])
    where = f"{network} (its station {upload.id}, from wxstation station {upload.station})"
    if credentials:
        title = f"{network} refuses the id or key of station {upload.id}"
        message = f"{where} refuses the station id or key: {answer}."
        action = (
            f"Check uploads: id and key of this upload (service {upload.service}) against "
            f"the station's page on {network}, and restart the bridge. Until then its "
            "uploads are kept aside, none is lost; the network is asked again every "
            "few minutes, and this clears once it takes them."
        )
    else:
        title = f"{network} refused an observation of station {upload.id}"
        message = f"{where} refused an observation: {answer}."
        action = (
            "The refused observations are kept aside; see the bridge's log and status for "
            "which. This clears once the network takes the station's uploads again."
        )
    return Problem(upload_key(upload), UPLOAD_REFUSED, title, message, action, since)


def disk_damaged(
    path: str, detail: str, moved_to: str, since: float, salvaged: str | None = None
) -> Problem:
    """The database at ``path`` is damaged (SQLite's ``detail``) and was moved to
    ``moved_to``; ``salvaged`` says what the salvage copied, once it has run."""
    done = f" Salvaged: {salvaged}" if salvaged else " salvaging what it can."
    return Problem(
        DISK_DAMAGED,
        DISK_DAMAGED,
        "The wxstation bridge's database was damaged",
        f"SQLite found the database {path} damaged ({detail}); it was moved to "
        f"{moved_to} and the bridge goes on with a fresh one,{done}",
        "The disk (often an SD card) is failing: copy the moved file off it and replace "
        "the card or disk soon. This clears when the bridge restarts on a sound database.",
        since,
    )


def disk_read_only(path: str, detail: str, since: float) -> Problem:
    """The filesystem of the database at ``path`` turned read-only (``detail``)."""
    return Problem(
        DISK_READ_ONLY,
        DISK_READ_ONLY,
        "The wxstation bridge's disk is read-only",
        f"The filesystem of the database {path} is read-only ({detail}): the bridge "
        "holds what the stations send in memory meanwhile, within its bound.",
        "A filesystem that turns read-only by itself has found errors on the disk: check "
        "the kernel log (dmesg), repair it (fsck) and remount it read-write. The bridge "
        "writes again by itself, and this clears, once the disk takes writes.",
        since,
    )


def disk_io_error(path: str, detail: str, since: float) -> Problem:
    """Writing the database at ``path`` failed with an I/O error (``detail``)."""
    return Problem(
        DISK_IO_ERROR,
        DISK_IO_ERROR,
        "The wxstation bridge's disk fails to write",
        f"Writing the database {path} failed: {detail}. The bridge holds what the "
        "stations send in memory meanwhile, within its bound.",
        "The disk (often an SD card) is failing: check the kernel log (dmesg) and replace "
        "it soon. The bridge writes again by itself, and this clears, once the disk "
        "takes writes.",
        since,
    )
