"""The spool on its own: what it keeps, and the commands that look into it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bridge.availability import LastPacket
from bridge.config import parse_config
from bridge.parsers import ReferenceParser
from bridge.service import decode_offline
from bridge.sim import SimStation
from bridge.spool import Received, Spool
from tests.runtime_helpers import write_config


def filled_spool(path: Path, packets: int = 4) -> Spool:
    spool = Spool(path).open()
    station = SimStation(1, ReferenceParser(), 1_790_000_000.0)
    items = []
    for _ in range(packets):
        wake = station.wake()
        station.delivered()
        items.append(Received(wake.packet, wake.arrival, "192.168.1.50:4000"))
    items.append(Received(b"garbage", 1_790_100_000.0, "192.168.1.66:4000"))
    spool.add_packets(items)
    decode_offline(spool, parse_config({}))
    return spool


def test_rewind_delivers_refused_batches_again(tmp_path: Path) -> None:
    """Test that rewinding a sink moves it back to its first refused batch only."""
    with filled_spool(tmp_path / "wx.db") as spool:
        spool.set_progress("influxdb", 4)
        spool.reject("influxdb", [2, 3], "field type conflict", 0.0)
        assert spool.rewind("influxdb") == 2
        assert spool.progress("influxdb") == 1
        assert spool.rejected("influxdb") == []
        assert spool.rewind("influxdb") == 0
        assert spool.progress("influxdb") == 1


def test_samples_survive_reopening(tmp_path: Path) -> None:
    with filled_spool(tmp_path / "wx.db"):
        pass
    with Spool(tmp_path / "wx.db") as spool:
        assert spool.counts() == {"done": 4, "kept": 1}
        assert len(list(spool.samples())) == 120
        assert 1 in spool.clocks()


def test_prune_keeps_the_raw_packets(tmp_path: Path) -> None:
    with filled_spool(tmp_path / "wx.db") as spool:
        newest = max(time for _, _, time, _ in spool.samples())
        removed = spool.prune(newest)
        assert removed == 119
        assert len(list(spool.raw_packets())) == 5


def test_last_packets_are_the_newest_by_arrival(tmp_path: Path) -> None:
    """Test that each station's newest packet is found by its arrival, not by decoding order."""
    with filled_spool(tmp_path / "wx.db") as spool:
        newest = max(p.received_at for p in spool.raw_packets() if p.device_id == 1)
        roof = SimStation(2, ReferenceParser(), 1_790_000_000.0, wake_every_s=600).wake()
        late = SimStation(1, ReferenceParser(), 1_780_000_000.0, wake_every_s=900).wake()
        spool.add_packets(
            [
                Received(roof.packet, roof.arrival, "192.168.1.51:4000"),
                # Older than station 1's newest, decoded after it (as after reprocess).
                Received(late.packet, late.arrival, "192.168.1.50:4000"),
            ]
        )
        assert decode_offline(spool, parse_config({})) == (2, 0)
        assert spool.last_packets() == {
            1: LastPacket(newest, 3600),
            2: LastPacket(roof.arrival, 600),
        }


def test_status_and_redeliver_commands(tmp_path: Path) -> None:
    """Test that status shows kept-aside reasons and sink backlog, and redeliver rewinds."""
    with filled_spool(tmp_path / "wx.db") as spool:
        spool.set_progress("influxdb", 4)
        spool.reject("influxdb", [3], "field type conflict", 0.0)
    config_file = write_config(tmp_path / "config.yaml", {"storage": {"path": "wx.db"}})

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bridge.cli", *args, "-c", str(config_file)],
            capture_output=True,
            text=True,
            check=False,
        )

    shown = cli("status").stdout
    assert "packets: 4 decoded, 1 kept aside, 0 waiting" in shown
    assert "kept aside 1x: fewer than 9 header bytes" in shown
    assert "sink influxdb: 0 batches to deliver, 1 refused and kept aside" in shown
    result = cli("redeliver", "influxdb")
    assert result.returncode == 0, result.stderr
    assert "1 kept-aside batches of influxdb" in result.stdout
    assert "sink influxdb: 2 batches to deliver, 0 refused" in cli("status").stdout
