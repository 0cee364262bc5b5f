"""Dates and times at their edges: retention, export ranges, formatting across
month and year boundaries, and a station's clock across a long silence.

Every test here makes its data at fixed times and fixes "now" with it, so the
results are the same on any day the tests run (``./scripts/test`` runs them a
second time with the system clock shifted by more than a year).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge import cli
from bridge.offline import decode_offline
from bridge.runtime.housekeeping import prune_history, retention_cutoff_ms
from bridge.runtime.store import Store
from bridge.sim import SimStation
from bridge.spool import Spool
from bridge.stages import StageClock
from tests.support.bridge import write_config
from tests.support.waiting import eventually
from wxstation.config import parse_config
from wxstation.packets import Received
from wxstation.parsers import ReferenceParser
from wxstation.samples import format_time, make_batch
from wxstation.timing import StationClock

PARSER = ReferenceParser()
DAY = 86400.0
#: 2026-12-31T22:00:00Z: a station waking hourly from here on crosses New Year.
NEW_YEARS_EVE = datetime(2026, 12, 31, 22, tzinfo=UTC).timestamp()


def new_year_spool(path: Path, wakes: int = 5) -> tuple[Spool, list[float]]:
    """A database with a station's hourly packets around New Year 2027, decoded;
    returns it with the true time of every sample, oldest first."""
    spool = Spool(path).open()
    station = SimStation(1, PARSER, NEW_YEARS_EVE - 3600)
    items, taken = [], []
    for _ in range(wakes):
        wake = station.wake()
        station.delivered()
        items.append(Received(wake.packet, wake.arrival, "192.168.1.50:4000"))
        taken.extend(wake.taken)
    spool.packets.add(items)
    decode_offline(spool, parse_config({}))
    return spool, taken


def stored_times(spool: Spool) -> list[int]:
    return sorted(time_ms for _, _, time_ms, _ in spool.export.samples())


def export(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    config = write_config(tmp_path / "config.yaml", {"storage": {"path": "wx.db"}})
    assert cli.main(["export", "-c", str(config), *args]) == 0
    return capsys.readouterr().out


def test_format_time_across_month_and_year_boundaries() -> None:
    """Test that the last millisecond of a month or year and the first of the next
    are written as themselves, leap days and 2038 included."""
    for moment in [
        datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
        datetime(2027, 2, 28, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2027, 3, 1, tzinfo=UTC),
        datetime(2028, 2, 29, 12, tzinfo=UTC),
        datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),
    ]:
        time_ms = round(moment.timestamp() * 1000)
        assert format_time(time_ms) == moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_retention_counts_back_from_the_given_now(tmp_path: Path) -> None:
    """Test that the retention pass deletes exactly the samples older than
    ``retention_days`` before the clock it is given, across New Year, and keeps
    every raw packet."""

    async def one_pass(spool: Spool, now: float, days: float) -> None:
        """Run the retention task until its first pass has deleted something."""
        store = Store(spool, StageClock())
        task = asyncio.create_task(prune_history(store, days, clock=lambda: now, interval=3600))
        try:
            await eventually(
                lambda: len(stored_times(spool)) < 150, "the retention pass to delete", 5, 0.01
            )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            store.close()

    spool, _ = new_year_spool(tmp_path / "wx.db")
    with spool:
        before = stored_times(spool)
        assert len(before) == 150
        # 30 days after New Year, keeping 30 days and 1.5 hours: the samples
        # taken before 2026-12-31T22:30Z go, those after stay.
        midnight = datetime(2027, 1, 1, tzinfo=UTC).timestamp()
        now = midnight + 30 * DAY
        days = 30 + 1.5 / 24
        cutoff = retention_cutoff_ms(now, days)
        assert cutoff == round((midnight - 1.5 * 3600) * 1000)
        asyncio.run(one_pass(spool, now, days))
        after = stored_times(spool)
        assert after == [t for t in before if t >= cutoff]
        assert 0 < len(after) < len(before)
        assert len(list(spool.export.packets())) == 5


def test_export_range_across_new_year(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Test that ``export --since/--until`` picks exactly the samples in a range
    that spans midnight of New Year, given in RFC 3339 with any offset or in
    unix seconds, and writes their times in UTC."""
    spool, _ = new_year_spool(tmp_path / "wx.db")
    with spool:
        times = stored_times(spool)
    since = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    until = datetime(2027, 1, 1, 0, 30, tzinfo=UTC)
    expected = [
        format_time(t) for t in times if since.timestamp() * 1000 <= t < until.timestamp() * 1000
    ]
    assert len(expected) == 30
    assert any(text.startswith("2026-12-31T") for text in expected)
    assert any(text.startswith("2027-01-01T") for text in expected)

    rows = export(
        tmp_path, capsys, "--since", "2026-12-31T23:30:00Z", "--until", "2027-01-01T00:30:00Z"
    )
    assert [json.loads(line)["time"] for line in rows.splitlines()] == expected
    # The same instants in another zone and as unix seconds.
    shifted = export(
        tmp_path,
        capsys,
        "--since",
        "2027-01-01T00:30:00+01:00",
        "--until",
        "2027-01-01T01:30:00+01:00",
    )
    assert shifted == rows
    seconds = export(
        tmp_path, capsys, "--since", str(since.timestamp()), "--until", str(until.timestamp())
    )
    assert seconds == rows
    table = list(
        csv.reader(
            io.StringIO(
                export(
                    tmp_path,
                    capsys,
                    "--format",
                    "csv",
                    "--since",
                    "2026-12-31T23:30:00Z",
                    "--until",
                    "2027-01-01T00:30:00Z",
                )
            )
        )
    )
    assert [row[2] for row in table[1:]] == expected


def test_clock_kept_across_a_silence_of_more_than_a_year() -> None:
    """Test that a calibrated station that could not send for 400 days gets its
    full store stamped with its learnt clock factor, close to the true times,
    and that the silence does not change the factor."""
    station = SimStation(1, PARSER, NEW_YEARS_EVE, clock_factor=1.03, seed=2)
    clock = StationClock()
    for _ in range(3):
        wake = station.wake()
        station.delivered()
        _, clock = make_batch("Garden", PARSER, clock, wake.packet, wake.arrival)
    learnt = clock.clock_factor
    assert learnt == pytest.approx(1.03, abs=0.002)

    station.skip(round(400 * DAY / 3600))
    wake = station.wake()
    batch, clock = make_batch("Garden", PARSER, clock, wake.packet, wake.arrival)
    assert wake.arrival > NEW_YEARS_EVE + 400 * DAY
    assert len(batch.samples) == len(wake.taken)
    # Evenly spaced by the learnt factor, and as close to the truth as the
    # ESP's delay and the calibration's jitter allow (8 s, as in test_timing).
    stamps = [sample.time_ms / 1000 for sample in batch.samples]
    spacings = [b - a for a, b in itertools.pairwise(stamps)]
    assert spacings == pytest.approx([120 * learnt] * len(spacings), abs=1e-3)
    assert stamps == pytest.approx(list(wake.taken), abs=8)
    assert clock.clock_factor == learnt
