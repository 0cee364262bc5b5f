"""``run --demo``: simulated stations sending to the bridge itself, in real time."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bridge.sim import run_fleet
from wxstation.config import Config, local_url_host

__all__ = ["DEMO_PACKETS", "Demo", "demo_database", "run_demo"]

log = logging.getLogger("bridge")

#: Packets a demo fleet sends before it stops: in effect, until the bridge stops.
DEMO_PACKETS = 10**9
#: Seconds the fleet waits before its first packet, so the bridge's start-up
#: lines come first.
DEMO_START_DELAY = 0.2


@dataclass(frozen=True, slots=True)
class Demo:
    """Simulated stations that a demo run sends to itself, in real time.

    They wake every 10 s with a sample every 2 s (the firmware's intervals are
    settings), so a newcomer sees calibrated samples flow within seconds.
    """

    stations: int = 3
    wake_every_s: int = 10
    measure_every_s: int = 2


async def run_demo(config: Config, port: int, demo: Demo) -> None:
    """Simulated stations sending to the bridge listening on ``port`` until it stops."""
    parsers = {device: station.parser for device, station in config.stations.items()}
    host = local_url_host(config.listen.host).strip("[]")
    log.info("demo: %d simulated stations send to %s:%d", demo.stations, host, port)
    await asyncio.sleep(DEMO_START_DELAY)
    await run_fleet(
        host,
        port,
        parsers,
        stations=demo.stations,
        rate=demo.stations / demo.wake_every_s,
        packets=DEMO_PACKETS,
        start=time.time() - demo.wake_every_s,
        wake_every_s=demo.wake_every_s,
        measure_every_s=demo.measure_every_s,
    )


def demo_database() -> Path:
    """A throwaway database for ``run --demo`` without a config file."""
    return Path(tempfile.mkdtemp(prefix="wxstation-demo-")) / "wxstation.db"
