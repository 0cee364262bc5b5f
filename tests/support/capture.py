"""Capture files: packets with their arrival times, as ``export --raw`` writes
them and ``ingest`` reads them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from bridge.sim import Wake

#: The address the captured packets came from.
PEER = "192.168.1.50:40000"


def write_capture(path: Path, wakes: Iterable[Wake], peer: str = PEER) -> Path:
    """``path`` holding one capture line per wake-up's packet, in order."""
    path.write_text(
        "".join(
            json.dumps({"received_at": w.arrival, "peer": peer, "data": w.packet.hex()}) + "\n"
            for w in wakes
        )
    )
    return path
