"""Databases as a running bridge leaves them, and damaged as a failing SD card
damages them: pages overwritten with garbage, found by SQLite's ``dbstat``."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from bridge.offline import decode_offline
from bridge.spool import Spool
from tests.support.fleet import fleet_rounds
from wxstation.config import parse_config

__all__ = [
    "PAGE",
    "ROUNDS",
    "START",
    "STATIONS",
    "Packet",
    "overwrite",
    "packet_pages",
    "packets_of",
    "running_bridge_database",
    "table_pages",
]

#: 2026-06-01T00:00:00Z: the first sample.
START = 1780272000.0
STATIONS = 20
ROUNDS = 15
PAGE = 4096

Packet = tuple[float, str, bytes]


def running_bridge_database(path: Path) -> None:
    """A database as a running bridge leaves it: ``ROUNDS`` packets of each of
    ``STATIONS`` stations, each round stored and then decoded, so that packets
    and their history lie in turns through the file; a sink's progress and a
    refused batch."""
    with Spool(path) as spool:
        for items in fleet_rounds(STATIONS, ROUNDS, START):
            spool.packets.add(items)
            decode_offline(spool, parse_config({}))
        spool.progress.set("influxdb", STATIONS * ROUNDS - 40)
        spool.progress.reject("influxdb", [7], "400 bad request", START)


def packets_of(path: Path) -> dict[int, Packet]:
    db = sqlite3.connect(path)
    try:
        return {
            int(i): (float(at), str(peer), bytes(data))
            for i, at, peer, data in db.execute("SELECT id, received_at, peer, data FROM packets")
        }
    finally:
        db.close()


def packet_pages(path: Path) -> tuple[dict[int, range], list[int]]:
    """The ids each leaf page of ``packets`` holds, and its interior pages, as
    SQLite's own ``dbstat`` table tells them (ids are 1.. in order, none deleted)."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT pageno, pagetype, ncell FROM dbstat WHERE name = 'packets' ORDER BY path"
        ).fetchall()
    finally:
        db.close()
    leaves: dict[int, range] = {}
    first = 1
    for page, kind, cells in rows:
        if kind == "leaf":
            leaves[page] = range(first, first + cells)
            first += cells
    return leaves, [page for page, kind, _ in rows if kind == "internal"]


def overwrite(path: Path, pages: list[int]) -> None:
    """Overwrite ``pages`` (numbered from 1) with garbage, as a failing card leaves them."""
    garbage = random.Random(25)
    with path.open("r+b") as file:
        for page in pages:
            file.seek((page - 1) * PAGE)
            file.write(garbage.randbytes(PAGE))


def table_pages(path: Path, table: str) -> dict[int, str]:
    """The pages of ``table`` and their kind, as SQLite's ``dbstat`` tells them."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT pageno, pagetype FROM dbstat WHERE name = ? ORDER BY path", (table,)
        ).fetchall()
    finally:
        db.close()
    return {int(page): str(kind) for page, kind in rows}
