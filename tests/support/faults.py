"""What the fault tests share: simulated stations in a process of their own,
the bridge's config for them, waiting for the bridge to settle, and the line
each fault test ends with (the ledger no data loss is judged by)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.bridge import write_config
from tests.support.ledger import Ledger, Progress, ledger, progress
from tests.support.servers import InfluxDB1
from tests.support.waiting import wait_until

__all__ = ["Count", "Stations", "config_file", "influx_points", "settled", "tracebacks"]


def config_file(
    tmp_path: Path, port: int, listen: dict[str, Any] | None = None, **sections: Any
) -> Path:
    """The config of a bridge as a process on ``port``, its database ``wx.db``
    in ``tmp_path``, with ``sections`` (sinks) added."""
    raw: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port, **(listen or {})},
        "storage": {"path": "wx.db"},
    }
    raw.update(sections)
    return write_config(tmp_path / "config.yaml", raw)


class Stations:
    """Simulated stations in their own process (``bench.load stream``)."""

    def __init__(self, port: int, packets: int, *, rate: float, stations: int = 60) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.load",
                "stream",
                "--port",
                str(port),
                "--packets",
                str(packets),
                "--rate",
                str(rate),
                "--stations",
                str(stations),
                "--concurrency",
                "20",
                "--timeout",
                "5",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert "sending" in self.process.stdout.readline()

    def report(self, within: float = 90.0) -> dict[str, Any]:
        out, _ = self.process.communicate(timeout=within)
        assert self.process.returncode == 0
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result


def influx_points(influx: InfluxDB1, database: str) -> int:
    rows = influx.query("SELECT count(temperature) FROM weather", database)
    return int(rows[0]["count"]) if rows else 0


def tracebacks(log: Path) -> int:
    return log.read_text(errors="replace").count("Traceback")


@dataclass
class Count:
    """The line a fault test ends with."""

    test: str
    sent: int
    counts: Ledger
    in_influx: int | None
    crashes: int
    extra: str = ""

    @classmethod
    def of(
        cls,
        test: str,
        sent: int,
        db: Path,
        log: Path | None = None,
        influx: tuple[InfluxDB1, str] | None = None,
    ) -> Count:
        """The counts of the bridge that wrote ``db``: a traceback in ``log`` is a
        crash; with ``influx`` (server, database), the points written there."""
        return cls(
            test,
            sent,
            ledger(db),
            None if influx is None else influx_points(*influx),
            0 if log is None else tracebacks(log),
        )

    def print(self) -> None:
        influx = "-" if self.in_influx is None else f"{self.in_influx}"
        print(
            f"\nfaults: {self.test}: sent {self.sent} packets, committed {self.counts.packets}, "
            f"decoded {self.counts.done} (twice {self.counts.decoded_twice}, "
            f"incomplete {self.counts.incomplete}, kept aside {self.counts.kept}, "
            f"waiting {self.counts.new}); samples stored {self.counts.samples} "
            f"(and {self.counts.conflicts} kept aside as conflicts), "
            f"in InfluxDB {influx} of {self.counts.points}; "
            f"duplicates {self.counts.decoded_twice}; crashes {self.crashes}{self.extra}"
        )

    def assert_no_loss(self) -> None:
        """Print the line; every committed packet decoded once, whole, and (with
        InfluxDB) written."""
        self.print()
        assert self.counts.new == 0
        assert self.counts.kept == 0
        assert self.counts.done == self.counts.packets
        assert self.counts.decoded_twice == 0
        assert self.counts.incomplete == 0
        if self.in_influx is not None:
            assert self.in_influx == self.counts.points
        assert self.crashes == 0


def settled(
    db: Path, log: Path, check: Callable[[Progress], bool], within: float = 30, note: str = ""
) -> None:
    """Wait until ``check`` holds for the bridge's progress; fail with what it was."""
    try:
        wait_until(lambda: check(progress(db)), "the bridge", within)
    except TimeoutError:
        tail = log.read_text(errors="replace")[-3000:]
        raise AssertionError(f"{note}\n{ledger(db)}\n--- bridge log:\n{tail}") from None
