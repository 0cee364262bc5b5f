"""A damaged or failing disk under a running bridge, with real faults and stations sending.

- Pages of the database overwritten with garbage (as a failing SD card leaves
  them) before the bridge starts, and under the running bridge: the file is
  moved aside, a fresh one takes its place without a restart, and the damaged
  one is salvaged into it.
- EIO injected into the database's writes and fsyncs with libfiu
  (``fiu-run -x``, switched on and off with ``fiu-ctrl``) in the bridge's
  process.
- A loop-mounted ext4 image turned read-only under the running bridge (ext4's
  own ``errors=remount-ro`` path, ``mount -o remount,abort``), then mounted
  read-write again.

Each ends with the ledger (every packet sent is stored, decoded once, none
lost) and the salvaged history exported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bridge.runtime import fallback as fallback_module
from bridge.runtime.fallback import HeldFile
from tests.support.bridge import bridge_config, bridge_process, cli, running_bridge, write_config
from tests.support.damage import (
    overwrite,
    packet_pages,
    packets_of,
    running_bridge_database,
    table_pages,
)
from tests.support.faults import Count, Stations, config_file, settled
from tests.support.fleet import fleet_rounds
from tests.support.ledger import ledger, progress
from tests.support.servers import free_port
from tests.support.sinks import GatedSink
from tests.support.waiting import eventually, wait_until
from tests.support.web import get, http_client, web_url
from wxstation.packets import Received
from wxstation.problems import DISK_DAMAGED, DISK_IO_ERROR, DISK_READ_ONLY

pytestmark = pytest.mark.servers

#: Pages of ``packets`` and ``readings`` the live file loses in the middle of
#: its history, as a failing card loses them.
HIT_PAGES = 2


def salvaged_packets(log: str) -> int:
    """How many packets the salvage copied, as its report in the log says."""
    found = re.findall(r"packets: \d+ rows read, (\d+) copied", log)
    assert found, "no salvage report in the log"
    return sum(int(n) for n in found)


def exported_counts(config: Path) -> tuple[int, int]:
    """The samples and the raw packets ``export`` prints of the database of ``config``."""
    samples = cli("export", "-c", str(config))
    raw = cli("export", "--raw", "-c", str(config))
    assert samples.returncode == 0, samples.stderr
    assert raw.returncode == 0, raw.stderr
    return len(samples.stdout.splitlines()), len(raw.stdout.splitlines())


def config_of(tmp_path: Path, db: Path) -> Path:
    """A config whose database is ``db``, for the commands."""
    return write_config(tmp_path / "commands.yaml", {"storage": {"path": str(db)}})


def damaged_files(db: Path) -> list[Path]:
    """The files the database at ``db`` was moved to, damaged."""
    found = db.parent.glob(f"{db.name}.damaged-*")
    return sorted(p for p in found if not p.name.endswith(("-wal", "-shm")))


# --- a damaged database ---------------------------------------------------------------


def test_pages_hit_before_start_are_moved_aside_and_salvaged_under_load(
    tmp_path: Path,
) -> None:
    """Test that a database whose pages read at start are garbage (the
    stations' clocks) and whose packets lost a page does not keep the bridge
    from starting: it is moved aside, a fresh database takes the stations'
    packets from the first one, every packet on a page that was not hit is
    salvaged into it, and the ledger says 0 lost, 0 doubled."""
    db = tmp_path / "wx.db"
    running_bridge_database(db)
    before = packets_of(db)
    packet_leaves = [p for p, kind in table_pages(db, "packets").items() if kind == "leaf"]
    hit = [*table_pages(db, "stations"), packet_leaves[len(packet_leaves) // 3]]
    lost = set(packet_pages(db)[0][hit[-1]])
    overwrite(db, hit)
    port = free_port()
    config = config_file(tmp_path, port)
    log = tmp_path / "bridge.log"
    with bridge_process(config, log) as bridge:
        bridge.start()
        stations = Stations(port, 600, rate=150, stations=20)
        report = stations.report()
        settled(
            db,
            log,
            lambda now: "not salvaged:" in log.read_text() and now.new == 0,
            within=60,
            note=f"sent {report['packets_sent']}",
        )
        assert bridge.terminate() == 0
    text = log.read_text()
    copied = salvaged_packets(text)
    count = Count.of("damaged before start", report["packets_sent"], db, log)
    count.extra = f"; salvaged {copied} of {len(before)}, on the hit page {len(lost)}"
    count.assert_no_loss()
    assert report["failures"] == 0
    assert copied == len(before) - len(lost)
    assert count.counts.packets == report["packets_sent"] + copied
    after = set(packets_of(db).values())
    assert {p for i, p in before.items() if i not in lost} <= after
    assert len(damaged_files(db)) == 1
    assert "is damaged" in text
    samples, raw = exported_counts(config)
    assert samples == count.counts.samples
    assert raw == count.counts.packets


async def test_pages_overwritten_under_the_running_bridge_are_salvaged_without_a_restart(
    tmp_path: Path,
) -> None:
    """Test that pages of decoded history overwritten in the live file, met by
    a sink reading back its backlog, make the running bridge move the file
    aside, go on with a fresh one without pausing the receiver (the stations
    sending meanwhile lose nothing), salvage the damaged file into it, and say
    so: the problem ``disk_damaged`` with what was salvaged."""
    db = tmp_path / "wxstation.db"
    running_bridge_database(db)
    before = packets_of(db)
    readings = [p for p, kind in table_pages(db, "readings").items() if kind == "leaf"]
    middle = len(readings) // 2
    hit = readings[middle : middle + HIT_PAGES]
    sink = GatedSink("gated")
    sink.batch_limit = 10
    sink.gate.clear()
    config = bridge_config(tmp_path)
    async with running_bridge(config, [sink]) as bridge:
        overwrite(db, hit)
        stations = Stations(bridge.port, 400, rate=100, stations=20)
        await asyncio.sleep(0.5)
        sink.gate.set()
        report = await asyncio.to_thread(stations.report)
        await eventually(
            lambda: bool(bridge.assembly.recovery.reports), what="the salvage", within=60
        )
        await eventually(
            lambda: progress(db).new == 0 and progress(db).delivered("gated"),
            what="every packet decoded and delivered",
            within=60,
        )
        problems = {p.key: p for p in bridge.assembly.problems.current()}
        assert DISK_DAMAGED in problems
        assert "Salvaged:" in problems[DISK_DAMAGED].message
        assert bridge.assembly.status.damage is not None
        assert bridge.assembly.status.health() is None
        # The status page reads the fresh database: every station it holds.
        async with http_client() as session:
            code, text = await get(session, web_url(bridge, "/api/stations"))
        assert code == 200, text
        assert len(json.loads(text)["stations"]) == 20
        (salvage_report,) = bridge.assembly.recovery.reports
    copied = salvage_report.copied["packets"]
    count = Count.of("damaged under the running bridge", report["packets_sent"], db)
    count.extra = f"; salvaged {copied} of {len(before)} packets"
    count.assert_no_loss()
    assert report["failures"] == 0
    # The packets stored before the damage are all in the fresh database: those
    # of the file the bridge started with, and those the stations sent until then.
    assert copied >= len(before)
    assert count.counts.packets == report["packets_sent"] + len(before)
    assert set(before.values()) <= set(packets_of(db).values())
    assert len(damaged_files(db)) == 1
    # The decoded history on the hit pages is listed as given way, for reprocess.
    assert sorted(salvage_report.damaged_pages) == sorted(hit)
    assert salvage_report.history_lost > 0
    samples, raw = exported_counts(config_of(tmp_path, db))
    assert (samples, raw) == (count.counts.samples, count.counts.packets)


# --- a failing disk: EIO on write and on fsync ---------------------------------------


def fiu_ctrl(pid: int, command: str) -> None:
    subprocess.run(["fiu-ctrl", "-c", command, str(pid)], check=True, timeout=10)


#: libfiu's failure points of SQLite's writes and syncs (it syncs with
#: fdatasync), and errno 5, EIO: without it libfiu picks any errno the call may
#: set, and SQLite takes EINVAL from a sync as "not supported here".
EIO_POINTS = ["posix/io/rw/pwrite", "posix/io/sync/fdatasync"]
EIO = 5


@pytest.mark.parametrize("point", EIO_POINTS)
def test_eio_on_the_databases_writes_holds_packets_and_merges_them_back(
    tmp_path: Path, point: str
) -> None:
    """Test that EIO on the database's writes (``pwrite``) or syncs, injected
    into the running bridge's process for a few seconds while stations send,
    loses nothing: what the disk refuses is held in memory, the receiver keeps
    accepting, and once the disk takes writes again everything is merged back
    and decoded once."""
    if shutil.which("fiu-run") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("fiu-run is missing: scripts/test installs Debian's fiu-utils")
        pytest.skip("fiu-run is missing (Debian's fiu-utils)")
    port = free_port()
    config = config_file(tmp_path, port)
    db = tmp_path / "wx.db"
    log = tmp_path / "bridge.log"
    with bridge_process(config, log, prefix=("fiu-run", "-x")) as bridge:
        bridge.start()
        assert bridge.process is not None
        pid = bridge.process.pid
        stations = Stations(port, 1500, rate=150, stations=20)
        time.sleep(1.5)
        fiu_ctrl(pid, f"enable_random name={point},probability=0.5,failinfo={EIO}")
        wait_until(lambda: "holding what stations send" in log.read_text(), "a write to fail", 20)
        time.sleep(3.0)
        fiu_ctrl(pid, f"disable name={point}")
        report = stations.report()
        settled(
            db,
            log,
            lambda now: now.packets == report["packets_sent"] and now.new == 0,
            within=60,
            note=f"sent {report['packets_sent']}",
        )
        assert bridge.terminate() == 0
    text = log.read_text()
    count = Count.of(f"EIO on {point}", report["packets_sent"], db, log)
    count.assert_no_loss()
    assert report["failures"] == 0
    assert count.counts.packets == report["packets_sent"] == 1500
    assert count.counts.samples_and_conflicts == report["samples_sent"]
    assert "takes writes again" in text
    assert "not accepting packets" not in text
    samples, raw = exported_counts(config)
    assert (samples, raw) == (count.counts.samples, count.counts.packets)


# --- a filesystem turned read-only -------------------------------------------------------


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


def _loop_devices_available() -> str | None:
    """Why loop devices cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "not root"
    for tool in ("losetup", "mkfs.ext4", "mount", "umount", "e2fsck"):
        if shutil.which(tool) is None:
            return f"{tool} is missing"
    found = _run("losetup", "-f")
    if found.returncode != 0:
        return f"no free loop device ({found.stderr.strip()})"
    return None


def _attached(image: Path) -> list[str]:
    return [line for line in _run("losetup", "-j", str(image)).stdout.splitlines() if line]


@contextlib.contextmanager
def ext4_image(tmp_path: Path, megabytes: int = 64) -> Iterator[tuple[Path, Path]]:
    """An ext4 image loop-mounted (``errors=remount-ro``) at a directory of its
    own: (the image, the mount point). Unmounted and detached at the end, even
    when the test fails."""
    why = _loop_devices_available()
    if why is not None:
        pytest.skip(f"loop devices are not available on this machine: {why}")
    image = tmp_path / "disk.img"
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    _run("truncate", "-s", f"{megabytes}M", str(image))
    made = _run("mkfs.ext4", "-q", "-F", str(image))
    assert made.returncode == 0, made.stderr
    mount_ext4(image, mount_point)
    try:
        yield image, mount_point
    finally:
        for _ in range(3):
            if _run("umount", str(mount_point)).returncode != 0:
                _run("umount", "-l", str(mount_point))
            if not _attached(image):
                break
            time.sleep(0.5)
        for line in _attached(image):
            _run("losetup", "-d", line.split(":")[0])
        assert not _attached(image), f"{image} is still attached"


def mount_ext4(image: Path, mount_point: Path) -> None:
    """Mount ``image`` through a loop device of its own: ``mount -o loop`` would
    reuse one the image is still attached to, and with it a filesystem that
    was aborted and lazily unmounted."""
    attached = _run("losetup", "-f", "--show", str(image))
    assert attached.returncode == 0, f"cannot attach {image}: {attached.stderr}"
    device = attached.stdout.strip()
    mounted = _run("mount", "-o", "errors=remount-ro", device, str(mount_point))
    assert mounted.returncode == 0, f"cannot mount {image}: {mounted.stderr}"


async def test_a_filesystem_turned_read_only_under_load_holds_packets_until_it_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Test that the database's ext4 filesystem turning read-only under the
    running bridge (ext4's ``errors=remount-ro``, forced with ``remount,abort``:
    a plain ``remount,ro`` is refused while the database is open for writing)
    silences no station: packets are held in memory and, past its bound, in
    ``storage.fallback_path`` on another disk; ``/healthz`` answers 503 with
    the reason and the problem ``disk_read_only`` holds; once the filesystem
    is checked and mounted read-write again, the bridge merges everything back
    by itself and the ledger says 0 lost, 0 doubled."""
    # A small memory bound, so that the stations' packets also go to the file.
    monkeypatch.setattr(fallback_module, "FALLBACK_MEMORY_BYTES", 40_000)
    monkeypatch.setattr(fallback_module, "PROBE_INTERVAL", 1.0)
    with ext4_image(tmp_path) as (image, disk):
        config = bridge_config(tmp_path)
        config = replace(
            config,
            storage=replace(
                config.storage, path=disk / "wx.db", fallback_path=tmp_path, min_free_mb=0
            ),
        )
        db = disk / "wx.db"
        async with running_bridge(config) as bridge:
            assert bridge.web is not None
            stations = Stations(bridge.port, 1200, rate=150, stations=20)
            await asyncio.sleep(1.5)
            aborted = _run("mount", "-o", "remount,abort", str(disk))
            assert aborted.returncode == 0, aborted.stderr
            await eventually(
                lambda: bridge.assembly.status.held is not None, what="packets held", within=20
            )
            async with http_client() as session:
                code, text = await get(session, web_url(bridge, "/healthz"))
                # A watchdog that restarts is not asked to: a restart mends no disk.
                alive, _ = await get(session, web_url(bridge, "/livez"))
            assert code == 503, text
            assert "read-only" in text
            assert alive == 200
            assert DISK_READ_ONLY in bridge.assembly.problems
            await asyncio.sleep(3.0)
            held_file = tmp_path / "wx.db.held"
            assert held_file.stat().st_size > 0
            # What a person does: the filesystem checked, and mounted again.
            _run("umount", "-l", str(disk))
            checked = _run("e2fsck", "-fy", str(image))
            assert checked.returncode in (0, 1), checked.stdout + checked.stderr
            mount_ext4(image, disk)
            report = await asyncio.to_thread(stations.report)
            await eventually(
                lambda: bridge.assembly.status.held is None, what="the disk used again", within=30
            )
            await eventually(
                lambda: progress(db).new == 0 and progress(db).packets == report["packets_sent"],
                what="every packet committed and decoded",
                within=60,
            )
            assert DISK_READ_ONLY not in bridge.assembly.problems
            assert DISK_IO_ERROR not in bridge.assembly.problems
            async with http_client() as session:
                code, text = await get(session, web_url(bridge, "/healthz"))
            assert code == 200, text
            assert not held_file.exists()
        count = Count.of("filesystem read-only", report["packets_sent"], db)
        count.assert_no_loss()
        assert report["failures"] == 0
        assert count.counts.samples_and_conflicts == report["samples_sent"]
        samples, raw = exported_counts(config_of(tmp_path, db))
        assert (samples, raw) == (count.counts.samples, count.counts.packets)


# --- the fallback's file -------------------------------------------------------------------


def test_the_held_file_gives_back_what_was_appended_in_order_and_survives_a_cut(
    tmp_path: Path,
) -> None:
    """Test that the fallback's file reads back every packet appended, in
    order, from where merging got to; that the packets memory held at a stop
    go to its front; and that a record cut short by a crash ends it without
    losing the whole ones before it."""
    held = HeldFile(tmp_path / "wx.db.held")
    items = [Received(bytes([n]) * (n + 1), 1000.0 + n, f"192.0.2.{n}:4000") for n in range(10)]
    held.append(items[3:7])
    first, at = held.read(2)
    assert first == items[3:5]
    held.read_at = at
    held.append(items[7:])
    held.rewrite(items[:3])
    read, at = held.read(100)
    assert read == [*items[:3], *items[5:]]
    with held.path.open("ab") as file:
        file.write(b"\x00\x01\x02")
    assert held.read(100) == (read, at)


async def test_packets_a_stopped_bridge_held_in_its_file_are_merged_at_the_next_start(
    tmp_path: Path,
) -> None:
    """Test that packets a bridge left in ``storage.fallback_path`` when it
    stopped with its disk failing are committed and decoded at the next start,
    before any new packet, and the file removed: what the fallback held
    survives a restart."""
    config = bridge_config(tmp_path)
    held_dir = tmp_path / "held"
    held_dir.mkdir()
    config = replace(config, storage=replace(config.storage, fallback_path=held_dir))
    items = [item for group in fleet_rounds(3, 4, time.time() - 3600) for item in group]
    held = HeldFile(held_dir / f"{config.storage.path.name}.held")
    held.append(items)
    async with running_bridge(config) as bridge:
        await eventually(lambda: progress(config.storage.path).new == 0, what="decoding")
        assert bridge.assembly.status.held is None
        assert bridge.assembly.problems.current() == ()
    stored = packets_of(config.storage.path)
    assert [stored[i] for i in sorted(stored)] == [
        (item.received_at, item.peer, item.data) for item in items
    ]
    assert ledger(config.storage.path).done == len(items)
    assert not held.path.exists()
