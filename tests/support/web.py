"""Stations that send to a running bridge, and reading its status page, for the web tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from bridge.sim import SimStation
from tests.support.bridge import RunningBridge
from wxstation.parsers import ReferenceParser

PARSER = ReferenceParser()


def day_capture(path: Path, clock_factors: dict[int, float], hours: int = 24) -> Path:
    """A capture (``export --raw`` lines, for ``ingest``) of stations that woke
    every hour for the last ``hours``, each with its watchdog clock off by its factor."""
    now = time.time()
    lines = []
    for device, factor in clock_factors.items():
        # A slow clock's hours are longer: its last wake-up is still a minute or two ago.
        start = now - hours * 3600 * factor - 120
        station = SimStation(device, PARSER, start, clock_factor=factor, seed=device)
        for _ in range(hours):
            wake = station.wake()
            station.delivered()
            lines.append(
                {
                    "received_at": wake.arrival,
                    "peer": f"192.168.1.{50 + device}:4096",
                    "data": wake.packet.hex(),
                }
            )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def stations(*device_ids: int, wake_every_s: int = 600, measure_every_s: int = 60) -> list[Any]:
    """Simulated stations whose packets are stamped near now (the page plots the last day)."""
    start = time.time() - 3 * wake_every_s
    return [
        SimStation(
            device,
            PARSER,
            start,
            wake_every_s=wake_every_s,
            measure_every_s=measure_every_s,
            seed=device,
        )
        for device in device_ids
    ]


async def send(port: int, data: bytes, host: str = "127.0.0.1") -> None:
    """One station connection: write the packet, close; then a moment's pause.

    Packets of one station that arrive within a millisecond are stamped at the
    same times, and their samples are conflicts; real stations send an hour apart.
    """
    _, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    await writer.drain()
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    await asyncio.sleep(0.005)


def web_url(bridge: RunningBridge, path: str = "/") -> str:
    assert bridge.web is not None, "the bridge runs without its status page"
    return f"http://127.0.0.1:{bridge.web.port}{path}"


@contextlib.asynccontextmanager
async def http_client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as response:
        return response.status, await response.text()
