"""Simulated stations in a process of their own, so they do not share the bridge's.

Every packet is built before the clock starts (with :class:`bridge.sim.SimStation`,
byte for byte what the firmware sends), then sent the way an ESP8266 sends it:
connect, write the whole packet, close. A packet counts as sent once its bytes
were written and the connection closed, which is when a station deletes its
samples; one that could not be sent is counted as a failure (a station would
keep it and send it again an hour later).

``stream`` sends packets at a rate (0: as fast as ``concurrency`` allows), each
station's packets one after another; ``burst`` opens one connection per station
all at once. The first line printed is ``{"sending": <unix time>}`` when the
first packet goes out, the last one is the report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from bridge.service import raise_file_limit
from bridge.sim import FleetReport, SimStation, send_packet_async
from wxstation.parsers import make_parser

__all__ = ["Report", "build_packets", "connect", "main"]

#: Simulated time the stations start at: a month ago, like ``wxstation-sim fleet``.
SIM_START_AGO = 30 * 86400.0
#: Device ids are one byte, and 0 is not a station.
DEVICE_IDS = 255


@dataclass
class Report(FleetReport):
    """The fleet's report, with when it sent and the CPU it took to."""

    began: float = 0.0
    ended: float = 0.0
    #: CPU seconds this process used from the first packet to the last.
    cpu_s: float = 0.0


def build_packets(stations: int, packets: int, seed: int) -> list[tuple[int, bytes, int]]:
    """``packets`` packets of ``stations`` stations, round robin: (station, bytes, samples).

    Station ``i`` is device ``1 + i % 255``; each packet is one wake-up of an
    hour's samples (30 at the firmware's defaults), in the station's own order.
    """
    parser = make_parser("reference")
    start = time.time() - SIM_START_AGO
    fleet = [
        SimStation(1 + index % DEVICE_IDS, parser, start + index, seed=seed + index)
        for index in range(stations)
    ]
    built = []
    for number in range(packets):
        index = number % stations
        wake = fleet[index].wake()
        fleet[index].delivered()
        built.append((index, wake.packet, len(wake.taken)))
    return built


#: The stations' own loopback address. Their thousands of connections take
#: ephemeral ports, the same range the servers' free ports come from; from an
#: address of their own they never hold a port a restarting server needs.
SOURCE = "127.0.0.2"
#: Linux: choose the source port at connect(), per destination, not at bind().
_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


async def connect(
    host: str, port: int, source: str = SOURCE
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to ``host``, from the loopback address ``source`` when
    ``host`` is a loopback address."""
    if not host.startswith("127."):
        return await asyncio.open_connection(host, port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, _BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def _send_counted(
    report: Report, host: str, port: int, data: bytes, samples: int, limit_s: float
) -> None:
    """Send one packet and count it as sent, or count why it failed."""
    try:
        await send_packet_async(host, port, data, limit_s, connect)
    except (OSError, TimeoutError) as err:
        report.failed(err)
        return
    report.packets_sent += 1
    report.samples_sent += samples


def _announce(report: Report) -> None:
    report.began = time.time()
    report.cpu_s = -time.process_time()
    print(json.dumps({"sending": report.began}), flush=True)


def _finish(report: Report) -> Report:
    report.ended = time.time()
    report.cpu_s += time.process_time()
    return report


async def stream(
    host: str,
    port: int,
    built: Sequence[tuple[int, bytes, int]],
    *,
    rate: float,
    concurrency: int,
    limit_s: float,
) -> Report:
    report = Report()
    slots = asyncio.Semaphore(concurrency)
    turns: dict[int, asyncio.Lock] = {}

    async def one(station: int, data: bytes, samples: int) -> None:
        async with turns.setdefault(station, asyncio.Lock()), slots:
            await _send_counted(report, host, port, data, samples, limit_s)

    _announce(report)
    began = time.monotonic()
    tasks = []
    for number, (station, data, samples) in enumerate(built):
        if rate > 0:
            delay = began + number / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        elif number % concurrency == 0:
            await asyncio.sleep(0)  # let sends start while the rest are queued
        tasks.append(asyncio.create_task(one(station, data, samples)))
    await asyncio.gather(*tasks)
    return _finish(report)


async def burst(
    host: str, port: int, built: Sequence[tuple[int, bytes, int]], *, limit_s: float
) -> Report:
    """Every station connects at the same moment."""
    report = Report()
    go = asyncio.Event()

    async def one(data: bytes, samples: int) -> None:
        await go.wait()
        await _send_counted(report, host, port, data, samples, limit_s)

    tasks = [asyncio.create_task(one(data, samples)) for _, data, samples in built]
    await asyncio.sleep(0)  # every task is now waiting for the signal
    _announce(report)
    go.set()
    await asyncio.gather(*tasks)
    return _finish(report)


def main(argv: Sequence[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    cli.add_argument("mode", choices=("stream", "burst"))
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", type=int, required=True)
    cli.add_argument("--stations", type=int, default=255)
    cli.add_argument("--packets", type=int, help="stream: packets in all (default: one each)")
    cli.add_argument("--rate", type=float, default=0.0, help="stream: packets/s, 0 = no limit")
    cli.add_argument("--concurrency", type=int, default=100, help="stream: connections at once")
    cli.add_argument("--timeout", type=float, default=30.0, help="seconds per packet")
    cli.add_argument("--seed", type=int, default=0)
    args = cli.parse_args(argv)
    raise_file_limit()  # one socket per station in a burst
    built = build_packets(args.stations, args.packets or args.stations, args.seed)
    if args.mode == "stream":
        report = asyncio.run(
            stream(
                args.host,
                args.port,
                built,
                rate=args.rate,
                concurrency=args.concurrency,
                limit_s=args.timeout,
            )
        )
    else:
        report = asyncio.run(burst(args.host, args.port, built, limit_s=args.timeout))
    print(json.dumps(asdict(report)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
