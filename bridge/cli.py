"""``wxstation-bridge``: the bridge's command line."""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import gc
import json
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TextIO

from bridge.demo import Demo, demo_database
from bridge.errors import (
    ConfigError,
    DatabaseBusyError,
    DatabaseError,
    InputFileError,
    WxStationError,
)
from bridge.logs import configure_logging
from bridge.offline import Tally, decode_offline, decode_removed, give_way
from bridge.overview import sink_overviews, station_overviews
from bridge.progress import Progress
from bridge.reprocess import replay_station
from bridge.runtime.assembly import serve
from bridge.runtime.fallback import held_path
from bridge.service import (
    EXIT_CONFIG,
    EXIT_DATABASE,
    EXIT_INPUT,
    database_lock,
)
from bridge.spool import Spool
from bridge.spool.salvage import SIDE_FILES, move_aside, salvage
from wxstation import noise
from wxstation.config import Config, StorageConfig, load_config, local_url_host
from wxstation.packets import Received
from wxstation.protocol import PacketError, parse_header
from wxstation.samples import export_record, format_time, make_batch, parse_moment
from wxstation.timing import StationClock

__all__ = ["main"]

#: Conflicts ``status`` shows in full, the newest first.
STATUS_CONFLICTS = 10
#: Packets ``ingest`` stores per transaction: its progress moves, and an ingest
#: stopped halfway keeps what it stored (ingesting the file again skips that).
INGEST_GROUP = 2000
#: Each kind of error's exit code and the words before its message, the first
#: kind that matches (README, "Commands", lists the codes).
EXIT_CODES: tuple[tuple[type[WxStationError], int, str], ...] = (
    (ConfigError, EXIT_CONFIG, "config error"),
    (DatabaseError, EXIT_DATABASE, "cannot use the database"),
    (InputFileError, EXIT_INPUT, "cannot read the input"),
)


def _summary(config: Config) -> str:
    lines = [
        f"listen: {config.listen.host}:{config.listen.port}",
        f"storage: {config.storage.path}",
        f"stations: {len(config.stations)}",
    ]
    for device_id, station in sorted(config.stations.items()):
        fields = ", ".join(f.key for f in station.parser.all_fields)
        notes = ""
        if station.send_delay:
            notes += f"; send delay {station.send_delay:g} s"
        if station.quality.calibrate:
            notes += f"; calibrated: {', '.join(station.quality.calibrate)}"
        lines.append(f"  {device_id}: {station.name} ({station.parser.kind}: {fields}{notes})")
    unknown = config.unknown_stations
    lines.append(
        "unknown stations: "
        + (f"decoded with {unknown.parser}" if unknown.action == "decode" else "kept aside")
    )
    lines.append(f"influxdb: {config.influxdb.url if config.influxdb else 'off'}")
    lines.append(f"mqtt: {f'{config.mqtt.host}:{config.mqtt.port}' if config.mqtt else 'off'}")
    lines.append(f"uploads: {len(config.uploads) or 'off'}")
    if config.uploads:
        from bridge.sinks.uploads import explain

        lines.extend(f"  {explain(upload, config)}" for upload in config.uploads)
    http = config.http
    lines.append(
        f"http: {http.host}:{http.port}, actions "
        + ("with the token" if http.token else "from this machine only")
        if http.enabled
        else "http: off"
    )
    return "\n".join(lines)


def check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(f"{config.source or 'embedded defaults'}: OK")
    print(_summary(config))
    return 0


def decode(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        data = bytes.fromhex(args.hex.replace(" ", "").replace(":", ""))
    except ValueError as err:
        print(f"not a hex string: {err}", file=sys.stderr)
        return 2
    try:
        device_id = parse_header(data).device_id
        station = config.station(device_id)
        if station is None:
            print(
                f"device {device_id} is not configured and unknown_stations is 'keep': "
                "add it under stations in the config",
                file=sys.stderr,
            )
            return 1
        arrival = time.time() if args.arrival is None else args.arrival
        batch, _ = make_batch(
            station.name,
            station.parser,
            StationClock(),
            data,
            arrival,
            quality=station.quality,
            send_delay=station.send_delay,
        )
    except PacketError as err:
        print(f"refused: {err}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "device_id": batch.device_id,
                "station": batch.station,
                "header": batch.header.as_dict(),
                "announced": batch.announced,
                "received": batch.received,
                "cut": batch.cut,
                "problems": list(batch.problems),
                "out_of_range": [one.as_dict() for one in batch.out_of_range],
                "samples": [sample.as_dict() for sample in batch.samples],
            },
            indent=2 if args.pretty else None,
            ensure_ascii=False,
        )
    )
    return 0


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    configure_logging(args.log_level or config.log_level)
    demo = None
    if args.demo:
        demo = Demo(stations=args.demo_stations)
        if config.source is None:
            # A demo on the embedded defaults must not fill the user's real database.
            config = dataclasses.replace(
                config, storage=dataclasses.replace(config.storage, path=demo_database())
            )
    with asyncio.Runner(loop_factory=event_loop_factory(args.event_loop)) as runner:
        return runner.run(serve(config, demo=demo, on_ready=_settled))


def _settled(_: object) -> None:
    """Once the bridge has started: what it built to start (modules, config,
    parsers, the sinks' clients) lives as long as the process, so the garbage
    collector's full passes need not look at it again. They were every few
    seconds under load, up to 30 ms with everything stopped; 2 to 22 after."""
    gc.freeze()


def event_loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop ``run`` uses: uvloop when installed (``pip install
    wxstation[fast]``: about a fifth less CPU per packet), unless ``asyncio`` is
    asked for; None is asyncio's own."""
    if choice == "asyncio":
        return None
    try:
        import uvloop  # optional: the "fast" extra
    except ImportError:
        if choice == "uvloop":
            raise SystemExit(
                "--event-loop uvloop: uvloop is not installed (pip install wxstation[fast])"
            ) from None
        return None
    return uvloop.new_event_loop


@contextmanager
def _open_spool(config: Config) -> Iterator[tuple[Spool, bool]]:
    """The database, and whether this process may decode (no bridge is running)."""
    storage = config.storage
    spool = Spool(storage.path, max_size_mb=storage.max_size_mb, min_free_mb=storage.min_free_mb)
    with ExitStack() as held:
        try:
            held.enter_context(database_lock(storage.path))
            alone = True
        except DatabaseBusyError:
            alone = False
        with spool:
            yield spool, alone


def _decode_now(spool: Spool, config: Config, alone: bool, progress: Progress) -> Tally | None:
    """Decode the new packets here, unless a bridge runs and decodes them; None then."""
    if not alone:
        print(
            "a bridge is running on this database and decodes them within seconds, "
            "with the config it started with (restart it first if you changed the config)"
        )
        return None
    with progress.step("decoding", spool.packets.counts().get("new", 0)) as step:
        tally = decode_offline(spool, config, step.advance)
    print(f"decoded {tally.decoded} packets, {tally.kept_aside} kept aside")
    return tally


def _decoded_summary(tally: Tally | None) -> str:
    """What the decoding came to, for a summary line."""
    if tally is None:
        return "the running bridge decodes them"
    listed = "; 'wxstation-bridge status' lists what was kept aside" if tally.set_aside else ""
    return tally.line() + listed


def reprocess(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    configure_logging(args.log_level or config.log_level)
    if args.removed:
        return _reprocess_removed(config)
    if args.station is not None:
        return _reprocess_station(args, config)
    if args.since or args.until:
        print("--since and --until go with --station", file=sys.stderr)
        return 2
    with _open_spool(config) as (spool, alone), Progress(sys.stderr) as progress:
        count = spool.packets.requeue_kept(args.device)
        print(f"{count} kept-aside packets queued for decoding")
        tally = _decode_now(spool, config, alone, progress)
        progress.summary(f"reprocess: {count} kept-aside packets queued; {_decoded_summary(tally)}")
    return 0


def _reprocess_station(args: argparse.Namespace, config: Config) -> int:
    """Decode a station's decoded packets again and replace their samples."""
    device_id = args.station
    station = config.station(device_id)
    if station is None:
        print(
            f"device {device_id} is not configured (unknown_stations: keep): add it under "
            "stations first",
            file=sys.stderr,
        )
        return 1
    since = parse_moment(args.since) / 1000 if args.since else None
    until = parse_moment(args.until) / 1000 if args.until else None
    with _open_spool(config) as (spool, alone), Progress(sys.stderr) as progress:
        if not alone:
            print(
                "stop the bridge first: it decodes with the config it started with and "
                "delivers what it decoded itself; start it again with this config afterwards",
                file=sys.stderr,
            )
            return EXIT_DATABASE
        packets = spool.samples.station_packets(device_id)
        with progress.step("decoding again", len(packets)) as step:
            replay = replay_station(config, step.track(packets), since=since, until=until)
        stored = spool.samples.replace_batches(replay.batches)
        tally = Tally(kept=Counter(reason for _, reason in replay.refused))
        for one in stored:
            tally.add_batch(one.batch, len(one.conflicts))
        progress.summary(
            f"reprocess of {station.name} ({device_id}): "
            + tally.line(kept="refused by this config, their samples stay")
        )
    for packet_id, reason in replay.refused:
        print(f"packet {packet_id} is not decoded with this config, its samples stay: {reason}")
    samples = sum(len(one.batch.samples) for one in stored)
    outside = sum(len(one.batch.out_of_range) for one in stored)
    print(
        f"{station.name} ({device_id}): {len(stored)} packets decoded again, {samples} samples "
        f"replaced at their times, {outside} values out of range; the bridge delivers them to "
        "its sinks when it next runs"
    )
    return 0


def _reprocess_removed(config: Config) -> int:
    with _open_spool(config) as (spool, alone), Progress(sys.stderr) as progress:
        if not alone:
            print(
                "stop the bridge first: it would let the history give way again while "
                "it is decoded (and raise storage.max_size_mb, so that it fits)",
                file=sys.stderr,
            )
            return EXIT_DATABASE
        removed = sum(entry.packets for entry in spool.history.removed())
        with progress.step("decoding again", removed) as step:
            tally = decode_removed(spool, config, step.advance)
        print(
            f"decoded {tally.decoded} packets again whose history had given way "
            f"({tally.samples} samples)"
        )
        again = (
            "; their history stays listed: 'reprocess --removed' again once the config decodes them"
            if tally.kept
            else ""
        )
        progress.summary(f"reprocess --removed: {tally.line()}{again}")
    return 0


def ingest(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    configure_logging(args.log_level or config.log_level)
    path = Path(args.file)
    with Progress(sys.stderr) as progress:
        items = _read_capture(path, progress)
        with _open_spool(config) as (spool, alone):
            stored, gave_way = _store(spool, config, items, progress, alone=alone)
            print(
                f"stored {stored} packets, skipped {len(items) - stored} already in the "
                "database (same arrival time, peer and bytes)"
            )
            tally = _decode_now(spool, config, alone, progress)
            if tally is not None:
                tally.gave_way += gave_way
        progress.summary(
            f"ingest of {path.name}: {stored} packets stored, {len(items) - stored} skipped; "
            + _decoded_summary(tally)
        )
    return 0


def _store(
    spool: Spool, config: Config, items: Sequence[Received], progress: Progress, *, alone: bool
) -> tuple[int, int]:
    """Store the captured packets, a group per transaction, letting delivered
    history give way at the cap after each (unless a running bridge does);
    returns how many were new, and the packets whose history gave way."""
    stored = gave_way = 0
    with progress.step("storing", len(items)) as step:
        for start in range(0, len(items), INGEST_GROUP):
            group = items[start : start + INGEST_GROUP]
            stored += len(spool.packets.add(group))
            if alone:
                gave_way += give_way(spool, config, time.time())
            step.advance(len(group))
    return stored, gave_way


def _read_capture(path: Path, progress: Progress) -> list[Received]:
    """The packets of a capture file (``export --raw``), oldest first."""
    items = []
    try:
        with (
            path.open("rb") as lines,
            progress.step(f"reading {path.name}", path.stat().st_size, "B") as step,
        ):
            for number, line in enumerate(lines, 1):
                step.advance(len(line))
                if line.strip():
                    items.append(_capture_line(path, number, line))
    except OSError as err:
        raise InputFileError(path, str(err.strerror or err)) from err
    items.sort(key=lambda item: item.received_at)
    return items


def _capture_line(path: Path, number: int, line: bytes) -> Received:
    try:
        entry = json.loads(line.decode("utf-8"))
        return Received(
            bytes.fromhex(entry["data"]),
            float(entry["received_at"]),
            str(entry.get("peer", "ingest:0")),
        )
    except UnicodeDecodeError as err:
        raise InputFileError(
            path, f"not UTF-8 text ({err}): give a file that export --raw wrote", line=number
        ) from err
    except (ValueError, KeyError, TypeError) as err:
        raise InputFileError(
            path,
            'not a capture line {"received_at": unix_seconds, "peer": "ip:port", "data": "hex"}: '
            f"{err!r}",
            line=number,
        ) from err


def salvage_damaged(args: argparse.Namespace) -> int:
    """Copy what can be read of a damaged database into the configured one."""
    config = load_config(args.config)
    configure_logging(args.log_level or config.log_level)
    storage = config.storage
    damaged = Path(args.damaged)
    if not damaged.is_file():
        print(f"{damaged} is not a file: name the damaged database", file=sys.stderr)
        return EXIT_INPUT
    # Held throughout: a bridge started meanwhile would open the damaged file.
    with database_lock(storage.path):
        if damaged.resolve() == storage.path.resolve():
            damaged = move_aside(storage.path)
            print(f"moved {storage.path} aside to {damaged}")
        spool = Spool(
            storage.path, max_size_mb=storage.max_size_mb, min_free_mb=storage.min_free_mb
        )
        with spool:
            report = salvage(damaged, spool)
    print("\n".join(report.lines()))
    print(f"into {storage.path}; {damaged} stays as it is: delete it once you are content")
    return 0


def status(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with _open_spool(config) as (spool, alone):
        counts = spool.packets.counts()
        print(f"database: {config.storage.path}")
        print(f"bridge: {'not running' if alone else 'running'}")
        print(
            f"packets: {counts.get('done', 0)} decoded, {counts.get('kept', 0)} kept aside, "
            f"{counts.get('new', 0)} waiting"
        )
        for reason, count in spool.packets.kept_reasons():
            print(f"  kept aside {count}x: {reason}")
        count, conflicts = spool.samples.conflicts(STATUS_CONFLICTS)
        print(
            f"conflicts: {count} samples kept aside, each different from the stored sample "
            "of its station and time"
        )
        for conflict in conflicts:
            print(f"  {conflict}")
        if count > len(conflicts):
            print(f"  and {count - len(conflicts)} older ones")
        _print_shared_ids(spool, config)
        _print_disk(config.storage)
        _print_capacity(spool)
        _print_noise(spool)
        newest = spool.samples.newest_batches(), spool.samples.newest_samples()
        for station in station_overviews(config, *newest, time.time()):
            print(f"station {station.line()}")
        for sink in sink_overviews(
            config, spool.samples.last_seq(), spool.progress.by_sink(), spool.progress.rejected()
        ):
            print(sink.line())
    return 0


def _print_disk(storage: StorageConfig) -> None:
    """What a damaged or failing disk left: damaged databases moved aside beside
    this one, and packets held off it while its disk failed writes."""
    path = storage.path
    for damaged in sorted(path.parent.glob(f"{path.name}.damaged-*")):
        if not damaged.name.endswith(SIDE_FILES):
            print(
                f"disk: a damaged database was moved aside to {damaged}; what could be "
                "read of it was salvaged into this one (the log says what): delete it "
                "once content, and check the card or disk"
            )
    if storage.fallback_path is not None:
        held = held_path(path, storage.fallback_path)
        if held.exists() and held.stat().st_size > 0:
            print(
                f"disk: {held.stat().st_size} bytes of packets held in {held} while the "
                "database's disk failed writes; the bridge merges them in when it runs "
                "and the disk takes them"
            )


def _print_shared_ids(spool: Spool, config: Config) -> None:
    """The device ids that two stations seem to send with (see wxstation.timing)."""
    for device_id, clock in sorted(spool.samples.clocks().items()):
        if not clock.shared_id:
            continue
        station = config.station(device_id)
        name = station.name if station else f"device {device_id}"
        last = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(clock.clashes[-1]))
        print(
            f"shared device id {device_id} ({name}): {len(clock.clashes)} packets in the day "
            f"before its newest came sooner after the one before than its wake interval "
            f"allows, the last at {last} UTC: two stations seem to send with this id; every "
            "sample is kept, but give each station its own device id"
        )


def _print_capacity(spool: Spool) -> None:
    """The database against its cap: the projection, and what gave way so far."""
    projection = spool.history.projection(time.time())
    print(f"storage: {projection.summary()}")
    for warning in (projection.warning(), spool.disk_short_of_cap()):
        if warning is not None:
            print(f"  warning: {warning}")
    removed = spool.history.removed()
    if removed:
        print(
            f"removed at the cap: the decoded history of {sum(r.packets for r in removed)} "
            f"packets ({sum(r.samples for r in removed)} samples) that every sink had "
            "delivered; their raw packets are kept ('reprocess --removed' decodes them again):"
        )
        for entry in removed:
            print(f"  {entry}; last removed {_utc(entry.at)}")


def _utc(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(moment))


def _print_noise(spool: Spool) -> None:
    """The addresses that sent what is not a station's packets, most first."""
    sources = spool.noise.sources()
    if not sources:
        return
    kept, size = spool.noise.kept()
    print(
        f"not from stations: the bytes of {kept} connections kept ({size / 1e3:.1f} kB of at "
        f"most {noise.budget(spool.max_size) / 1e3:.0f} kB, for {noise.KEPT_DAYS:g} days); "
        "by address, most first:"
    )
    for source in sources:
        first, last = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(moment))
            for moment in (source.first_seen, source.last_seen)
        )
        print(
            f"  {source.source}: {source.connections} connections ({source.size / 1e6:.1f} MB), "
            f"{source.refused} closed unread; {first} .. {last} UTC; last: {source.reason}; "
            f"first bytes {source.sample[:16].hex()}"
        )


def health(args: argparse.Namespace) -> int:
    """Ask the running bridge's ``/healthz``: for Docker's and systemd's checks."""
    config = load_config(args.config)
    http = config.http
    if not http.enabled:
        print("the config turns the status page off (http.enabled: false)", file=sys.stderr)
        return 1
    url = f"http://{local_url_host(http.host)}:{http.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            print(response.read().decode(errors="replace").strip())
            return 0
    except urllib.error.HTTPError as err:
        print(err.read().decode(errors="replace").strip(), file=sys.stderr)
    except OSError as err:
        print(f"no bridge answers at {url}: {err}", file=sys.stderr)
    return 1


def redeliver(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with _open_spool(config) as (spool, alone):
        if not alone:
            print("stop the bridge first: it holds each sink's position in memory", file=sys.stderr)
            return EXIT_DATABASE
        count = spool.progress.rewind(args.sink)
    print(f"{count} kept-aside batches of {args.sink} will be delivered when the bridge runs")
    return 0


def export(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    out = sys.stdout
    # Data lines on the same terminal would break the bar's redraws.
    on_terminal = sys.stderr.isatty() and not out.isatty()
    with (
        _open_spool(config) as (spool, _),
        Progress(sys.stderr, terminal=on_terminal) as progress,
    ):
        if args.raw:
            with progress.step("exporting", sum(spool.packets.counts().values())) as step:
                for packet in step.track(spool.export.packets()):
                    out.write(json.dumps(packet.as_capture()) + "\n")
            progress.summary(f"export --raw: {step.done} packets written")
            return 0
        within = {
            "device_id": args.station,
            "since_ms": parse_moment(args.since) if args.since else None,
            "until_ms": parse_moment(args.until) if args.until else None,
        }
        with progress.step("exporting", spool.export.samples_at_most(**within), " samples") as step:
            _write_samples(out, args.format, step.track(spool.export.samples(**within)))
        progress.summary(f"export: {step.done} samples written")
    return 0


def _write_samples(
    out: TextIO, layout: str, rows: Iterable[tuple[int, str, int, dict[str, float]]]
) -> None:
    """The samples as JSON lines or CSV (a column for each key any sample has)."""
    if layout == "jsonl":
        for row in rows:
            out.write(json.dumps(export_record(*row), ensure_ascii=False) + "\n")
        return
    materialised = list(rows)
    keys = sorted({key for *_, values in materialised for key in values})
    writer = csv.writer(out)
    writer.writerow(["device_id", "station", "time", *keys])
    for device_id, station, time_ms, values in materialised:
        writer.writerow(
            [device_id, station, format_time(time_ms), *(values.get(k, "") for k in keys)]
        )


def _build_cli() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="wxstation-bridge",
        description="Receive, timestamp, store and republish weather station packets.",
    )
    sub = cli.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("-c", "--config", help="config file (default: embedded defaults)")
        parser.add_argument("--log-level", help="debug, info, warning or error")
        return parser

    runner = command("run", "receive packets from stations until stopped (SIGTERM or Ctrl-C)")
    runner.add_argument(
        "--demo",
        action="store_true",
        help="also run simulated stations against this bridge (without -c: in a "
        "temporary database)",
    )
    runner.add_argument("--demo-stations", type=int, default=3, help="simulated stations (3)")
    runner.add_argument(
        "--event-loop",
        choices=("auto", "uvloop", "asyncio"),
        default="auto",
        help="auto (the default): uvloop when it is installed, else asyncio's own",
    )
    runner.set_defaults(run=run)
    again = command(
        "reprocess",
        "decode kept-aside packets again, e.g. after fixing the config; with --station, a "
        "station's decoded packets, replacing their samples (e.g. after a calibration)",
    )
    again.add_argument("--device", type=int, help="only kept-aside packets claiming this device id")
    again.add_argument(
        "--station",
        type=int,
        metavar="ID",
        help="decode this station's decoded packets again and replace their samples",
    )
    again.add_argument("--since", help="with --station: packets that arrived from this time on")
    again.add_argument("--until", help="with --station: packets that arrived before this time")
    again.add_argument(
        "--removed",
        action="store_true",
        help="instead, decode again the packets whose decoded history gave way at the "
        "database's cap, with the times they had (stop the bridge first)",
    )
    again.set_defaults(run=reprocess)
    exporter = command("export", "print stored samples (or, with --raw, the received packets)")
    exporter.add_argument("--station", type=int, metavar="ID", help="only this device id")
    exporter.add_argument("--since", help="from this time on (RFC 3339 or unix seconds)")
    exporter.add_argument("--until", help="before this time (RFC 3339 or unix seconds)")
    exporter.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    exporter.add_argument(
        "--raw", action="store_true", help="the packets as received, in the format ingest reads"
    )
    exporter.set_defaults(run=export)
    command(
        "status",
        "what the database holds: packets, kept-aside reasons, conflicts, sink backlog, "
        "noisy addresses",
    ).set_defaults(run=status)
    checker = command("health", "ask the running bridge's /healthz; exit 0 when it is healthy")
    checker.add_argument("--timeout", type=float, default=5.0, help="seconds to wait (5)")
    checker.set_defaults(run=health)
    again_sink = command(
        "redeliver", "deliver a sink's kept-aside batches again, e.g. after fixing InfluxDB"
    )
    again_sink.add_argument("sink", help="the sink's name, as status shows it (influxdb, mqtt)")
    again_sink.set_defaults(run=redeliver)
    ingester = command(
        "ingest",
        "store and decode captured packets with their arrival times, skipping those "
        "already stored (same arrival time, peer and bytes)",
    )
    ingester.add_argument(
        "file", help='JSON lines: {"received_at": unix_seconds, "peer": "ip:port", "data": "hex"}'
    )
    ingester.set_defaults(run=ingest)

    salvager = command(
        "salvage",
        "copy what can be read of a damaged database into the configured one (with the "
        "bridge stopped); the configured database itself is moved aside first",
    )
    salvager.add_argument("damaged", help="the damaged database file")
    salvager.set_defaults(run=salvage_damaged)

    command("check-config", "validate a config file and print what it sets up").set_defaults(
        run=check_config
    )
    decoder = command("decode", "decode one packet given as hex and print its samples as JSON")
    decoder.add_argument("hex", help="the packet's bytes as hex, e.g. from wxstation-sim packet")
    decoder.add_argument(
        "--arrival", type=float, help="unix seconds the packet arrived (default: now)"
    )
    decoder.add_argument("--pretty", action="store_true", help="indent the JSON")
    decoder.set_defaults(run=decode)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_cli().parse_args(argv)
    try:
        return int(args.run(args))
    except WxStationError as err:
        code, prefix = next(
            ((code, prefix) for kind, code, prefix in EXIT_CODES if isinstance(err, kind)),
            (1, "wxstation-bridge"),
        )
        print(f"{prefix}: {err}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
