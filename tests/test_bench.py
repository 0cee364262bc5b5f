"""The benchmark's smoke size: it runs end to end and prints every figure.

The figures themselves are not checked: on a shared CI machine they say more
about the neighbours than about the bridge. docs/performance.md has real ones.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: The start of every row of the table, in order.
ROWS = [
    "memory idle",
    "CPU idle",
    "raw InfluxDB ceiling",
    "end-to-end throughput",
    "throughput / raw InfluxDB ceiling",
    "CPU under load",
    "bridge CPU per packet by stage, throughput run",
    "latency arrival -> MQTT state, p50",
    "latency arrival -> MQTT state, p99",
    "latency arrival -> MQTT batch",
    "bridge CPU per packet by stage, paced",
    "burst:",
    "backlog drain after an InfluxDB outage",
    "ledger of the run",
    "ledger: samples",
    "memory peak",
    "bridge stopped by SIGTERM",
]


def bench(*args: str) -> str:
    """``python -m bench.<args>``'s output, once it exited with 0."""
    result = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.servers
def test_smoke_size_prints_every_row() -> None:
    """Test that ``python -m bench.run --size smoke`` completes and prints the table."""
    table = bench("bench.run", "--size", "smoke").split("\n\n")[-1].splitlines()
    assert [row for row in ROWS if not any(line.startswith(row) for line in table)] == []
    assert "exit code 0" in table[-1]


def test_sizes_prints_every_part() -> None:
    """Test that ``python -m bench.sizes`` fills and measures a database and
    prints each part's row and the tables' rows."""
    lines = bench("bench.sizes", "--stations", "2", "--days", "2", "--tables").splitlines()
    assert lines[0].startswith("2 stations (reference), 2 days: 96 packets, 2880 samples")
    for part in ("raw packets", "decoded history", "other", "all", "packets.packets "):
        assert any(line.startswith(part) for line in lines), part
