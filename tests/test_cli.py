"""The command lines: check-config, decode, the simulator's packets, errors' exit codes,
and how far the long commands are, on and off a terminal."""

from __future__ import annotations

import io
import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import cli, sim
from bridge.errors import (
    ConfigError,
    DatabaseBusyError,
    DatabaseError,
    InputFileError,
    SchemaError,
    WxStationError,
)
from bridge.offline import SUMMARY_REASONS, Tally
from bridge.progress import PLAIN_INTERVAL, PLAIN_STEPS, Progress
from bridge.runtime.fallback import HeldFile, held_path
from bridge.service import database_lock
from bridge.sinks import SinkError
from bridge.spool.salvage import move_aside
from tests.support.bridge import cli as command
from tests.support.bridge import write_config
from tests.support.capture import write_capture
from tests.support.terminal import bridge_command, screen_of
from wxstation.packets import Received
from wxstation.parsers import ReferenceParser
from wxstation.protocol import PacketError
from wxstation.samples import format_time, format_times, parse_time

ROOT = Path(__file__).parent.parent


def test_check_config_accepts_the_example() -> None:
    result = command("check-config", "-c", str(ROOT / "config.example.yaml"))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
    assert "7: Greenhouse (fields: light, temperature, humidity, battery)" in result.stdout
    assert "send delay 2.5 s; calibrated: temperature, humidity)" in result.stdout


def test_check_config_names_the_broken_key(tmp_path: Path) -> None:
    """Test that a broken config exits 1 with the key path in the message."""
    broken = tmp_path / "config.yaml"
    broken.write_text("stations:\n  7:\n    fields:\n      - key: t\n        type: u17\n")
    result = command("check-config", "-c", str(broken))
    assert result.returncode == 1
    assert "stations -> 7 -> fields -> 0 -> type" in result.stderr
    assert "'u17'" in result.stderr


def test_decode_a_simulated_packet(capsys: pytest.CaptureFixture[str]) -> None:
    """Test that decode reads wxstation-sim's hex and stamps the newest sample at arrival."""
    assert sim.main(["packet", "--time", "1790000000", "--seed", "3"]) == 0
    packet = capsys.readouterr().out.strip()
    assert len(bytes.fromhex(packet)) == 9 + 30 * 6
    assert cli.main(["decode", packet, "--arrival", "1790000002.5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["header"]["device_id"] == 1
    assert len(out["samples"]) == 30
    assert out["samples"][-1]["time"] == "2026-09-21T14:13:22.500Z"
    assert out["samples"][0]["time"] == "2026-09-21T13:15:22.500Z"
    assert set(out["samples"][0]) == {"time", "light", "humidity", "temperature"}


def test_decode_refuses_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["decode", "0600100e7800000103010002000300"]) == 1
    assert "bytes_per_sample is 0" in capsys.readouterr().err


def test_decode_with_a_declarative_station(capsys: pytest.CaptureFixture[str]) -> None:
    """Test sim and decode together on the example config's declarative greenhouse."""
    config = str(ROOT / "config.example.yaml")
    assert sim.main(["packet", "-c", config, "--device", "7", "--time", "1790000000"]) == 0
    packet = capsys.readouterr().out.strip()
    assert cli.main(["decode", packet, "-c", config]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["station"] == "Greenhouse"
    assert set(out["samples"][0]) == {"time", "light", "temperature", "humidity", "battery"}
    assert -40 < out["samples"][0]["temperature"] < 60


def test_help_everywhere() -> None:
    for args in ([], ["check-config"], ["decode"]):
        result = command(*args, "--help")
        assert result.returncode == 0
        assert "usage: wxstation-bridge" in result.stdout


@settings(max_examples=2000, deadline=None)
@given(st.integers(min_value=-(10**12), max_value=4_102_444_800_000))
def test_format_time_is_rfc3339_utc_with_milliseconds(time_ms: int) -> None:
    """Test format_time against datetime for any millisecond from 1938 to 2100."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=time_ms)
    assert format_time(time_ms) == moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@settings(max_examples=500, deadline=None)
@given(
    st.integers(min_value=-(10**12), max_value=4_102_444_800_000),
    st.lists(st.integers(min_value=0, max_value=7_300_000), max_size=40),
)
def test_format_times_is_format_time_of_each(start: int, steps: list[int]) -> None:
    """Test that format_times, which builds the date and hour once per hour, gives
    format_time of each time, within an hour and across hours and days."""
    times = [start + sum(steps[:i]) for i in range(len(steps) + 1)]
    assert format_times(times) == [format_time(t) for t in times]


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=-(10**12), max_value=4_102_444_800_000))
def test_parse_time_reads_what_format_time_writes(time_ms: int) -> None:
    """Test that parse_time gives back the millisecond format_time wrote, and reads a
    time without an offset as UTC."""
    assert parse_time(format_time(time_ms)) == time_ms
    assert parse_time(format_time(time_ms).removesuffix("Z")) == time_ms


def _config(tmp_path: Path) -> Path:
    """A config whose database is ``wx.db`` in ``tmp_path``."""
    path = tmp_path / "config.yaml"
    path.write_text("storage:\n  path: wx.db\n", encoding="utf-8")
    return path


def test_ingest_of_a_missing_file_exits_5(tmp_path: Path) -> None:
    """Test that ingesting a file that is not there exits 5, naming the file, and
    creates no database."""
    missing = tmp_path / "missing.jsonl"
    result = command("ingest", str(missing), "-c", str(_config(tmp_path)))
    assert result.returncode == 5, result.stderr
    assert f"cannot read the input: {missing}: No such file or directory" in result.stderr
    assert "database" not in result.stderr


def test_ingest_of_a_line_that_is_no_capture_exits_5(tmp_path: Path) -> None:
    """Test that a capture file with a broken line exits 5 naming the file and line."""
    capture = tmp_path / "capture.jsonl"
    capture.write_text(
        '{"received_at": 1790000000, "peer": "10.0.0.2:4000", "data": "00"}\n{"data": 1}\n',
        encoding="utf-8",
    )
    result = command("ingest", str(capture), "-c", str(_config(tmp_path)))
    assert result.returncode == 5, result.stderr
    assert f"{capture}:2: not a capture line" in result.stderr


def test_a_database_from_a_newer_bridge_exits_4(tmp_path: Path) -> None:
    """Test that a database of a newer schema exits 4, saying to upgrade."""
    db = sqlite3.connect(tmp_path / "wx.db")
    db.execute("PRAGMA user_version=99")
    db.close()
    result = command("status", "-c", str(_config(tmp_path)))
    assert result.returncode == 4, result.stderr
    assert "written by a newer wxstation (schema 99); upgrade" in result.stderr


def test_a_database_that_is_not_one_exits_4(tmp_path: Path) -> None:
    """Test that a file that is no SQLite database exits 4 with its path."""
    (tmp_path / "wx.db").write_bytes(b"not a database, but some text " * 100)
    result = command("status", "-c", str(_config(tmp_path)))
    assert result.returncode == 4, result.stderr
    assert f"cannot open {tmp_path / 'wx.db'}" in result.stderr


def test_redeliver_while_a_bridge_holds_the_database_exits_4(tmp_path: Path) -> None:
    """Test that redeliver refuses, with exit code 4, while a bridge holds the database."""
    config = _config(tmp_path)
    with database_lock(tmp_path / "wx.db"):
        result = command("redeliver", "mqtt", "-c", str(config))
    assert result.returncode == 4, result.stderr
    assert "stop the bridge first" in result.stderr


def test_a_bridge_on_a_busy_database_exits_4(tmp_path: Path) -> None:
    """Test that run exits 4 when another bridge holds the database, and says so
    (before it listens: the port is never opened)."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "listen:\n  host: 127.0.0.1\n  port: 5001\nstorage:\n  path: wx.db\n", encoding="utf-8"
    )
    with database_lock(tmp_path / "wx.db"):
        result = command("run", "-c", str(config))
    assert result.returncode == 4, result.stderr
    assert f"another wxstation bridge is using {tmp_path / 'wx.db'}" in result.stderr


def test_bad_arguments_exit_2() -> None:
    """Test that arguments the command line cannot read exit 2, as argparse does."""
    assert command("decode").returncode == 2
    assert command("decode", "not hex").returncode == 2


def test_errors_map_to_exit_codes_by_type() -> None:
    """Test that every exit code the README documents is picked by an error type."""
    codes = {kind: code for kind, code, _ in cli.EXIT_CODES}
    assert codes == {ConfigError: 1, DatabaseError: 4, InputFileError: 5}
    assert issubclass(DatabaseBusyError, DatabaseError)
    assert issubclass(SchemaError, DatabaseError)
    assert issubclass(PacketError, WxStationError)
    assert issubclass(SinkError, WxStationError)


# --- progress of the long commands ---------------------------------------------------

#: Hourly packets of station 1: ``ingest`` of 10,080 packets printed a line for each.
YEAR_PACKETS = 10_080
#: Packets of station 2, which the config does not have: kept aside.
UNKNOWN_PACKETS = 30
#: What stdout says of the capture's ingest, as it always did.
INGESTED = (
    f"stored {YEAR_PACKETS + UNKNOWN_PACKETS} packets, skipped 0 already in the database "
    "(same arrival time, peer and bytes)\n"
    f"decoded {YEAR_PACKETS} packets, {UNKNOWN_PACKETS} kept aside\n"
)
#: The summary line of that ingest, up to the time it took.
INGEST_SUMMARY = (
    f"ingest of capture.jsonl: {YEAR_PACKETS + UNKNOWN_PACKETS} packets stored, 0 skipped; "
    f"{YEAR_PACKETS} packets decoded into {YEAR_PACKETS * 30} samples, {UNKNOWN_PACKETS} kept "
    f"aside ({UNKNOWN_PACKETS}x device 2 is not configured (unknown_stations: keep): add it "
    "under stations and run 'wxstation-bridge reprocess'); 'wxstation-bridge status' lists "
    "what was kept aside; took "
)
#: What a bar draws, and what redraws it.
BAR_CHARACTERS = ("█", "|", "\r")


@pytest.fixture(scope="module")
def year_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A capture of ``YEAR_PACKETS`` of station 1 and ``UNKNOWN_PACKETS`` of station 2."""
    wakes = []
    for device, count in ((1, YEAR_PACKETS), (2, UNKNOWN_PACKETS)):
        station = sim.SimStation(device, ReferenceParser(), 1_790_000_000.0 + device, seed=1)
        for _ in range(count):
            wakes.append(station.wake())
            station.delivered()
    wakes.sort(key=lambda wake: wake.arrival)
    return write_capture(tmp_path_factory.mktemp("capture") / "capture.jsonl", wakes)


def _station_1_only(tmp_path: Path) -> Path:
    return write_config(
        tmp_path / "config.yaml",
        {
            "storage": {"path": "wx.db"},
            "stations": {1: {}},
            "unknown_stations": {"action": "keep"},
        },
    )


def test_ingest_and_export_off_a_terminal_print_a_few_plain_lines(
    tmp_path: Path, year_capture: Path
) -> None:
    """Test that off a terminal, ingest of a year's capture prints on stderr no bar
    and no line per packet, at most PLAIN_STEPS lines for each of its steps
    (reading, storing, decoding), and one summary: the packets stored, decoded,
    their samples, and those kept aside with their reason, which status lists;
    stdout says what it always said. Export's data on stdout is all there, its
    stderr a few plain lines and a summary of the samples written."""
    config = _station_1_only(tmp_path)
    result = command("ingest", str(year_capture), "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout == INGESTED
    lines = result.stderr.splitlines()
    assert not any(mark in result.stderr for mark in BAR_CHARACTERS)
    assert "192.168.1.50" not in result.stderr
    assert len(lines) <= 3 * PLAIN_STEPS + 1
    steps = ("reading capture.jsonl: ", "storing: ", "decoding: ")
    assert all(line.startswith(steps) for line in lines[:-1])
    assert {step for step in steps if any(line.startswith(step) for line in lines)} == set(steps)
    assert re.fullmatch(re.escape(INGEST_SUMMARY) + r"[0-9.]+ s", lines[-1])
    status = command("status", "-c", str(config)).stdout
    assert f"kept aside {UNKNOWN_PACKETS}x: device 2 is not configured" in status

    exported = command("export", "-c", str(config))
    assert exported.returncode == 0, exported.stderr
    assert len(exported.stdout.splitlines()) == YEAR_PACKETS * 30
    lines = exported.stderr.splitlines()
    assert not any(mark in exported.stderr for mark in BAR_CHARACTERS)
    assert len(lines) <= PLAIN_STEPS + 1
    assert all(line.startswith("exporting: ") for line in lines[:-1])
    assert re.fullmatch(rf"export: {YEAR_PACKETS * 30} samples written; took [0-9.]+ s", lines[-1])


def test_ingest_and_export_on_a_terminal_show_bars(tmp_path: Path, year_capture: Path) -> None:
    """Test that on a terminal, ingest of a year's capture leaves a full bar for
    each step, with its count and rate, then stdout's lines and the summary, and
    no line per packet; and export to a file leaves its bar and summary on the
    terminal and all its data in the file."""
    config = _station_1_only(tmp_path)
    code, screen = screen_of(
        bridge_command("ingest", str(year_capture), "-c", str(config)), tmp_path
    )
    assert code == 0, screen
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    total = f"{(YEAR_PACKETS + UNKNOWN_PACKETS) / 1000:.1f}k"
    bars = [
        ("reading capture.jsonl: 100%|", f"{year_capture.stat().st_size / 1e6:.2f}M/"),
        ("storing: 100%|", f"| {total}/{total} ["),
        ("decoding: 100%|", f"| {total}/{total} ["),
    ]
    for (start, count), line in zip(bars, lines[:2] + lines[3:4], strict=True):
        assert line.startswith(start), screen
        assert "█" in line, screen
        assert count in line, screen
        assert line.endswith("/s]"), screen
    assert "\n".join(lines[2:3] + lines[4:5]) + "\n" == INGESTED, screen
    assert lines[5].startswith(INGEST_SUMMARY), screen
    assert len(lines) == 6, screen

    exported = tmp_path / "samples.jsonl"
    code, screen = screen_of(bridge_command("export", "-c", str(config)), tmp_path, stdout=exported)
    assert code == 0, screen
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    assert lines[0].startswith("exporting: 100%|"), screen
    assert "█" in lines[0], screen
    assert "302k/302k" in lines[0], screen
    assert lines[1].startswith(f"export: {YEAR_PACKETS * 30} samples written; took "), screen
    assert len(lines) == 2, screen
    assert len(exported.read_text().splitlines()) == YEAR_PACKETS * 30


def test_plain_lines_come_at_tenths_of_the_way_and_not_too_often() -> None:
    """Test that off a terminal a step prints a line when it reaches a tenth of
    the way and PLAIN_INTERVAL seconds passed since its last line, one line
    when it is over, and nothing at all when it has nothing to do; the summary
    gives the time the whole command took."""
    now = [0.0]
    out = io.StringIO()
    progress = Progress(out, terminal=False, clock=lambda: now[0])
    assert PLAIN_INTERVAL == 5.0
    with progress.step("decoding", 500) as step:
        for _ in range(10):
            now[0] += 1.0
            step.advance(50)
    with progress.step("storing", 0):
        pass
    with progress.step("reading", 2_000_000, "B") as step:
        now[0] += 2.0
        step.advance(2_000_000)
    progress.summary("ingest: done")
    assert out.getvalue().splitlines() == [
        "decoding: 250 packets of 500 packets (50 %), 50.00 packets/s, 00:05 left",
        "decoding: 500 packets in 00:10, 50.00 packets/s",
        "reading: 2.00MB in 00:02, 1.00MB/s",
        "ingest: done; took 12.0 s",
    ]


def test_a_summary_names_the_commonest_reasons() -> None:
    """Test that a tally's line names the SUMMARY_REASONS commonest reasons for
    keeping packets aside with their counts, says how many other reasons there
    are, and counts conflicts and values out of range."""
    tally = Tally(decoded=5, samples=150, conflicts=2, out_of_range=1)
    tally.kept.update({"a": 3, "b": 2, "c": 1, "d": 1})
    assert SUMMARY_REASONS == 3
    assert tally.line() == (
        "5 packets decoded into 150 samples, 7 kept aside (3x a; 2x b; 1x c; 1 more reasons), "
        "2 samples kept aside as conflicts, 1 values out of range, not stored"
    )
    assert Tally().line() == "0 packets decoded into 0 samples, none kept aside"


def test_status_says_what_a_failing_disk_left(tmp_path: Path) -> None:
    """Test that ``status`` names a damaged database the bridge moved aside and
    the packets it held in ``storage.fallback_path`` while the disk failed, so a
    person who looks finds both; and says nothing of the kind otherwise."""
    fallback = tmp_path / "elsewhere"
    fallback.mkdir()
    config = write_config(
        tmp_path / "config.yaml",
        {"storage": {"path": "wx.db", "fallback_path": str(fallback)}},
    )
    quiet = command("status", "-c", str(config))
    assert quiet.returncode == 0, quiet.stderr
    assert "disk:" not in quiet.stdout
    moved = move_aside(tmp_path / "wx.db", now=datetime(2026, 12, 7, 15, 30, tzinfo=UTC))
    HeldFile(held_path(tmp_path / "wx.db", fallback)).append(
        [Received(bytes(sim.SimStation(1, ReferenceParser(), 0.0).wake().packet), 1.0, "x:1")]
    )
    said = command("status", "-c", str(config))
    assert said.returncode == 0, said.stderr
    lines = [line for line in said.stdout.splitlines() if line.startswith("disk:")]
    assert len(lines) == 2, said.stdout
    assert str(moved) in lines[0]
    assert moved.name == "wx.db.damaged-20261207T153000Z"
    assert "bytes of packets held in" in lines[1]
    assert str(fallback / "wx.db.held") in lines[1]
