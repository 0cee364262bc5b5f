"""The command lines: check-config, decode, and the simulator's packets."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import cli, sim
from bridge.samples import format_time

ROOT = Path(__file__).parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed console script, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args], capture_output=True, text=True, check=False
    )


def test_check_config_accepts_the_example() -> None:
    result = run("check-config", "-c", str(ROOT / "config.example.yaml"))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
    assert "7: Greenhouse (fields: light, temperature, humidity, battery)" in result.stdout


def test_check_config_names_the_broken_key(tmp_path: Path) -> None:
    """Test that a broken config exits 1 with the key path in the message."""
    broken = tmp_path / "config.yaml"
    broken.write_text("stations:\n  7:\n    fields:\n      - key: t\n        type: u17\n")
    result = run("check-config", "-c", str(broken))
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
        result = run(*args, "--help")
        assert result.returncode == 0
        assert "usage: wxstation-bridge" in result.stdout


@settings(max_examples=2000, deadline=None)
@given(st.integers(min_value=-(10**12), max_value=4_102_444_800_000))
def test_format_time_is_rfc3339_utc_with_milliseconds(time_ms: int) -> None:
    """Test format_time against datetime for any millisecond from 1938 to 2100."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=time_ms)
    assert format_time(time_ms) == moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
