"""An MQTT subscriber in a process of its own: when each state and batch message came.

It subscribes to every station's ``state`` and ``batch`` topic and writes one
line per message to a file: kind, device id, the time it arrived here and the
packet's arrival at the bridge (the ``health.last_seen`` the message carries),
both in unix milliseconds, and the samples it holds. The difference is the
latency from a packet's arrival to its message. Retained messages the broker
replays at subscription are left out: they are not news.

Prints ``subscribed`` once the broker confirmed the subscription, and runs until
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

__all__ = ["Message", "main", "read"]

#: Seconds between flushes of the output file, so the runner sees recent lines.
FLUSH_EVERY = 0.2

Message = tuple[str, int, float, float, int]
"""kind (``state`` or ``batch``), device id, received ms, packet arrival ms, samples."""


def _arrival_ms(payload: dict[str, Any]) -> float:
    return datetime.fromisoformat(payload["health"]["last_seen"]).timestamp() * 1000


def read(path: Path) -> list[Message]:
    """The messages written so far (a half-written last line is left for later)."""
    messages = []
    for line in path.read_text(encoding="ascii").splitlines():
        parts = line.split()
        if len(parts) == 5:
            kind, device, received, arrival, samples = parts
            messages.append((kind, int(device), float(received), float(arrival), int(samples)))
    return messages


def main(argv: Sequence[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench.watch", description=__doc__)
    cli.add_argument("--host", default="127.0.0.1")
    cli.add_argument("--port", type=int, required=True)
    cli.add_argument("--base", default="wxstation", help="the bridge's mqtt.base_topic")
    cli.add_argument("--out", type=Path, required=True)
    args = cli.parse_args(argv)

    out = args.out.open("w", encoding="ascii")
    lock = threading.Lock()
    stop = threading.Event()

    def on_connect(client: mqtt.Client, *_: object) -> None:
        client.subscribe([(f"{args.base}/+/state", 0), (f"{args.base}/+/batch", 0)])

    def on_subscribe(*_: object) -> None:
        print("subscribed", flush=True)

    def on_message(_client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        received = time.time() * 1000
        _, device, kind = message.topic.rsplit("/", 2)
        # The bridge's own availability (<base>/bridge/state) matches the wildcard too.
        if message.retain or not device.isdigit():
            return
        payload = json.loads(message.payload)
        samples = len(payload["samples"]) if kind == "batch" else 1
        line = f"{kind} {device} {received:.3f} {_arrival_ms(payload):.0f} {samples}\n"
        with lock:
            out.write(line)

    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(args.host, args.port)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    client.loop_start()
    while not stop.wait(FLUSH_EVERY):
        with lock:
            out.flush()
    client.loop_stop()
    client.disconnect()
    with lock:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
