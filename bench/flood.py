"""A host on the network that is not a station, in a process of its own.

Three kinds of flood, all from one loopback address (``--source``; Linux routes
all of 127/8 to the loopback interface):

- ``garbage``: connections that each write ``--size`` bytes that are not a
  station's packet, as fast as ``--concurrency`` connections allow;
- ``headers``: connections that each write a plausible 9-byte header with a
  device id from ``--devices`` and ``--size`` bytes after it: as many as the
  header announces is a well-formed packet, more is not;
- ``slow``: ``--connections`` connections held open at once, each writing one
  byte of such a plausible packet every ``--interval`` seconds for ``--seconds``;
- ``silent``: ``--connections`` connections held open at once, writing nothing,
  until the bridge closes them or ``--seconds`` passed.

The first line printed is ``{"flooding": <unix time>}``, the last one the
report: connections opened, bytes written (what the kernel took from the
flooder, whatever the bridge did with it), and errors by kind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
from collections.abc import Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.load import connect
from bridge.service import raise_file_limit
from wxstation.protocol import HEADER, MAX_PAYLOAD_SIZE

__all__ = ["Report", "main"]

#: The flooder's own loopback address: not the stations' (127.0.0.1).
SOURCE = "127.0.0.2"
#: Seconds any one connection may take before the flooder gives up on it.
CONNECTION_TIMEOUT = 10.0


@dataclass
class Report:
    connections: int = 0
    bytes_written: int = 0
    #: ``slow``: connections the bridge closed before the flooder was done.
    closed_by_bridge: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def failed(self, err: BaseException) -> None:
        name = type(err).__name__
        self.errors[name] = self.errors.get(name, 0) + 1


def garbage(size: int, rng: random.Random) -> bytes:
    """Bytes whose header no station sends (bytes_ready above a station's store)."""
    head = HEADER.pack(0xDEAD, 0, 0, 0, 0, 0)
    return (head + rng.randbytes(max(0, size - len(head))))[:size]


def plausible(device_id: int, size: int, rng: random.Random) -> bytes:
    """A header a station could send (reference shape: 6-byte records, 3 values),
    announcing at most ``size`` payload bytes, followed by ``size`` bytes."""
    announced = min(MAX_PAYLOAD_SIZE, size) // 6 * 6
    return HEADER.pack(announced, 3600, 120, 6, device_id, 3) + rng.randbytes(size)


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close a flood connection; the bridge may have closed it first."""
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def _timed(report: Report, connections: list[Coroutine[Any, Any, None]]) -> Report:
    """Run every connection at once, say when the flood began (the tests wait for
    that line), and note in ``report`` how long it took."""
    began = time.monotonic()
    print(json.dumps({"flooding": time.time()}), flush=True)
    await asyncio.gather(*connections)
    report.seconds = time.monotonic() - began
    return report


async def flood(
    host: str, port: int, source: str, payloads: Sequence[bytes], concurrency: int
) -> Report:
    """One connection per payload: connect, write it, close."""
    report = Report()
    slots = asyncio.Semaphore(concurrency)

    async def one(data: bytes) -> None:
        async with slots:
            try:
                async with asyncio.timeout(CONNECTION_TIMEOUT):
                    _, writer = await connect(host, port, source)
                    report.connections += 1
                    try:
                        writer.write(data)
                        await writer.drain()
                        report.bytes_written += len(data)
                    finally:
                        await _close(writer)
            except (OSError, TimeoutError) as err:
                report.failed(err)

    return await _timed(report, [one(data) for data in payloads])


async def slow(
    host: str, port: int, source: str, payloads: Sequence[bytes], interval: float, seconds: float
) -> Report:
    """One connection per payload, all at once, each trickling it a byte at a time."""
    report = Report()

    async def one(data: bytes) -> None:
        try:
            reader, writer = await connect(host, port, source)
        except OSError as err:
            report.failed(err)
            return
        report.connections += 1
        deadline = time.monotonic() + seconds
        try:
            for byte in data:
                if time.monotonic() >= deadline:
                    return
                writer.write(bytes([byte]))
                await writer.drain()
                report.bytes_written += 1
                # The bridge closing it shows as end of file here.
                with contextlib.suppress(TimeoutError):
                    if await asyncio.wait_for(reader.read(1), interval) == b"":
                        report.closed_by_bridge += 1
                        return
        except OSError as err:
            report.closed_by_bridge += 1
            report.failed(err)
        finally:
            await _close(writer)

    return await _timed(report, [one(data) for data in payloads])


async def silent(host: str, port: int, source: str, count: int, seconds: float) -> Report:
    """``count`` connections open at once, each saying nothing until the bridge
    closes it (end of file) or ``seconds`` passed."""
    report = Report()

    async def one() -> None:
        try:
            reader, writer = await connect(host, port, source)
        except OSError as err:
            report.failed(err)
            return
        report.connections += 1
        try:
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(1), seconds) == b"":
                    report.closed_by_bridge += 1
        except OSError as err:
            report.closed_by_bridge += 1
            report.failed(err)
        finally:
            await _close(writer)

    return await _timed(report, [one() for _ in range(count)])


def main(argv: Sequence[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench.flood", description=__doc__)
    cli.add_argument("mode", choices=("garbage", "headers", "slow", "silent"))
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", type=int, required=True)
    cli.add_argument("--source", default=SOURCE, help=f"address to send from ({SOURCE})")
    cli.add_argument("--connections", type=int, default=1000)
    cli.add_argument("--size", type=int, default=4096, help="bytes per connection (4096)")
    cli.add_argument("--concurrency", type=int, default=50)
    cli.add_argument(
        "--devices", default="200-254", help="headers: device ids, as FIRST-LAST (200-254)"
    )
    cli.add_argument("--interval", type=float, default=0.5, help="slow: seconds between bytes")
    cli.add_argument(
        "--seconds", type=float, default=10.0, help="slow, silent: how long to hold on"
    )
    cli.add_argument("--seed", type=int, default=0)
    args = cli.parse_args(argv)
    raise_file_limit()
    rng = random.Random(args.seed)
    first, _, last = args.devices.partition("-")
    ids = range(int(first), int(last or first) + 1)
    if args.mode == "garbage":
        payloads = [garbage(args.size, rng) for _ in range(args.connections)]
    else:
        payloads = [plausible(rng.choice(ids), args.size, rng) for _ in range(args.connections)]
    if args.mode == "silent":
        report = asyncio.run(
            silent(args.host, args.port, args.source, args.connections, args.seconds)
        )
    elif args.mode == "slow":
        report = asyncio.run(
            slow(args.host, args.port, args.source, payloads, args.interval, args.seconds)
        )
    else:
        report = asyncio.run(flood(args.host, args.port, args.source, payloads, args.concurrency))
    print(json.dumps(asdict(report)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
