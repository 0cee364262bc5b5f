"""``wxstation-bridge``: the bridge's command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from bridge.config import Config, ConfigError, load_config
from bridge.protocol import PacketError, parse_header
from bridge.samples import make_batch
from bridge.timing import StationClock

__all__ = ["main"]


def _summary(config: Config) -> str:
    lines = [
        f"listen: {config.listen.host}:{config.listen.port}",
        f"storage: {config.storage.path}",
        f"stations: {len(config.stations)}",
    ]
    for device_id, station in sorted(config.stations.items()):
        fields = ", ".join(f.key for f in station.parser.all_fields)
        lines.append(f"  {device_id}: {station.name} ({station.parser.kind}: {fields})")
    unknown = config.unknown_stations
    lines.append(
        "unknown stations: "
        + (f"decoded with {unknown.parser}" if unknown.action == "decode" else "kept aside")
    )
    lines.append(f"influxdb: {config.influxdb.url if config.influxdb else 'off'}")
    lines.append(f"mqtt: {f'{config.mqtt.host}:{config.mqtt.port}' if config.mqtt else 'off'}")
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
        batch, _ = make_batch(station.name, station.parser, StationClock(), data, arrival)
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
                "samples": [sample.as_dict() for sample in batch.samples],
            },
            indent=2 if args.pretty else None,
            ensure_ascii=False,
        )
    )
    return 0


def _build_cli() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="wxstation-bridge",
        description="Receive, timestamp, store and republish weather station packets.",
    )
    sub = cli.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("-c", "--config", help="config file (default: embedded defaults)")
        return parser

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
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
