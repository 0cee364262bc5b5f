"""The real-server helpers in tests/support/servers.py start, serve, stop and restart."""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.servers import (
    InfluxDB1,
    Mosquitto,
    Server,
    ServerStartError,
    VictoriaMetrics,
    free_port,
    http_request,
    require_binary,
)

JAN_2026_MS = 1_767_225_600_123  # 2026-01-01T00:00:00.123Z


# -- shared helpers -----------------------------------------------------------


class MqttProbe:
    """A paho 2.x client that records every message it receives."""

    def __init__(self, broker: Mosquitto, client_id: str) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(broker.host, broker.port, keepalive=10)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.messages.put(msg)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: Any,
        properties: Any,
    ) -> None:
        self.subscribed.set()

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(5), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(5)
        assert info.is_published()

    def next_message(self, timeout: float = 5.0) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def assert_refused(host: str, port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, port), timeout=2).close()


# -- generic ------------------------------------------------------------------


def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_missing_binary_skips_locally_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-package"):
        require_binary("/nonexistent/bin/server", "no-such-package")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_binary("/nonexistent/bin/server", "no-such-package")


@pytest.mark.servers
def test_start_failure_reports_log_tail() -> None:
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        broker = Mosquitto()
        broker.port = blocker.getsockname()[1]
        broker.start_timeout = 5
        try:
            with pytest.raises(ServerStartError, match=r"(?s)mosquitto.*log tail.*in use"):
                broker.start()
            assert not broker.running
        finally:
            broker.close()


# -- Mosquitto ----------------------------------------------------------------


@pytest.fixture(scope="module")
def broker() -> Iterator[Mosquitto]:
    with Mosquitto() as server:
        yield server


@pytest.mark.servers
def test_mosquitto_publish_subscribe(broker: Mosquitto) -> None:
    sub = MqttProbe(broker, "probe-sub")
    pub = MqttProbe(broker, "probe-pub")
    try:
        sub.subscribe("wx/test/#")
        pub.publish("wx/test/temperature", b"21.5")
        msg = sub.next_message()
        assert (msg.topic, msg.payload, msg.retain) == ("wx/test/temperature", b"21.5", False)

        pub.publish("wx/retained/config", b'{"name": "x"}', retain=True)
        late = MqttProbe(broker, "probe-late")
        try:
            late.subscribe("wx/retained/#")
            msg = late.next_message()
            assert (msg.topic, msg.retain) == ("wx/retained/config", True)
        finally:
            late.close()
    finally:
        sub.close()
        pub.close()


@pytest.mark.servers
def test_mosquitto_stop_refuses_and_restart_reuses_port() -> None:
    with Mosquitto() as server:
        port = server.port
        server.stop()
        assert not server.running
        assert_refused(server.host, port)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="probe-down")
        with pytest.raises(ConnectionRefusedError):
            client.connect(server.host, port)

        server.restart()
        assert server.port == port
        probe = MqttProbe(server, "probe-up")
        try:
            probe.subscribe("wx/#")
            probe.publish("wx/back", b"1")
            assert probe.next_message().payload == b"1"
        finally:
            probe.close()


@pytest.mark.servers
def test_mosquitto_persistence_keeps_retained_messages() -> None:
    with Mosquitto(persistence=True) as server:
        pub = MqttProbe(server, "probe-pub")
        pub.publish("wx/keep", b"kept", retain=True)
        pub.close()
        server.restart()
        probe = MqttProbe(server, "probe-after")
        try:
            probe.subscribe("wx/keep")
            assert probe.next_message().payload == b"kept"
        finally:
            probe.close()


# -- InfluxDB 1.x -------------------------------------------------------------


@pytest.fixture(scope="module")
def influx() -> Iterator[InfluxDB1]:
    with InfluxDB1() as server:
        yield server


@pytest.mark.servers
def test_influxdb_write_and_query(influx: InfluxDB1) -> None:
    influx.create_database("wx")
    assert "wx" in influx.databases()
    influx.write(
        [
            f"weather,station=st1 temperature=21.5,battery=3.01 {JAN_2026_MS}",
            f"weather,station=st2 temperature=-4.25,battery=2.9 {JAN_2026_MS + 1000}",
        ],
        db="wx",
    )
    rows = influx.query("SELECT temperature, station FROM weather ORDER BY time", db="wx")
    assert rows == [
        {"time": JAN_2026_MS, "temperature": 21.5, "station": "st1"},
        {"time": JAN_2026_MS + 1000, "temperature": -4.25, "station": "st2"},
    ]
    grouped = influx.query('SELECT last("battery") FROM weather GROUP BY station', db="wx")
    assert sorted((r["station"], r["last"]) for r in grouped) == [("st1", 3.01), ("st2", 2.9)]
    assert influx.query("SELECT * FROM weather WHERE station = 'none'", db="wx") == []
    with pytest.raises(RuntimeError, match="database not found"):
        influx.query("SELECT * FROM weather", db="missing")


@pytest.mark.servers
def test_influxdb_restart_keeps_data_and_stop_refuses() -> None:
    with InfluxDB1() as server:
        server.create_database("wx")
        server.write(f"weather,station=st1 temperature=20 {JAN_2026_MS}", db="wx")
        server.stop()
        assert_refused(server.host, server.port)
        server.restart()
        assert server.query("SELECT temperature FROM weather", db="wx") == [
            {"time": JAN_2026_MS, "temperature": 20}
        ]


# -- VictoriaMetrics ----------------------------------------------------------


@pytest.fixture(scope="module")
def victoria() -> Iterator[VictoriaMetrics]:
    with VictoriaMetrics() as server:
        yield server


def write_v2(server: VictoriaMetrics, points: list[Point], bucket: str = "weather") -> None:
    # VictoriaMetrics accepts any org, bucket and token (no auth).
    with InfluxDBClient(url=server.url, token="any-token", org="any-org") as client:  # noqa: S106
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=bucket, record=points, write_precision=WritePrecision.MS
        )


@pytest.mark.servers
def test_victoria_metrics_influx_v2_write_and_export(victoria: VictoriaMetrics) -> None:
    now_ms = int(victoria.now() * 1000)
    write_v2(
        victoria,
        [
            Point("weather")
            .tag("station", "st1")
            .field("temperature", 21.5)
            .field("humidity", 40)
            .time(JAN_2026_MS, WritePrecision.MS),
            Point("weather")
            .tag("station", "st1")
            .field("temperature", 22.0)
            .time(now_ms, WritePrecision.MS),
        ],
        bucket="anything",
    )
    assert victoria.samples('{__name__=~"weather_.*"}') == [
        ("weather_humidity", {"station": "st1"}, JAN_2026_MS, 40.0),
        ("weather_temperature", {"station": "st1"}, JAN_2026_MS, 21.5),
        ("weather_temperature", {"station": "st1"}, now_ms, 22.0),
    ]
    # The v1 endpoint's db parameter becomes a label; the v2 bucket does not.
    status, _ = http_request(
        f"{victoria.url}/write?db=wxdb&precision=ms",
        data=f"v1test,station=st9 temperature=1.25 {JAN_2026_MS}".encode(),
        method="POST",
    )
    assert status == 204
    assert victoria.samples("v1test_temperature") == [
        ("v1test_temperature", {"db": "wxdb", "station": "st9"}, JAN_2026_MS, 1.25)
    ]


@pytest.mark.servers
def test_victoria_metrics_restart_keeps_data_and_stop_refuses() -> None:
    with VictoriaMetrics() as server:
        write_v2(
            server,
            [
                Point("weather")
                .tag("station", "s")
                .field("temperature", 5.5)
                .time(JAN_2026_MS, WritePrecision.MS)
            ],
        )
        server.stop()
        assert_refused(server.host, server.port)
        server.restart()
        assert server.samples() == [("weather_temperature", {"station": "s"}, JAN_2026_MS, 5.5)]


class ShortRetentionVM(VictoriaMetrics):
    retention = "30d"


@pytest.mark.servers
def test_victoria_metrics_drops_samples_outside_retention() -> None:
    with ShortRetentionVM() as short, VictoriaMetrics() as long:
        old_ms = int(short.now() * 1000) - 60 * 86400 * 1000
        for server in (short, long):
            write_v2(
                server, [Point("weather").field("temperature", 1.0).time(old_ms, WritePrecision.MS)]
            )
        assert short.samples() == []
        assert long.samples() == [("weather_temperature", {}, old_ms, 1.0)]


def test_servers_are_context_managers_that_clean_up() -> None:
    class Sleeper(Server):
        name = "sleeper"
        binary = "/bin/sleep"

        def command(self) -> list[str]:
            return [self.binary, "600"]

        def is_ready(self) -> bool:
            return True

    seen: list[Sleeper] = []
    with pytest.raises(RuntimeError, match="boom"), Sleeper() as server:  # noqa: PT012
        seen.append(server)
        assert server.running
        raise RuntimeError("boom")
    assert not seen[0].running
    assert not seen[0].dir.exists()
