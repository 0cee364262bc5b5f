"""``python -m bench.run``: the bridge against real servers, one table of figures.

One run starts Mosquitto and InfluxDB 1.x on free loopback ports, the bridge as
a process of its own (``python -m bridge.cli run`` with both sinks), an MQTT
subscriber and the simulated stations, each in a process of its own, and
measures in turn:

1. the bridge idle: resident memory and CPU;
2. the raw ceiling of that InfluxDB: large line-protocol batches of the bridge's
   shape straight to ``/write``;
3. sustained end-to-end throughput: stations sending as fast as they can, until
   every sample is in InfluxDB and published on MQTT;
4. latency from a packet's arrival to its MQTT state message at a steady rate;
5. a burst of stations connecting at once: accepted, stored, lost;
6. how fast a backlog drains: InfluxDB stopped, stations sending, InfluxDB
   started again;
7. the ledger of the whole run: sent, committed, decoded, in InfluxDB, on MQTT.

Every process shares the machine's cores; the table says which ran and how much
CPU each used while the throughput was measured. Figures are printed, not
asserted; targets are shown beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import watch
from bench.measure import CpuWindow, memory_kb, percentile
from bridge.cli import event_loop_factory
from tests.support.bridge import BridgeProcess, write_config
from tests.support.ledger import Ledger, ledger, progress, samples_after
from tests.support.servers import INFLUXD_BIN, MOSQUITTO_BIN, InfluxDB1, Mosquitto, free_port
from tests.support.waiting import wait_until

__all__ = ["SIZES", "Size", "main"]

DATABASE = "wxstation"
CEILING_DATABASE = "ceiling"
#: Points per request when measuring InfluxDB's own ceiling: the bridge's
#: default ``influxdb.batch_size``.
CEILING_BATCH = 5000
#: Writers posting at once when measuring the ceiling: one per core.
CEILING_WRITERS = 2
#: Seconds the bridge is left alone before its idle figures are read.
SETTLE = 3.0
IDLE_WINDOW = 5.0
#: Seconds between looks at the bridge's database while waiting.
POLL = 0.02
#: Samples in one simulated packet: an hour of the firmware's 2-minute samples.
SAMPLES_PER_PACKET = 30

# The targets the runtime is held to (docs/performance.md says each one's
# history), on these 2-core machines with both sinks.
TARGET_RATIO = 0.5
#: Packets per second end to end (in InfluxDB and published on MQTT).
TARGET_PACKETS = 2500.0
#: p99 of arrival -> MQTT state, at the paced rate.
TARGET_P99_MS = 50.0
TARGET_RATE = 500.0
TARGET_DRAIN = 150_000.0
TARGET_IDLE_MB = 60.0
#: The bridge's memory through a burst of stations connecting at once.
TARGET_BURST_MB = 80.0
#: CPU per packet of 30 samples with both sinks: at saturation, and paced.
TARGET_CPU_SATURATED_US = 450.0
TARGET_CPU_PACED_US = 700.0
TARGET_PACED_RATE = 500.0


@dataclass(frozen=True, slots=True)
class Size:
    """How much each measurement sends."""

    #: Simulated stations (device ids 1..255, so at most 255 distinct ones).
    stations: int
    #: Packets sent as fast as possible for the throughput figure.
    packets: int
    #: Packets per second offered while latency is measured, for ``seconds``.
    rate: float
    seconds: float
    #: Stations that connect at the same moment.
    burst: int
    #: Packets sent while InfluxDB is down.
    backlog: int
    #: Points written straight to InfluxDB for its ceiling.
    ceiling: int
    #: Connections the stations hold open at once during the throughput run.
    concurrency: int
    #: Longest wait for any one step, seconds.
    patience: float


SIZES = {
    "smoke": Size(
        stations=255,
        packets=300,
        rate=100,
        seconds=3,
        burst=200,
        backlog=300,
        ceiling=50_000,
        concurrency=50,
        patience=60,
    ),
    "small": Size(
        stations=255,
        packets=3000,
        rate=500,
        seconds=10,
        burst=2000,
        backlog=3000,
        ceiling=500_000,
        concurrency=100,
        patience=300,
    ),
    "full": Size(
        stations=255,
        packets=20_000,
        rate=1000,
        seconds=30,
        burst=10_000,
        backlog=10_000,
        ceiling=2_000_000,
        concurrency=100,
        patience=900,
    ),
}


@dataclass
class Row:
    figure: str
    value: str
    target: str = ""
    met: bool | None = None


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, figure: str, value: str, target: str = "", met: bool | None = None) -> None:
        self.rows.append(Row(figure, value, target, met))


class Broker(Mosquitto):
    """Mosquitto as the tests run it, but never dropping a message queued for the
    benchmark's subscriber (its default queue holds 1000), and with Nagle's
    algorithm off unless ``nagle``: with it on (Mosquitto's default) every
    acknowledgement after the first of a delivery waits for the bridge's delayed
    TCP ACK, about 40 ms (see docs/performance.md)."""

    def __init__(self, workdir: Path, *, nagle: bool) -> None:
        super().__init__(workdir)
        self.nagle = nagle

    def prepare(self) -> None:
        super().prepare()
        with self.config_path.open("a", encoding="ascii") as config:
            config.write("max_queued_messages 0\n")
            config.write(f"set_tcp_nodelay {'false' if self.nagle else 'true'}\n")


class Bench:
    """The servers, the bridge and the subscriber of one run."""

    def __init__(
        self,
        size: Size,
        workdir: Path,
        log_level: str = "info",
        *,
        nagle: bool = False,
        event_loop: str = "auto",
    ) -> None:
        self.size = size
        self.dir = workdir
        self.broker = Broker(workdir / "mosquitto", nagle=nagle)
        self.influx = InfluxDB1(workdir / "influxdb")
        self.port = free_port()
        self.database = workdir / "wxstation.db"
        self.config = write_config(
            workdir / "bridge.yaml",
            {
                "listen": {"host": "127.0.0.1", "port": self.port},
                "storage": {"path": str(self.database)},
                "influxdb": {"url": self.influx.url, "api": 1, "database": DATABASE},
                "mqtt": {"host": self.broker.host, "port": self.broker.port},
                "log_level": log_level,
            },
        )
        self.bridge = BridgeProcess(
            self.config, workdir / "bridge.log", run_args=("--event-loop", event_loop)
        )
        self.messages_file = workdir / "mqtt.txt"
        self.watcher: subprocess.Popen[str] | None = None
        #: Packets and samples the stations sent in all (sends that completed).
        self.sent_packets = 0
        self.sent_samples = 0

    # --- processes ---------------------------------------------------------------

    def start(self) -> None:
        self.broker.start()
        self.influx.start()
        self.influx.create_database(DATABASE)
        self.watcher = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.watch",
                "--port",
                str(self.broker.port),
                "--out",
                str(self.messages_file),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.watcher.stdout is not None
        if self.watcher.stdout.readline().strip() != "subscribed":
            raise RuntimeError("the MQTT subscriber did not subscribe")
        self.bridge.start()
        wait_until(
            lambda: "MQTT: connected" in self.bridge.log_file.read_text(errors="replace"),
            "the bridge to connect to the broker",
            self.size.patience,
            step=0.1,
        )

    def close(self) -> int | None:
        code = None
        if self.bridge.process is not None and self.bridge.process.poll() is None:
            code = self.bridge.terminate()
        self.bridge.close()
        if self.watcher is not None:
            self.watcher.terminate()
            self.watcher.wait(10)
        self.broker.close()
        self.influx.close()
        return code

    @property
    def pid(self) -> int:
        assert self.bridge.process is not None
        return self.bridge.process.pid

    def pids(self, **others: int) -> dict[str, int]:
        assert self.watcher is not None
        assert self.broker.process is not None
        assert self.influx.process is not None
        return {
            "bridge": self.pid,
            "influxd": self.influx.process.pid,
            "mosquitto": self.broker.process.pid,
            "subscriber": self.watcher.pid,
            **others,
        }

    def stations(self, mode: str, *args: str) -> subprocess.Popen[str]:
        """The simulated stations, started; :meth:`sending` waits for their first packet."""
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.load",
                mode,
                "--port",
                str(self.port),
                "--seed",
                str(self.sent_packets),
                *args,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )

    def stream(self, packets: int, rate: float | None = None) -> subprocess.Popen[str]:
        """The size's stations sending ``packets`` in all, ``rate`` a second or as
        fast as they can."""
        pace = () if rate is None else ("--rate", str(rate))
        return self.stations(
            "stream",
            "--stations",
            str(self.size.stations),
            "--packets",
            str(packets),
            "--concurrency",
            str(self.size.concurrency),
            *pace,
        )

    def sending(self, stations: subprocess.Popen[str]) -> float:
        assert stations.stdout is not None
        line = stations.stdout.readline()
        if not line:
            raise RuntimeError(f"the stations exited with {stations.wait()} before sending")
        return float(json.loads(line)["sending"])

    def sent(self, stations: subprocess.Popen[str]) -> dict[str, Any]:
        out, _ = stations.communicate(timeout=self.size.patience)
        if stations.returncode != 0 or not out.strip():
            raise RuntimeError(f"the stations failed (exit {stations.returncode})")
        report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        self.sent_packets += int(report["packets_sent"])
        self.sent_samples += int(report["samples_sent"])
        return report

    # --- waiting on the bridge ------------------------------------------------------

    def committed(self, packets: int) -> float:
        return wait_until(
            lambda: progress(self.database).packets >= packets,
            f"{packets} packets committed",
            self.size.patience,
            step=POLL,
        )

    def delivered(self, sink: str, packets: int) -> float:
        """When ``sink`` has delivered everything decoded from the first ``packets``."""

        def done() -> bool:
            now = progress(self.database)
            return now.packets >= packets and now.new == 0 and now.delivered(sink)

        return wait_until(done, f"{sink} to deliver every batch", self.size.patience, step=POLL)

    def stages(self) -> Stages:
        """The bridge's CPU time by stage now: asked for with SIGUSR1, read from its log."""
        marker = "CPU by stage: "
        seen = self.bridge.log_file.read_text(errors="replace").count(marker)
        assert self.bridge.process is not None
        self.bridge.process.send_signal(signal.SIGUSR1)
        wait_until(
            lambda: self.bridge.log_file.read_text(errors="replace").count(marker) > seen,
            "the bridge to log its CPU by stage",
            self.size.patience,
        )
        text = self.bridge.log_file.read_text(errors="replace")
        line = text[text.rindex(marker) + len(marker) :].splitlines()[0]
        return Stages(json.loads(line))

    def influx_points(self, database: str = DATABASE) -> int:
        rows = self.influx.query("SELECT count(temperature) FROM weather", database)
        return int(rows[0]["count"]) if rows else 0


@dataclass(frozen=True, slots=True)
class Stages:
    """One ``CPU by stage`` report of the bridge (see :mod:`bridge.stages`)."""

    report: dict[str, Any]

    def per_packet(self, before: Stages, packets: int) -> dict[str, float]:
        """CPU microseconds per packet by stage between ``before`` and this report.

        Besides the measured stages: the rest of the event loop's thread
        (transports, the MQTT client's socket callbacks, scheduling), the rest
        of the database thread, and the other threads (the InfluxDB writer's).
        """
        now, then = self.report, before.report

        def delta(key: str) -> float:
            return float(now[key]) - float(then[key])

        cpu = {stage: now["cpu"][stage] - then["cpu"].get(stage, 0.0) for stage in now["cpu"]}
        on_spool = ("commit", "decode", "store", "read_back", "progress")
        figures = dict(cpu)
        figures["event loop, rest"] = delta("loop_thread") - sum(
            value for stage, value in cpu.items() if stage not in on_spool
        )
        figures["database thread, rest"] = delta("spool_thread") - sum(
            cpu[stage] for stage in on_spool
        )
        figures["InfluxDB writer thread"] = (
            delta("process") - delta("loop_thread") - delta("spool_thread")
        )
        figures["total"] = delta("process")
        return {stage: 1e6 * value / max(packets, 1) for stage, value in figures.items()}


def stage_row(per_packet: dict[str, float]) -> str:
    parts = [f"{stage} {value:.0f}" for stage, value in per_packet.items() if stage != "total"]
    return f"{per_packet['total']:.0f} µs = " + ", ".join(parts)


# --- the measurements -------------------------------------------------------------------


def measure_idle(bench: Bench, results: Results) -> None:
    time.sleep(SETTLE)
    window = CpuWindow({"bridge": bench.pid}).start()
    time.sleep(IDLE_WINDOW)
    window.stop()
    rss = memory_kb(bench.pid)["VmRSS"] / 1024
    results.figures["idle"] = {"rss_mb": rss, "cpu_percent": window.percent("bridge")}
    results.add(
        "memory idle (VmRSS after start, sinks connected)",
        f"{rss:.1f} MB",
        f"< {TARGET_IDLE_MB:.0f} MB",
        rss < TARGET_IDLE_MB,
    )
    results.add("CPU idle", f"{window.percent('bridge'):.1f} % of one core")


def _ceiling_bodies(points: int) -> list[bytes]:
    """Line protocol of the bridge's shape: measurement weather, tags station and
    device_id over 255 stations, three float fields, millisecond timestamps."""
    start = (int(time.time()) - 86400) * 1000
    lines = []
    for number in range(points):
        device = 1 + number % 255
        step = number // 255
        lines.append(
            f"weather,device_id={device},station=Station\\ {device} "
            f"humidity={40.0 + step % 50 * 0.1!r},light={float(step % 4000)!r},"
            f"temperature={10.0 + step % 200 * 0.05!r} {start + step * 1000}"
        )
    return [
        "\n".join(lines[i : i + CEILING_BATCH]).encode()
        for i in range(0, len(lines), CEILING_BATCH)
    ]


def measure_ceiling(bench: Bench, results: Results) -> float:
    """InfluxDB's own speed: the same points, no bridge, written as fast as it takes them."""
    bench.influx.create_database(CEILING_DATABASE)
    bodies = _ceiling_bodies(bench.size.ceiling)
    url = urllib.parse.urlsplit(bench.influx.url)
    path = "/write?" + urllib.parse.urlencode({"db": CEILING_DATABASE, "precision": "ms"})
    queue = iter(bodies)
    lock = threading.Lock()
    failures: list[str] = []

    def writer() -> None:
        connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
        try:
            while True:
                with lock:
                    body = next(queue, None)
                if body is None:
                    return
                connection.request("POST", path, body)
                response = connection.getresponse()
                response.read()
                if response.status != 204:
                    failures.append(f"HTTP {response.status}")
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(CEILING_WRITERS)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    if failures:
        raise RuntimeError(f"InfluxDB refused the ceiling's writes: {failures[:3]}")
    stored = bench.influx_points(CEILING_DATABASE)
    bench.influx.drop_database(CEILING_DATABASE)
    rate = bench.size.ceiling / elapsed
    results.figures["ceiling"] = {"points": stored, "seconds": elapsed, "rate": rate}
    results.add(
        "raw InfluxDB ceiling (line protocol straight to /write)",
        f"{rate:,.0f} samples/s ({CEILING_WRITERS} writers x {CEILING_BATCH} points; "
        f"{stored:,} stored)",
    )
    return rate


def measure_throughput(bench: Bench, results: Results, ceiling: float) -> None:
    size = bench.size
    before = progress(bench.database).packets
    stages_before = bench.stages()
    stations = bench.stream(size.packets)
    began = bench.sending(stations)
    window = CpuWindow(bench.pids()).start()
    hwm_before = memory_kb(bench.pid)["VmHWM"]
    report = bench.sent(stations)
    packets = before + report["packets_sent"]
    bench.committed(packets)
    influx_done = bench.delivered("influxdb", packets)
    mqtt_done = bench.delivered("mqtt", packets)
    window.stop()
    per_packet = bench.stages().per_packet(stages_before, report["packets_sent"])
    samples = report["samples_sent"]
    elapsed = max(influx_done, mqtt_done) - began
    rate = samples / elapsed
    ratio = rate / ceiling
    cpu = {name: window.percent(name) for name in window.pids}
    cpu["stations"] = 100.0 * report["cpu_s"] / window.wall
    results.figures["throughput"] = {
        "samples": samples,
        "packets": report["packets_sent"],
        "failures": report["failures"],
        "sending_s": report["ended"] - report["began"],
        "influx_s": influx_done - began,
        "mqtt_s": mqtt_done - began,
        "rate": rate,
        "ratio": ratio,
        "cpu_percent": cpu,
        "rss_peak_mb": memory_kb(bench.pid)["VmHWM"] / 1024,
        "rss_peak_before_mb": hwm_before / 1024,
        "cpu_us_per_packet": per_packet,
    }
    results.add(
        "end-to-end throughput (in InfluxDB and published on MQTT)",
        f"{rate:,.0f} samples/s = {rate / SAMPLES_PER_PACKET:,.0f} packets/s "
        f"({samples:,} samples; InfluxDB after {influx_done - began:.1f} s, "
        f"MQTT after {mqtt_done - began:.1f} s)",
        f">= {TARGET_PACKETS:,.0f} packets/s",
        rate / SAMPLES_PER_PACKET >= TARGET_PACKETS,
    )
    results.add(
        "throughput / raw InfluxDB ceiling",
        f"{ratio:.2f}",
        f">= {TARGET_RATIO}",
        ratio >= TARGET_RATIO,
    )
    results.add(
        "CPU under load (throughput run; 200 % = both cores)",
        ", ".join(f"{name} {value:.0f} %" for name, value in cpu.items()),
    )
    results.add(
        "bridge CPU per packet by stage, throughput run",
        stage_row(per_packet),
        f"<= {TARGET_CPU_SATURATED_US:.0f} µs",
        per_packet["total"] <= TARGET_CPU_SATURATED_US,
    )


def measure_latency(bench: Bench, results: Results) -> None:
    size = bench.size
    packets = round(size.rate * size.seconds)
    before = progress(bench.database).packets
    stages_before = bench.stages()
    stations = bench.stream(packets, rate=size.rate)
    began = bench.sending(stations)
    report = bench.sent(stations)
    caught_up = bench.delivered("mqtt", before + report["packets_sent"]) - report["ended"]
    bench.delivered("influxdb", before + report["packets_sent"])
    per_packet = bench.stages().per_packet(stages_before, report["packets_sent"])

    def phase() -> list[watch.Message]:
        # Packets of this phase arrived after it began (every earlier one was
        # delivered before it), some well after the stations finished sending
        # when the bridge could not keep up.
        return [m for m in watch.read(bench.messages_file) if m[3] >= began * 1000]

    # Every packet of the phase has its batch message: wait until the
    # subscriber has them all, so no late one is left out of the figures.
    wait_until(
        lambda: sum(1 for m in phase() if m[0] == "batch") >= report["packets_sent"],
        "the subscriber to receive every batch",
        size.patience,
        step=0.5,
    )
    messages = phase()
    states = [received - arrival for kind, _, received, arrival, _ in messages if kind == "state"]
    batches = [received - arrival for kind, _, received, arrival, _ in messages if kind == "batch"]
    offered = report["packets_sent"] / max(report["ended"] - report["began"], 1e-9)
    p50, p99 = percentile(states, 0.5), percentile(states, 0.99)
    results.figures["latency"] = {
        "offered_packets_per_s": offered,
        "packets": report["packets_sent"],
        "state_messages": len(states),
        "batch_messages": len(batches),
        "state_p50_ms": p50,
        "state_p99_ms": p99,
        "state_max_ms": max(states, default=float("nan")),
        "batch_p50_ms": percentile(batches, 0.5),
        "batch_p99_ms": percentile(batches, 0.99),
        "mqtt_caught_up_s": caught_up,
        "cpu_us_per_packet": per_packet,
    }
    load = (
        f"at {offered:,.0f} packets/s = {offered * SAMPLES_PER_PACKET:,.0f} samples/s "
        f"for {size.seconds:g} s, {len(states):,} state messages; MQTT had every packet "
        f"{caught_up:.1f} s after the stations' last"
    )
    results.add("latency arrival -> MQTT state, p50", f"{p50:.1f} ms {load}")
    results.add(
        "latency arrival -> MQTT state, p99",
        f"{p99:.1f} ms (max {results.figures['latency']['state_max_ms']:.0f} ms)",
        f"< {TARGET_P99_MS:.0f} ms at {TARGET_RATE:,.0f} packets/s",
        p99 < TARGET_P99_MS and offered >= TARGET_RATE * 0.95,
    )
    results.add(
        "latency arrival -> MQTT batch (every packet), p50 / p99",
        f"{results.figures['latency']['batch_p50_ms']:.1f} / "
        f"{results.figures['latency']['batch_p99_ms']:.1f} ms ({len(batches):,} messages)",
    )
    results.add(
        f"bridge CPU per packet by stage, paced at {offered:,.0f} packets/s",
        stage_row(per_packet),
        f"<= {TARGET_CPU_PACED_US:.0f} µs at {TARGET_PACED_RATE:.0f} packets/s",
        per_packet["total"] <= TARGET_CPU_PACED_US and offered <= TARGET_PACED_RATE * 1.05,
    )


def measure_burst(bench: Bench, results: Results) -> None:
    size = bench.size
    before = progress(bench.database).packets
    stations = bench.stations("burst", "--stations", str(size.burst))
    began = bench.sending(stations)
    report = bench.sent(stations)
    sent = report["packets_sent"]
    stored_at = bench.committed(before + sent)
    stored = progress(bench.database).packets - before
    lost = sent - stored
    results.figures["burst"] = {
        "stations": size.burst,
        "accepted": sent,
        "refused": report["failures"],
        "errors": report["errors"],
        "stored": stored,
        "lost": lost,
        "connect_s": report["ended"] - began,
        "stored_s": stored_at - began,
    }
    refused = f", {report['failures']:,} not connected ({report['errors']})" * bool(
        report["failures"]
    )
    results.add(
        f"burst: {size.burst:,} stations connect at once",
        f"accepted {sent:,}, stored {stored:,}, lost {lost:,}{refused}; "
        f"all stored after {stored_at - began:.1f} s",
        "none lost",
        lost == 0 and report["failures"] == 0,
    )
    burst_mb = memory_kb(bench.pid)["VmHWM"] / 1024
    results.figures["burst"]["rss_peak_mb"] = burst_mb
    results.add(
        "memory peak through the burst (VmHWM until all were stored)",
        f"{burst_mb:.1f} MB",
        f"<= {TARGET_BURST_MB:.0f} MB",
        burst_mb <= TARGET_BURST_MB,
    )


def measure_backlog(bench: Bench, results: Results) -> None:
    size = bench.size
    bench.influx.stop()
    before = progress(bench.database).packets
    stations = bench.stream(size.backlog)
    bench.sending(stations)
    report = bench.sent(stations)
    bench.delivered("mqtt", before + report["packets_sent"])
    now = progress(bench.database)
    delivered, last = now.sinks.get("influxdb", 0), now.last_seq
    waiting = samples_after(bench.database, delivered)
    bench.influx.start()
    restarted = time.time()
    first = wait_until(
        lambda: progress(bench.database).sinks.get("influxdb", 0) > delivered,
        "the InfluxDB sink to retry",
        size.patience,
        step=POLL,
    )
    done = wait_until(
        lambda: progress(bench.database).sinks.get("influxdb", 0) >= last,
        "the backlog written to InfluxDB",
        size.patience,
        step=POLL,
    )
    # The first write landed at ``first``; the samples it carried were written
    # before it, so the rate counts from the retry that found InfluxDB back.
    rate = waiting / max(done - first, 1e-9)
    results.figures["backlog"] = {
        "samples": waiting,
        "retry_after_restart_s": first - restarted,
        "drain_s": done - first,
        "rate": rate,
    }
    results.add(
        "backlog drain after an InfluxDB outage",
        f"{rate:,.0f} samples/s ({waiting:,} samples in {done - first:.1f} s; the sink's "
        f"retry came {first - restarted:.1f} s after InfluxDB was back)",
        f">= {TARGET_DRAIN:,.0f} samples/s",
        rate >= TARGET_DRAIN,
    )


def measure_ledger(bench: Bench, results: Results) -> Ledger:
    """The whole run's counts: what no data loss demands of them."""
    for sink in ("influxdb", "mqtt"):
        bench.delivered(sink, bench.sent_packets)
    counts = ledger(bench.database)
    in_influx = bench.influx_points()
    time.sleep(0.5)
    on_mqtt = sum(m[4] for m in watch.read(bench.messages_file) if m[0] == "batch")
    results.figures["ledger"] = {
        "sent_packets": bench.sent_packets,
        "sent_samples": bench.sent_samples,
        "committed": counts.packets,
        "decoded": counts.done,
        "kept": counts.kept,
        "decoded_twice": counts.decoded_twice,
        "incomplete": counts.incomplete,
        "samples": counts.samples,
        "conflicts": counts.conflicts,
        "points": counts.points,
        "influx": in_influx,
        "mqtt_samples": on_mqtt,
    }
    results.add(
        "ledger of the run: packets sent / committed / decoded (twice, kept aside)",
        f"{bench.sent_packets:,} / {counts.packets:,} / {counts.done:,} "
        f"({counts.decoded_twice}, {counts.kept})",
        "all equal (0, 0)",
        bench.sent_packets == counts.packets == counts.done
        and counts.decoded_twice == 0
        and counts.kept == 0,
    )
    results.add(
        "ledger: samples sent / stored + conflicts / in InfluxDB / on MQTT",
        f"{bench.sent_samples:,} / {counts.samples:,} + {counts.conflicts:,} / {in_influx:,} "
        f"/ {on_mqtt:,}",
        "all equal (sent = stored + conflicts)",
        bench.sent_samples == counts.samples_and_conflicts
        and counts.samples == in_influx == on_mqtt,
    )
    return counts


# --- the table ------------------------------------------------------------------------


def machine() -> str:
    cores = os.cpu_count()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                return f"{cores} cores ({model}), Linux {platform.release()}"
    return f"{cores} cores, Linux {platform.release()}"


def event_loop_name(choice: str) -> str:
    factory = event_loop_factory(choice)
    return "asyncio's own" if factory is None else f"{factory.__module__}"


def table(results: Results) -> str:
    width = max(len(row.figure) for row in results.rows)
    lines = []
    for row in results.rows:
        verdict = {True: "met", False: "NOT met", None: ""}[row.met]
        target = f"  [target {row.target}: {verdict}]" if row.target else ""
        lines.append(f"{row.figure:<{width}}  {row.value}{target}")
    return "\n".join(lines)


def run(
    size: Size, name: str, workdir: Path, log_level: str, *, nagle: bool, event_loop: str
) -> Results:
    results = Results()
    bench = Bench(size, workdir, log_level, nagle=nagle, event_loop=event_loop)
    sharing = (
        "the bridge (one process: event loop, database thread, InfluxDB writer thread), "
        "the simulated stations, the MQTT subscriber, mosquitto and influxd"
    )
    print(
        f"wxstation benchmark, size {name}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
        f"machine: {machine()}; Python {platform.python_version()}\n"
        f"sharing the cores: {sharing}\n"
        f"mosquitto: set_tcp_nodelay {'false (its default)' if nagle else 'true'}\n"
        f"the bridge's event loop: {event_loop_name(event_loop)}; load before the run: "
        f"{os.getloadavg()[0]:.2f}\n"
        f"{size}",
        flush=True,
    )
    try:
        bench.start()
        measure_idle(bench, results)
        ceiling = measure_ceiling(bench, results)
        measure_throughput(bench, results, ceiling)
        measure_latency(bench, results)
        measure_burst(bench, results)
        measure_backlog(bench, results)
        measure_ledger(bench, results)
        peak = memory_kb(bench.pid)["VmHWM"] / 1024
        results.figures["rss_peak_mb"] = peak
        results.add("memory peak (VmHWM over the whole run)", f"{peak:.1f} MB")
    finally:
        code = bench.close()
    results.add("bridge stopped by SIGTERM", f"exit code {code}", "0", code == 0)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    cli.add_argument("--size", choices=sorted(SIZES), default="small")
    for spec in fields(Size):
        cli.add_argument(
            f"--{spec.name}",
            type=float if spec.type in ("float", float) else int,
            help=f"override the size's {spec.name}",
        )
    cli.add_argument("--log-level", default="info", help="the bridge's log_level (info)")
    cli.add_argument(
        "--broker-nagle",
        action="store_true",
        help="leave Nagle's algorithm on in Mosquitto (its default) instead of set_tcp_nodelay",
    )
    cli.add_argument(
        "--event-loop",
        choices=("auto", "uvloop", "asyncio"),
        default="auto",
        help="the bridge's event loop (auto: uvloop when installed)",
    )
    cli.add_argument("--json", type=Path, help="also write every figure to this file")
    cli.add_argument("--keep", action="store_true", help="keep the working directory")
    args = cli.parse_args(argv)
    for binary in (MOSQUITTO_BIN, INFLUXD_BIN):
        if not os.access(binary, os.X_OK):
            print(f"{binary} is missing: ./scripts/test installs it", file=sys.stderr)
            return 2
    size = replace(
        SIZES[args.size],
        **{
            spec.name: getattr(args, spec.name)
            for spec in fields(Size)
            if getattr(args, spec.name) is not None
        },
    )
    workdir = Path(tempfile.mkdtemp(prefix="wxstation-bench-"))
    try:
        results = run(
            size,
            args.size,
            workdir,
            args.log_level,
            nagle=args.broker_nagle,
            event_loop=args.event_loop,
        )
    finally:
        if args.keep:
            print(f"working directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results.figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
