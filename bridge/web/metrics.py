"""``/metrics``: the bridge's work in Prometheus' text format.

Two kinds of figures:

- **Counters and histograms** of what this process did since it started
  (packets committed, decoded and kept aside, samples stored, deliveries,
  latencies): the runtime's parts tell :class:`BridgeMetrics` as they work
  (:class:`bridge.runtime.status.RuntimeEvents`); the receiver's connection
  counts and the sinks' state are read off the running bridge's status at each
  scrape.
- **Gauges** of what the database holds (packets by state, each sink's backlog
  and refused batches, each station's last packet and clock error), read from
  the status page's snapshot at each scrape.

Each bridge has its own registry (no global state), so two bridges in one
process, as in the tests, count apart.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bridge.runtime.status import RuntimeEvents, Status
from bridge.web.snapshot import Snapshot
from wxstation.decoding import DecodeResult
from wxstation.packets import Received
from wxstation.samples import Batch

__all__ = ["CONTENT_TYPE", "BridgeMetrics"]

#: What Prometheus expects of the text format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Seconds from a packet's arrival until its samples are stored: a group
#: commit and a decode take milliseconds; seconds mean the disk is struggling.
DECODE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0)
#: Seconds from a packet's arrival until a sink took its batch: milliseconds
#: while the service is up, up to hours while it was down.
DELIVERY_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 600.0, 3600.0, 86400.0)


class BridgeMetrics(RuntimeEvents):
    """The bridge's metrics; the runtime's events feed the counters."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.clock = clock
        self.packets_received = Counter(
            "wxstation_packets_received",
            "Packets committed to the database",
            registry=self.registry,
        )
        self.packets_decoded = Counter(
            "wxstation_packets_decoded",
            "Packets decoded into samples",
            registry=self.registry,
        )
        self.packets_kept = Counter(
            "wxstation_packets_kept_aside",
            "Packets kept aside for reprocess, by the kind of reason",
            ["reason"],
            registry=self.registry,
        )
        self.samples_stored = Counter(
            "wxstation_samples_stored",
            "Samples newly stored (a resent or repeated sample is not stored twice)",
            registry=self.registry,
        )
        self.sample_conflicts = Counter(
            "wxstation_sample_conflicts",
            "Samples kept aside because a different sample of their station and time is stored",
            registry=self.registry,
        )
        self.batches_delivered = Counter(
            "wxstation_sink_batches_delivered",
            "Batches a sink took",
            ["sink"],
            registry=self.registry,
        )
        self.batches_refused = Counter(
            "wxstation_sink_batches_refused",
            "Batches a sink's service refused for good (kept aside)",
            ["sink"],
            registry=self.registry,
        )
        self.retries = Counter(
            "wxstation_sink_retries",
            "Deliveries that found the sink's service unavailable and wait to try again",
            ["sink"],
            registry=self.registry,
        )
        self.decode_latency = Histogram(
            "wxstation_decode_latency_seconds",
            "From a packet's arrival until its samples were stored",
            buckets=DECODE_BUCKETS,
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "wxstation_delivery_latency_seconds",
            "From a packet's arrival until a sink took its batch",
            ["sink"],
            buckets=DELIVERY_BUCKETS,
            registry=self.registry,
        )

    # --- the runtime's events --------------------------------------------------

    def committed(self, items: Sequence[Received]) -> None:
        self.packets_received.inc(len(items))

    def decoded(self, results: Sequence[DecodeResult]) -> None:
        # Added up first: a counter's increment takes a lock, once per group is enough.
        now = self.clock()
        decoded = samples = conflicts = 0
        for result in results:
            if result.batch is None:
                self.packets_kept.labels(result.kept_kind or "undecodable").inc()
                continue
            decoded += 1
            samples += len(result.batch.samples)
            conflicts += len(result.conflicts)
            self.decode_latency.observe(max(0.0, now - result.packet.received_at))
        self.packets_decoded.inc(decoded)
        self.samples_stored.inc(samples)
        self.sample_conflicts.inc(conflicts)

    def delivered(self, sink: str, batches: Sequence[Batch]) -> None:
        now = self.clock()
        self.batches_delivered.labels(sink).inc(len(batches))
        latency = self.delivery_latency.labels(sink)
        for batch in batches:
            latency.observe(max(0.0, now - batch.arrival))

    def sink_failed(self, sink: str, reason: str) -> None:
        self.retries.labels(sink).inc()

    def sink_refused(self, sink: str, batch: Batch, reason: str) -> None:
        self.batches_refused.labels(sink).inc()

    def prepare(self, sinks: Sequence[str]) -> None:
        """Show every sink's series from the start, at zero."""
        for sink in sinks:
            for family in (
                self.batches_delivered,
                self.batches_refused,
                self.retries,
                self.delivery_latency,
            ):
                family.labels(sink)

    def render(self, status: Status, snapshot: Snapshot | None) -> bytes:
        """Every metric in the text format: the counters, then the gauges of
        ``status`` and the database's ``snapshot`` (when one was read)."""
        gauges = CollectorRegistry(auto_describe=True)
        gauges.register(_StateCollector(status, snapshot))
        return generate_latest(self.registry) + generate_latest(gauges)


class _StateCollector(Collector):
    """The receiver's counts, the sinks' state and the database's, at one scrape."""

    def __init__(self, status: Status, snapshot: Snapshot | None) -> None:
        self.status = status
        self.snapshot = snapshot

    def describe(self) -> list[Metric]:
        # Described by collecting: the families are the same every time.
        return []

    def collect(self) -> Iterator[Metric]:
        status = self.status
        connections = CounterMetricFamily(
            "wxstation_connections",
            "Connections on the stations' port: served (read), refused (closed unread, "
            "their address sends what is not a station's), timed_out (silent or too long)",
            labels=["outcome"],
        )
        connections.add_metric(["served"], status.connections)
        connections.add_metric(["refused"], status.refused)
        connections.add_metric(["timed_out"], status.timed_out)
        yield connections
        yield GaugeMetricFamily(
            "wxstation_listening",
            "1 while stations can connect, 0 while the bridge does not accept packets",
            value=1 if status.listening else 0,
        )
        up = GaugeMetricFamily(
            "wxstation_sink_up",
            "1 while the sink's service takes deliveries, 0 while the bridge waits to retry",
            labels=["sink"],
        )
        for name, live in self.status.sinks.items():
            up.add_metric([name], 0 if live.state.down_since is not None else 1)
        yield up
        snapshot = self.snapshot
        if snapshot is None:
            return
        stored = GaugeMetricFamily(
            "wxstation_database_packets",
            "Packets in the database by state: done (decoded), kept (aside), new (to decode)",
            labels=["state"],
        )
        for state in ("done", "kept", "new"):
            stored.add_metric([state], snapshot.counts.get(state, 0))
        yield stored
        backlog = GaugeMetricFamily(
            "wxstation_sink_backlog_batches",
            "Batches stored but not yet delivered to the sink",
            labels=["sink"],
        )
        kept_aside = GaugeMetricFamily(
            "wxstation_sink_refused_batches",
            "Batches the sink's service refused, kept aside in the database",
            labels=["sink"],
        )
        for sink in snapshot.sinks:
            backlog.add_metric([sink.name], sink.backlog)
            kept_aside.add_metric([sink.name], len(sink.refused))
        yield backlog
        yield kept_aside
        last_seen = GaugeMetricFamily(
            "wxstation_station_last_seen_timestamp_seconds",
            "When the station's newest decoded packet arrived",
            labels=["device_id", "station"],
        )
        clock_error = GaugeMetricFamily(
            "wxstation_station_clock_error_percent",
            "How far the station's watchdog clock runs off, as measured between its packets",
            labels=["device_id", "station"],
        )
        available = GaugeMetricFamily(
            "wxstation_station_available",
            "1 while the station is available by the rule of wxstation.availability",
            labels=["device_id", "station"],
        )
        for station in snapshot.stations:
            if station.newest is None:
                continue
            labels = [str(station.device_id), station.name]
            last_seen.add_metric(labels, station.newest.arrival)
            clock_error.add_metric(labels, (station.newest.clock_factor - 1.0) * 100.0)
            available.add_metric(labels, 1 if station.available else 0)
        yield last_seen
        yield clock_error
        yield available
