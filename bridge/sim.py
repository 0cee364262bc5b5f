"""``wxstation-sim``: stations that send packets byte for byte as the firmware does.

A :class:`SimStation` models one station: an ATtiny whose watchdog clock runs a
little off, measuring every ``measure_every_s`` of its own seconds into a store
that drops its oldest record when full, and waking the ESP every
``wake_every_s``; the ESP sends everything stored, and the store is cleared
only when delivery is confirmed. It knows when each record was really taken,
so tests can check the bridge's timestamps against the truth.

The command line sends one packet, prints one as hex, or runs a fleet of
stations against a bridge in accelerated time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from wxstation.config import DEFAULT_PORT, ConfigError, load_config
from wxstation.parsers import Field, StationParser, make_parser
from wxstation.protocol import DEFAULT_MEASURE_EVERY_S, DEFAULT_WAKE_EVERY_S, HEADER, HEADER_SIZE

__all__ = ["SimStation", "Wake", "build_packet", "main", "send_packet", "weather"]

DAY = 86400.0
#: Seconds from the ATtiny's wake signal until the ESP's packet arrives (boot, WiFi).
ESP_DELAY = (1.0, 3.0)


def build_packet(
    device_id: int,
    records: Sequence[bytes],
    *,
    record_size: int,
    value_count: int,
    wake_every_s: int = DEFAULT_WAKE_EVERY_S,
    measure_every_s: int = DEFAULT_MEASURE_EVERY_S,
) -> bytes:
    """The bytes the ESP writes for these records: 9-byte header, then the records."""
    payload = b"".join(records)
    header = HEADER.pack(
        len(payload), wake_every_s, measure_every_s, record_size, device_id, value_count
    )
    return header + payload


def weather(fields: Sequence[Field], t: float, seed: int) -> dict[str, float]:
    """Plausible values at unix time ``t``: daylight, slow temperature and humidity."""
    rng = random.Random(f"{seed}:{int(t // 60)}")  # noqa: S311  (simulation, not security)
    day = (t % DAY) / DAY
    sun = max(0.0, math.sin(2 * math.pi * (day - 0.25)))
    clouds = 0.6 + 0.4 * math.sin(t / 5400.0 + seed)
    temperature = (
        12.0 + 7.0 * math.sin(2 * math.pi * (day - 0.375)) + 3.0 * math.sin(t / 3e5 + seed)
    )
    humidity = min(99.0, max(5.0, 70.0 - 2.2 * (temperature - 12.0) + rng.uniform(-1.0, 1.0)))
    values: dict[str, float] = {}
    for f in fields:
        kind = f"{f.key} {f.device_class or ''}"
        if "temp" in kind:
            values[f.key] = temperature + rng.uniform(-0.05, 0.05)
        elif "humid" in kind:
            values[f.key] = humidity
        elif "light" in kind or "illuminance" in kind or "lux" in kind:
            values[f.key] = float(int(40000.0 * sun * clouds))
        elif "press" in kind:
            values[f.key] = 1013.0 + 12.0 * math.sin(t / 2e5 + seed)
        elif "batt" in kind:
            values[f.key] = 95.0 - (t / DAY) % 30
        else:
            values[f.key] = 50.0 + 40.0 * math.sin(t / 7200.0 + seed)
    return values


@dataclass(frozen=True, slots=True)
class Wake:
    """One ESP wake-up: the packet it sends and the truth behind it."""

    arrival: float
    packet: bytes
    #: When each record of the packet was really taken, oldest first.
    taken: tuple[float, ...]


@dataclass
class SimStation:
    """One station, advancing in its own (slightly wrong) time."""

    device_id: int
    parser: StationParser
    start: float
    #: True seconds per station second: 1.03 is a watchdog running 3 % slow.
    clock_factor: float = 1.0
    wake_every_s: int = DEFAULT_WAKE_EVERY_S
    measure_every_s: int = DEFAULT_MEASURE_EVERY_S
    seed: int = 0
    #: Seconds from the newest sample to the packet's arrival; None: a random
    #: delay in :data:`ESP_DELAY`, as a real ESP's boot and connection take.
    send_delay: float | None = None
    store: list[tuple[float, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed * 7919 + self.device_id)  # noqa: S311
        self._now = self.start  # true time of the last measurement
        self._station_seconds = 0  # station seconds since the last wake

    def _measure(self, t: float) -> None:
        values = weather(self.parser.fields, t, self.seed + self.device_id)
        self.store.append((t, self.parser.encode_record(values)))
        del self.store[: max(0, len(self.store) - self.parser.store_records)]

    def wake(self) -> Wake:
        """Measure up to the next wake-up and build the packet the ESP sends then."""
        step = self.measure_every_s * self.clock_factor
        while self._station_seconds + self.measure_every_s < self.wake_every_s:
            self._now += step
            self._station_seconds += self.measure_every_s
            self._measure(self._now)
        # At the wake-up itself the ATtiny takes one more sample, then wakes the ESP.
        self._now += (self.wake_every_s - self._station_seconds) * self.clock_factor
        self._station_seconds = 0
        self._measure(self._now)
        packet = build_packet(
            self.device_id,
            [record for _, record in self.store],
            record_size=self.parser.record_size,
            value_count=self.parser.value_count,
            wake_every_s=self.wake_every_s,
            measure_every_s=self.measure_every_s,
        )
        delay = self._rng.uniform(*ESP_DELAY) if self.send_delay is None else self.send_delay
        arrival = self._now + delay
        return Wake(arrival, packet, tuple(t for t, _ in self.store))

    def delivered(self) -> None:
        """The ESP confirmed delivery: the ATtiny empties its store."""
        self.store.clear()

    def skip(self, wake_ups: int) -> None:
        """Let whole wake intervals pass in which the ESP could not send."""
        for _ in range(wake_ups):
            self.wake()


def send_packet(
    host: str,
    port: int,
    data: bytes,
    *,
    chunk: int | None = None,
    chunk_delay: float = 0.0,
    timeout: float = 5.0,
) -> None:
    """Open one connection, write ``data`` (in pieces if asked) and close it."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        if chunk is None:
            sock.sendall(data)
        else:
            for start in range(0, len(data), chunk):
                sock.sendall(data[start : start + chunk])
                if chunk_delay:
                    time.sleep(chunk_delay)
        sock.shutdown(socket.SHUT_WR)


#: Opens a connection to (host, port): ``asyncio.open_connection`` or one that
#: chooses the local address too.
Connect = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


async def send_packet_async(
    host: str, port: int, data: bytes, limit_s: float, connect: Connect = asyncio.open_connection
) -> None:
    """:func:`send_packet` in an event loop: connect, write ``data``, close, all
    within ``limit_s`` seconds."""
    async with asyncio.timeout(limit_s):
        _, writer = await connect(host, port)
        try:
            writer.write(data)
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@dataclass
class FleetReport:
    """What simulated stations sent, and how many packets failed, by the error's type."""

    packets_sent: int = 0
    samples_sent: int = 0
    failures: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def failed(self, err: BaseException) -> None:
        self.failures += 1
        name = type(err).__name__
        self.errors[name] = self.errors.get(name, 0) + 1

    def as_dict(self) -> dict[str, object]:
        return {
            "packets_sent": self.packets_sent,
            "samples_sent": self.samples_sent,
            "failures": self.failures,
            "errors": self.errors,
        }


async def run_fleet(
    host: str,
    port: int,
    parsers: Mapping[int, StationParser],
    *,
    stations: int,
    rate: float,
    packets: int,
    start: float | None = None,
    seed: int = 0,
    wake_every_s: int = DEFAULT_WAKE_EVERY_S,
    measure_every_s: int = DEFAULT_MEASURE_EVERY_S,
    concurrency: int = 200,
    send_timeout_s: float = 5.0,
) -> FleetReport:
    """Send ``packets`` packets from ``stations`` stations at ``rate`` packets/s.

    Station ``i`` has device id ``1 + i % 255`` and a clock a few percent off.
    Its simulated time advances one wake interval per packet it sends, so a
    fleet covers hours of station time in seconds. A packet that cannot be
    delivered stays in the station's store and goes out again with its next one,
    as the firmware does.
    """
    start = time.time() - 30 * DAY if start is None else start
    rng = random.Random(seed)  # noqa: S311
    fleet = []
    for index in range(stations):
        device_id = 1 + index % 255
        parser = parsers.get(device_id) or make_parser("reference")
        fleet.append(
            SimStation(
                device_id,
                parser,
                start + rng.uniform(0, wake_every_s),
                clock_factor=rng.uniform(0.97, 1.03),
                wake_every_s=wake_every_s,
                measure_every_s=measure_every_s,
                seed=seed + index,
            )
        )
    report = FleetReport()
    limit = asyncio.Semaphore(concurrency)
    # A station wakes again only after its previous packet went out (or failed).
    turns = [asyncio.Lock() for _ in fleet]

    async def one(index: int) -> None:
        station = fleet[index]
        async with turns[index]:
            wake = station.wake()
            async with limit:
                try:
                    await send_packet_async(host, port, wake.packet, send_timeout_s)
                except (OSError, TimeoutError) as err:
                    report.failed(err)
                    return
            station.delivered()
            report.packets_sent += 1
            # The store was emptied by the last delivery, so these are all new.
            report.samples_sent += len(wake.taken)

    began = time.monotonic()
    tasks: set[asyncio.Task[None]] = set()
    for number in range(packets):
        due = began + number / rate if rate > 0 else began
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(number % stations))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    return report


# --- command line ----------------------------------------------------------------


def _station_parser(config_path: str | None, device_id: int) -> StationParser:
    config = load_config(config_path)
    station = config.station(device_id)
    return station.parser if station else make_parser("reference")


def _one_packet(args: argparse.Namespace) -> bytes:
    parser = _station_parser(args.config, args.device)
    newest = time.time() if args.time is None else args.time
    station = SimStation(
        args.device,
        parser,
        newest - args.wake_every,
        wake_every_s=args.wake_every,
        measure_every_s=args.measure_every,
        seed=args.seed,
    )
    return station.wake().packet


def _add_station_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", help="bridge config whose stations to imitate")
    parser.add_argument("--device", type=int, default=1, help="device id (default 1)")
    parser.add_argument(
        "--wake-every",
        type=int,
        default=DEFAULT_WAKE_EVERY_S,
        help=f"seconds between wake-ups ({DEFAULT_WAKE_EVERY_S})",
    )
    parser.add_argument(
        "--measure-every",
        type=int,
        default=DEFAULT_MEASURE_EVERY_S,
        help=f"seconds between samples ({DEFAULT_MEASURE_EVERY_S})",
    )
    parser.add_argument("--time", type=float, help="unix time of the newest sample")
    parser.add_argument("--seed", type=int, default=0)


def _build_cli() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="wxstation-sim",
        description="Simulated weather stations that send firmware-identical packets.",
    )
    sub = cli.add_subparsers(dest="command", required=True)
    packet = sub.add_parser("packet", help="print one packet as hex")
    _add_station_options(packet)
    send = sub.add_parser("send", help="send one packet to a bridge")
    _add_station_options(send)
    send.add_argument("--host", default="127.0.0.1")
    send.add_argument("--port", type=int, default=DEFAULT_PORT)
    send.add_argument("--chunk", type=int, help="write this many bytes at a time")
    send.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between chunks")
    fleet = sub.add_parser("fleet", help="run many stations against a bridge")
    fleet.add_argument("-c", "--config", help="bridge config whose stations to imitate")
    fleet.add_argument("--host", default="127.0.0.1")
    fleet.add_argument("--port", type=int, default=DEFAULT_PORT)
    fleet.add_argument("--stations", type=int, default=10)
    fleet.add_argument("--rate", type=float, default=10.0, help="packets per second (10)")
    fleet.add_argument("--packets", type=int, default=100, help="packets in all (100)")
    fleet.add_argument("--seed", type=int, default=0)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_cli().parse_args(argv)
    try:
        if args.command == "packet":
            print(_one_packet(args).hex())
        elif args.command == "send":
            data = _one_packet(args)
            send_packet(args.host, args.port, data, chunk=args.chunk, chunk_delay=args.chunk_delay)
            payload = len(data) - HEADER_SIZE
            print(f"sent {len(data)} bytes ({payload} payload) to {args.host}:{args.port}")
        else:
            config = load_config(args.config)
            parsers = {i: s.parser for i, s in config.stations.items()}
            report = asyncio.run(
                run_fleet(
                    args.host,
                    args.port,
                    parsers,
                    stations=args.stations,
                    rate=args.rate,
                    packets=args.packets,
                    seed=args.seed,
                )
            )
            print(json.dumps(report.as_dict()))
            return 1 if report.failures else 0
    except (ConfigError, OSError) as err:
        print(f"wxstation-sim: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
