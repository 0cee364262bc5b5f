"""Rows read straight off an SQLite file's pages, page by page, for a file
SQLite itself refuses (see :mod:`bridge.spool.salvage`).

SQLite stops a query at the first damaged page it meets; this reads every
table page it can on its own, so a damaged page loses only the rows it held.
It follows the file format (https://sqlite.org/fileformat2.html): the
header's page size, each table's tree from its root page named in
``sqlite_schema``, the rows of each leaf page (with their overflow pages),
and the leaf pages no tree reaches any more (their parent page was hit),
which it gives to the one table whose rows they match. Pages on the freelist
hold deleted rows and are skipped. Every table's tree is walked, the ones not
asked for too, so that their pages are not taken for orphans. Indexes and
``WITHOUT ROWID`` tables are not read: what the bridge needs of them is
rebuilt from the tables.

Pure: bytes in, rows out.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

__all__ = ["DEFAULT_PAGE_SIZE", "HEADER", "DamageError", "FileRows", "Value", "read_rows"]

#: The first 16 bytes of every SQLite database file.
HEADER = b"SQLite format 3\x00"
#: SQLite's default page size, which the bridge keeps: the size assumed when
#: the header that says it is damaged.
DEFAULT_PAGE_SIZE = 4096
#: The page types of a table's tree (the first byte of its page header).
_TABLE_INTERIOR, _TABLE_LEAF = 0x05, 0x0D
#: Pages a chain (overflow, freelist, a tree's depth) may take before it is
#: taken as a loop that damage made: more than any file of the bridge holds.
_CHAIN_LIMIT = 1 << 24

Value = int | float | str | bytes | None


class DamageError(Exception):
    """A page or a chain that cannot be what the file says it is."""


@dataclass
class FileRows:
    """What :func:`read_rows` found: each table's rows by rowid, and what it could not read."""

    #: Table name -> rowid -> its values (an ``INTEGER PRIMARY KEY`` column as None).
    tables: dict[str, dict[int, tuple[Value, ...]]] = field(default_factory=dict)
    #: Pages that could not be read, with why.
    damaged: dict[int, str] = field(default_factory=dict)
    #: Leaf pages that no tree reaches and whose rows match no table.
    unplaced: int = 0
    #: Whether the schema (page 1's tree) was read. Without it, every leaf page
    #: is placed by its rows' shape alone, and the freelist (in the header) is
    #: unknown: rows deleted earlier may come back.
    schema_read: bool = True


def read_rows(data: bytes, tables: dict[str, Sequence[frozenset[str]]]) -> FileRows:
    """The rows of ``tables`` in the SQLite file ``data``.

    ``tables`` names each table the caller wants with, per column, the kinds
    of value it may hold (``int``, ``float``, ``str``, ``bytes``, ``None``): how
    leaf pages that no tree reaches are matched to their table.
    """
    found = FileRows()
    if len(data) < DEFAULT_PAGE_SIZE:
        raise DamageError(f"the file holds {len(data)} bytes, less than a page")
    raw_size = struct.unpack_from(">H", data, 16)[0]
    page_size = 65536 if raw_size == 1 else raw_size
    if data[: len(HEADER)] != HEADER or page_size < 512 or page_size & (page_size - 1):
        # The header is gone with page 1: the pages are the bridge's size.
        found.damaged[1] = "the file's header is damaged"
        file = _File(data, DEFAULT_PAGE_SIZE, DEFAULT_PAGE_SIZE)
    else:
        file = _File(data, page_size, page_size - data[20])
    reached: set[int] = set()
    schema = [] if found.damaged else [row for _, row in file.tree(1, reached, found.damaged)]
    roots = {
        str(row[1]): int(row[3])
        for row in schema
        if len(row) >= 5
        and row[0] == "table"
        and isinstance(row[3], int)
        and row[3] > 1
        # Its tree is an index's: its pages are never taken for a table's.
        and "WITHOUT ROWID" not in str(row[4]).upper()
    }
    found.schema_read = bool(roots)
    for name, root in roots.items():
        rows = dict(file.tree(root, reached, found.damaged))
        if name in tables:
            found.tables[name] = rows
    free = file.freelist(found.damaged) if found.schema_read else set()
    for page in range(2, file.pages + 1):
        if page in reached or page in free or file.type(page) != _TABLE_LEAF:
            continue
        try:
            rows = dict(file.leaf(page))
        except DamageError as err:
            found.damaged[page] = str(err)
            continue
        table = _matching(list(rows.values()), tables)
        if table is None:
            found.unplaced += 1
        else:
            found.tables.setdefault(table, {}).update(rows)
    return found


def _matching(
    rows: Sequence[tuple[Value, ...]], tables: dict[str, Sequence[frozenset[str]]]
) -> str | None:
    """The one table whose columns' kinds every row of a page fits, or None."""
    if not rows:
        return None
    fits = [
        name
        for name, kinds in tables.items()
        if all(
            len(row) == len(kinds) and all(_kind(v) in k for v, k in zip(row, kinds, strict=True))
            for row in rows
        )
    ]
    return fits[0] if len(fits) == 1 else None


def _kind(value: Value) -> str:
    return "None" if value is None else type(value).__name__


class _File:
    """The pages of one file, read with the checks the format allows."""

    def __init__(self, data: bytes, page_size: int, usable: int) -> None:
        self.data = data
        self.page_size = page_size
        self.usable = usable
        self.pages = len(data) // page_size

    def page(self, number: int) -> bytes:
        if not 1 <= number <= self.pages:
            raise DamageError(f"page {number} is beyond the file's {self.pages} pages")
        start = (number - 1) * self.page_size
        return self.data[start : start + self.page_size]

    def _header_at(self, number: int) -> int:
        return 100 if number == 1 else 0

    def type(self, number: int) -> int:
        return self.page(number)[self._header_at(number)]

    def tree(
        self, root: int, reached: set[int], damaged: dict[int, str]
    ) -> Iterator[tuple[int, tuple[Value, ...]]]:
        """The rows of the tree at ``root``, skipping (and naming) the pages that cannot be read."""
        todo = [root]
        while todo:
            number = todo.pop()
            if number in reached or len(reached) > _CHAIN_LIMIT:
                continue
            reached.add(number)
            try:
                kind = self.type(number)
                if kind == _TABLE_LEAF:
                    yield from list(self.leaf(number))
                elif kind == _TABLE_INTERIOR:
                    todo.extend(self._children(number))
                else:
                    raise DamageError(f"page {number} has page type {kind}, not a table's")
            except DamageError as err:
                damaged[number] = str(err)

    def _cells(self, number: int, header_size: int) -> list[int]:
        page, at = self.page(number), self._header_at(number)
        count = struct.unpack_from(">H", page, at + 3)[0]
        pointers = at + header_size
        if pointers + 2 * count > self.usable:
            raise DamageError(f"page {number} claims {count} cells, more than it holds")
        offsets = list(struct.unpack_from(f">{count}H", page, pointers))
        if any(not pointers + 2 * count <= o < self.usable for o in offsets):
            raise DamageError(f"page {number} points to a cell outside it")
        return offsets

    def _children(self, number: int) -> list[int]:
        page = self.page(number)
        right = struct.unpack_from(">I", page, self._header_at(number) + 8)[0]
        children = [struct.unpack_from(">I", page, o)[0] for o in self._cells(number, 12)]
        return [*children, right]

    def leaf(self, number: int) -> Iterator[tuple[int, tuple[Value, ...]]]:
        """The rows of table leaf page ``number``, each with its rowid."""
        page = self.page(number)
        rows = []
        for offset in self._cells(number, 8):
            size, at = _varint(page, offset)
            rowid, at = _varint(page, at)
            payload = self._payload(page, at, size, number)
            rows.append((_signed(rowid), _record(payload, number)))
        return iter(rows)

    def _payload(self, page: bytes, at: int, size: int, number: int) -> bytes:
        """A cell's payload of ``size`` bytes from ``at``, with its overflow pages."""
        usable = self.usable
        most = usable - 35
        if size <= most:
            if at + size > usable:
                raise DamageError(f"page {number}: a cell runs past the page")
            return page[at : at + size]
        least = (usable - 12) * 32 // 255 - 23
        local = least + (size - least) % (usable - 4)
        if local > most:
            local = least
        if at + local + 4 > usable:
            raise DamageError(f"page {number}: a cell runs past the page")
        parts = [page[at : at + local]]
        left = size - local
        overflow = struct.unpack_from(">I", page, at + local)[0]
        for _ in range(_CHAIN_LIMIT):
            if left <= 0:
                break
            more = self.page(overflow)
            parts.append(more[4 : 4 + min(left, usable - 4)])
            left -= usable - 4
            overflow = struct.unpack_from(">I", more, 0)[0]
        return b"".join(parts)

    def freelist(self, damaged: dict[int, str]) -> set[int]:
        """The pages on the freelist (trunk and leaf pages), as far as it can be followed."""
        free: set[int] = set()
        trunk = struct.unpack_from(">I", self.data, 32)[0]
        while trunk and trunk not in free and len(free) < _CHAIN_LIMIT:
            try:
                page = self.page(trunk)
            except DamageError as err:
                damaged[trunk] = f"the freelist: {err}"
                break
            free.add(trunk)
            count = struct.unpack_from(">I", page, 4)[0]
            if 8 + 4 * count > self.usable:
                damaged[trunk] = "a freelist page claims more pages than it holds"
                break
            free.update(struct.unpack_from(f">{count}I", page, 8))
            trunk = struct.unpack_from(">I", page, 0)[0]
        return free


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """SQLite's variable-length integer at ``at``, and where it ends."""
    value = 0
    for i in range(9):
        if at + i >= len(data):
            raise DamageError("a number runs past the page")
        byte = data[at + i]
        if i == 8:
            return (value << 8) | byte, at + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + i + 1
    raise AssertionError("unreachable")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


#: The serial types whose value is in the type itself: NULL, 0 and 1.
_CONSTANTS: dict[int, Value] = {0: None, 8: 0, 9: 1}
#: Bytes of the integer serial types 1..6.
_INT_SIZES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}


def _record(payload: bytes, number: int) -> tuple[Value, ...]:
    """A record's values (https://sqlite.org/fileformat2.html#record_format)."""
    header_size, at = _varint(payload, 0)
    if not at <= header_size <= len(payload):
        raise DamageError(f"page {number}: a row's header is longer than the row")
    types = []
    while at < header_size:
        kind, at = _varint(payload, at)
        types.append(kind)
    values: list[Value] = []
    at = header_size
    for kind in types:
        value, at = _value(payload, at, kind, number)
        values.append(value)
    if at != len(payload):
        raise DamageError(f"page {number}: a row's values do not fill it")
    return tuple(values)


def _value(payload: bytes, at: int, kind: int, number: int) -> tuple[Value, int]:
    if kind in _CONSTANTS:
        return _CONSTANTS[kind], at
    if kind in _INT_SIZES:
        size = _INT_SIZES[kind]
        end = at + size
        if end > len(payload):
            raise DamageError(f"page {number}: a row's value runs past it")
        return int.from_bytes(payload[at:end], "big", signed=True), end
    if kind == 7:
        if at + 8 > len(payload):
            raise DamageError(f"page {number}: a row's value runs past it")
        return struct.unpack_from(">d", payload, at)[0], at + 8
    if kind >= 12:
        size = (kind - 12) // 2
        end = at + size
        if end > len(payload):
            raise DamageError(f"page {number}: a row's value runs past it")
        raw = payload[at:end]
        if kind % 2 == 0:
            return raw, end
        try:
            return raw.decode("utf-8"), end
        except UnicodeDecodeError as err:
            raise DamageError(f"page {number}: a row's text is not UTF-8") from err
    raise DamageError(f"page {number}: a row has value type {kind}, which SQLite never writes")
