"""The command lines: check-config, decode, and the simulator's packets."""

from __future__ import annotations

import json
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
from bridge.protocol import PacketError
from bridge.samples import format_time, format_times, parse_time
from bridge.service import database_lock
from bridge.sinks import SinkError
from tests.support.bridge import cli as command

ROOT = Path(__file__).parent.parent


def test_check_config_accepts_the_example() -> None:
    result = command("check-config", "-c", str(ROOT / "config.example.yaml"))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
    assert "7: Greenhouse (fields: light, temperature, humidity, battery)" in result.stdout


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
