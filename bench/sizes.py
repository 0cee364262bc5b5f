"""``python -m bench.sizes``: how much database a station takes per year.

Fills a database of its own with simulated stations' hourly packets (the
firmware's default intervals: a sample every 2 minutes, a packet every hour),
decodes them as the bridge does, and prints what each part of the database
takes: the raw packets (every byte a station sent, with their indexes), the
decoded history (batches, readings and sample_times, with theirs), per sample
and per station-year. The figures are measured, not asserted; docs/ quotes them.

    python -m bench.sizes --stations 3 --days 30
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bridge.offline import decode_offline
from bridge.sim import SimStation
from bridge.spool import Spool
from tests.support.ledger import SAMPLE_COUNT
from wxstation.config import parse_config
from wxstation.packets import Received
from wxstation.parsers import make_parser

#: 2026-01-01T00:00:00Z: the simulated stations' first sample. The sizes do not
#: depend on it; a fixed start makes two runs store the same bytes.
START = 1767225600.0
DAY = 86400.0
YEAR_DAYS = 365.25
#: Tables of each part of the database; what is in none of them (clocks, sink
#: progress, SQLite's own pages) is listed as "other".
PARTS = {
    "raw packets": ("packets",),
    "decoded history": ("batches", "readings", "sample_times"),
}


def fill(path: Path, stations: int, days: float, parser: str) -> tuple[int, int]:
    """Store and decode ``days`` of hourly packets of ``stations`` stations;
    returns (packets, samples)."""
    station_parser = make_parser(parser)
    sims = [SimStation(device, station_parser, START) for device in range(1, stations + 1)]
    config = parse_config({"unknown_stations": {"action": "decode", "parser": parser}})
    packets = samples = 0
    with Spool(path) as spool:
        for _ in range(round(days * DAY / sims[0].wake_every_s)):
            items = []
            for sim in sims:
                wake = sim.wake()
                sim.delivered()
                items.append(Received(wake.packet, wake.arrival, f"192.0.2.{sim.device_id}:4000"))
            packets += len(spool.packets.add(items))
            decode_offline(spool, config)
        (samples,) = spool.db.execute(SAMPLE_COUNT).fetchone()
    return packets, samples


def by_table(path: Path) -> dict[str, int]:
    """Bytes each table and each index takes, by SQLite's own page accounting
    (``dbstat``), largest first."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = db.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
        owners = dict(db.execute("SELECT name, tbl_name FROM sqlite_schema"))
    finally:
        db.close()
    return {f"{owners.get(name, name)}.{name}": int(size) for name, size in rows}


def sizes(tables: dict[str, int]) -> dict[str, int]:
    """Bytes each part of the database takes: its tables with their indexes."""
    used: dict[str, int] = {}
    for name, size in tables.items():
        table = name.partition(".")[0]
        part = next((p for p, owned in PARTS.items() if table in owned), "other")
        used[part] = used.get(part, 0) + size
    return used


def main(argv: Sequence[str] | None = None) -> None:
    cli = argparse.ArgumentParser(prog="python -m bench.sizes", description=__doc__)
    cli.add_argument("--stations", type=int, default=3)
    cli.add_argument("--days", type=float, default=30.0)
    cli.add_argument("--parser", default="reference")
    cli.add_argument("--tables", action="store_true", help="also each table and index")
    args = cli.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wxstation-sizes-") as tmp:
        path = Path(tmp) / "wx.db"
        packets, samples = fill(path, args.stations, args.days, args.parser)
        tables = by_table(path)
        used = sizes(tables)
        file_size = path.stat().st_size
    station_years = args.stations * args.days / YEAR_DAYS
    total = sum(used.values())
    print(
        f"{args.stations} stations ({args.parser}), {args.days:g} days: {packets} packets, "
        f"{samples} samples; database file {file_size / 1e6:.2f} MB"
    )
    print(f"{'part':<16} {'MB':>8} {'B/packet':>9} {'B/sample':>9} {'MB/station-year':>16}")
    for part in (*PARTS, "other"):
        size = used.get(part, 0)
        print(
            f"{part:<16} {size / 1e6:8.2f} {size / packets:9.0f} {size / samples:9.1f} "
            f"{size / 1e6 / station_years:16.1f}"
        )
    print(
        f"{'all':<16} {total / 1e6:8.2f} {total / packets:9.0f} {total / samples:9.1f} "
        f"{total / 1e6 / station_years:16.1f}"
    )
    if args.tables:
        print(f"\n{'table.index':<40} {'MB':>8} {'B/packet':>9} {'MB/station-year':>16}")
        for name, size in tables.items():
            if size * 1000 >= total:  # what takes a thousandth or more
                print(
                    f"{name:<40} {size / 1e6:8.2f} {size / packets:9.0f} "
                    f"{size / 1e6 / station_years:16.1f}"
                )


if __name__ == "__main__":
    main()
