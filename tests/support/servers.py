"""Real Mosquitto, InfluxDB 1.x and VictoriaMetrics servers for tests.

Each server runs from its Debian package's binary on free loopback ports (never
the default ones, so a package's own service or another test run cannot
collide), in a private temporary directory, and is reached only through
127.0.0.1.

Usage::

    with Mosquitto() as broker:
        client.connect(broker.host, broker.port)
        broker.stop()     # really down: clients now get "connection refused"
        broker.restart()  # same port, same data directory

``stop()`` terminates the process and waits for it to exit, so the listening
socket is closed when it returns. ``restart()`` reuses the port and the data
directory, so stored data survives. ``close()`` (or leaving the ``with`` block)
stops the server and deletes its directory; processes are also killed at
interpreter exit and, on Linux, when the test process dies (for servers
started from the main thread).

If a binary is missing, ``start()`` calls ``pytest.skip`` -- unless the
environment variable ``CI`` is set (and not ``0``/``false``/``no``), where a
missing server is a broken CI machine and ``pytest.fail`` is called instead.
``./scripts/test`` installs the packages (``mosquitto influxdb
victoria-metrics``).

Facts about the Debian 12 (bookworm) packages these helpers were written
against: mosquitto 2.0.11 (``/usr/sbin/mosquitto``), influxdb 1.6.7~rc0
(``/usr/bin/influxd``, ready in well under a second), victoria-metrics 1.79.5
(``/usr/bin/victoria-metrics``). See :class:`VictoriaMetrics` for how it stores
InfluxDB line protocol.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import email.utils
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest

from tests.support.waiting import wait_until

HOST = "127.0.0.1"

MOSQUITTO_BIN = "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD_BIN = "/usr/bin/mosquitto_passwd"  # noqa: S105  (a program, not a password)
INFLUXD_BIN = "/usr/bin/influxd"
VICTORIA_METRICS_BIN = "/usr/bin/victoria-metrics"

_LOG_TAIL_BYTES = 4000
_PR_SET_PDEATHSIG = 1

Sample = tuple[str, dict[str, str], int, float]
"""One VictoriaMetrics sample: metric name, labels without ``__name__``, epoch ms, value."""


class ServerStartError(RuntimeError):
    """A server process did not become ready; the message carries its log tail."""


def free_port(host: str = HOST) -> int:
    """Return a TCP port on ``host`` that nothing listens on right now.

    The kernel picks it (bind to port 0). Another process could take it before
    the server binds it; on a test machine that window is small enough.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """True if a TCP connect to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _mqtt_string(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def mqtt_handshake(
    host: str, port: int, timeout: float = 0.5, credentials: tuple[str, str] | None = None
) -> bool:
    """True if an MQTT 3.1.1 broker on ``host:port`` accepts a CONNECT: anonymous,
    or with ``credentials`` (user name, password)."""
    flags, payload = 0x02, _mqtt_string("")  # clean session, empty client id
    if credentials is not None:
        flags |= 0xC0  # user name and password follow
        payload += _mqtt_string(credentials[0]) + _mqtt_string(credentials[1])
    body = bytes([0, 4, *b"MQTT", 4, flags, 0, 10]) + payload
    # A one-byte remaining length: test credentials are short.
    assert len(body) < 128
    connect = bytes([0x10, len(body)]) + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(connect)
            connack = sock.recv(4)
            sock.sendall(b"\xe0\x00")  # DISCONNECT
    except OSError:
        return False
    return connack == b"\x20\x02\x00\x00"


def in_ci() -> bool:
    """True when the environment variable ``CI`` says this is a CI run."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_binary(path: str, package: str) -> str:
    """Return ``path`` if it is an executable; otherwise skip (or fail under CI)."""
    if os.access(path, os.X_OK):
        return path
    reason = f"{path} not found: install the Debian package '{package}' (./scripts/test does this)"
    if in_ci():
        pytest.fail(f"CI is set and {reason}", pytrace=False)
    pytest.skip(reason)


def log_tail(path: Path, limit: int = _LOG_TAIL_BYTES) -> str:
    """The last ``limit`` bytes of a log file, decoded leniently."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            data = fh.read()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    text = data.decode("utf-8", "replace")
    return text if size <= limit else "...\n" + text


def http_request(
    url: str,
    data: bytes | None = None,
    method: str | None = None,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """Send one HTTP request; return (status, body) for any status, raise on no answer."""
    if not url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise ValueError(f"test helpers only talk to loopback servers, not {url!r}")
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310 - loopback http only, checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback http only, checked above
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_server_time(url: str, timeout: float = 10.0) -> float:
    """The server's own clock, from the ``Date`` header of its answer to ``url``
    (unix seconds, whole seconds). Go servers keep the real clock when the tests
    run under libfaketime, so data a server judges by its clock (retention,
    "too far in the future") is made relative to this, not to ``time.time()``."""
    if not url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        raise ValueError(f"test helpers only talk to loopback servers, not {url!r}")
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback http only, checked above
        date = response.headers["Date"]
    if date is None:
        raise RuntimeError(f"{url} answered without a Date header")
    return email.utils.parsedate_to_datetime(date).timestamp()


def _http_status(url: str) -> int | None:
    try:
        return http_request(url, timeout=1.0)[0]
    except OSError:
        return None


def _set_parent_death_signal() -> None:
    # Runs in the child between fork and exec: the kernel sends SIGKILL to the
    # server if the thread that started it dies (e.g. pytest killed with -9), so
    # no server outlives the test run.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


_live: set[Server] = set()
_live_lock = threading.Lock()


@atexit.register
def _kill_leftovers() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        with contextlib.suppress(Exception):
            server.close()


class Server:
    """A server process with a private directory, fixed ports and a log file.

    Subclasses set ``name``, ``package`` and ``binary``, and implement
    :meth:`command` and :meth:`is_ready`; :meth:`prepare` writes config files.
    """

    name = "server"
    package = ""
    binary = ""
    start_timeout = 30.0
    stop_timeout = 20.0

    def __init__(self, workdir: str | os.PathLike[str] | None = None) -> None:
        self.host = HOST
        self.port = free_port()
        self._owns_dir = workdir is None
        if workdir is None:
            self.dir = Path(tempfile.mkdtemp(prefix=f"wxstation-{self.name}-"))
        else:
            self.dir = Path(workdir)
            self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    # -- to be provided by subclasses ---------------------------------------

    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def prepare(self) -> None:
        """Write config files before each start (idempotent)."""

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    # -- lifecycle ----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Self:
        """Start the server and wait until it answers; raise ServerStartError if not."""
        if self.running:
            return self
        require_binary(self.binary, self.package)
        self.prepare()
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
            log.flush()
            on_main_thread = threading.current_thread() is threading.main_thread()
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.dir,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # The death signal is tied to the starting *thread*; only the main
                # thread lives as long as the test run.
                preexec_fn=(
                    _set_parent_death_signal if on_main_thread and sys.platform == "linux" else None
                ),
            )
        with _live_lock:
            _live.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        process = self.process
        assert process is not None

        def ready() -> bool:
            code = process.poll()
            if code is not None:
                raise ServerStartError(
                    f"{self.name} exited with code {code} during startup "
                    f"(port {self.port}, dir {self.dir}); log tail:\n{log_tail(self.log_path)}"
                )
            return self.is_ready()

        try:
            wait_until(ready, f"{self.name} to be ready", self.start_timeout, step=0.02)
        except TimeoutError:
            raise ServerStartError(
                f"{self.name} not ready after {self.start_timeout:.0f} s "
                f"(port {self.port}, dir {self.dir}); log tail:\n{log_tail(self.log_path)}"
            ) from None

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL) and wait until it has exited.

        A clean SIGTERM lets each server flush its data to disk, which
        :meth:`restart` relies on.
        """
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with _live_lock:
            _live.discard(self)

    def kill(self) -> None:
        """SIGKILL the server: a crash, with no chance to flush anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stop()

    @contextlib.contextmanager
    def hung(self) -> Iterator[None]:
        """The server frozen (SIGSTOP) while the block runs: its ports still take
        connections into the kernel's backlog, and nothing answers, as with a
        host that hangs. Resumed (SIGCONT) afterwards."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.process.send_signal(signal.SIGCONT)

    def restart(self) -> Self:
        """Stop, then start again on the same port with the same data directory."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop the server and delete its directory if this object created it."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        return log_tail(self.log_path)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state} dir={self.dir}>"


#: The largest packet MQTT can carry (its remaining-length field's limit).
MQTT_MAX_PACKET = 268_435_455


class Mosquitto(Server):
    """Mosquitto MQTT broker on ``host:port``, anonymous access, MQTT 3.1/3.1.1/5.

    ``persistence=False`` (default): retained messages and sessions are lost on
    restart, as with a broker that has no persistence. ``persistence=True``: the
    broker saves them to its directory on a clean stop and loads them at start.
    ``credentials`` (user name, password): the only client it lets in, as the
    Mosquitto add-on lets in only the users it knows.
    """

    name = "mosquitto"
    package = "mosquitto"
    binary = MOSQUITTO_BIN

    def __init__(
        self,
        workdir: str | os.PathLike[str] | None = None,
        *,
        persistence: bool = False,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(workdir)
        self.persistence = persistence
        self.credentials = credentials
        self.config_path = self.dir / "mosquitto.conf"
        self.password_path = self.dir / "passwords"

    def prepare(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            *self._access(),
            # Started as root, mosquitto would switch to the 'mosquitto' user, which
            # cannot write to this directory; "root" keeps the current user.
            "user root",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            # Mosquitto 2.1 refuses packets over 2 MB unless told (2.0 took any),
            # so a reader's test of a hostile oversized message never met it: the
            # tests' brokers take what MQTT allows, as a broker so configured does.
            f"max_packet_size {MQTT_MAX_PACKET}",
        ]
        if self.persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.dir}/",
                "persistence_file mosquitto.db",
            ]
        else:
            lines.append("persistence false")
        self.config_path.write_text("\n".join(lines) + "\n")

    def _access(self) -> list[str]:
        """Anonymous clients, or only the one with the credentials (hashed by
        mosquitto_passwd into the password file)."""
        if self.credentials is None:
            return ["allow_anonymous true"]
        user, password = self.credentials
        passwd = require_binary(MOSQUITTO_PASSWD_BIN, self.package)
        subprocess.run(
            [passwd, "-b", "-c", str(self.password_path), user, password],
            check=True,
            capture_output=True,
        )
        return ["allow_anonymous false", f"password_file {self.password_path}"]

    def command(self) -> list[str]:
        return [self.binary, "-c", str(self.config_path)]

    def is_ready(self) -> bool:
        # A bare TCP connect could reach some other listener on the port; a
        # CONNACK proves this broker answers.
        return mqtt_handshake(self.host, self.port, credentials=self.credentials)


class InfluxDB1(Server):
    """InfluxDB 1.x (Debian: 1.6.7) with only its HTTP API on ``url``.

    Every listener is on loopback: HTTP on ``port``, the backup/RPC service on
    ``rpc_port``; UDP, Graphite, collectd, OpenTSDB, the _internal monitor and
    usage reporting are off. No auth. Environment variables ``INFLUXDB_*`` would
    override the config file, so they are removed from the server's environment.
    The default retention policy ``autogen`` keeps data forever, so any
    timestamp, old or future, is stored.
    """

    name = "influxdb"
    package = "influxdb"
    binary = INFLUXD_BIN

    def __init__(self, workdir: str | os.PathLike[str] | None = None) -> None:
        super().__init__(workdir)
        self.rpc_port = free_port()
        self.config_path = self.dir / "influxdb.conf"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def prepare(self) -> None:
        config = f"""\
reporting-disabled = true
bind-address = "{self.host}:{self.rpc_port}"

[meta]
  dir = "{self.dir}/meta"

[data]
  dir = "{self.dir}/data"
  wal-dir = "{self.dir}/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "{self.host}:{self.port}"
  auth-enabled = false
  log-enabled = true
  pprof-enabled = false

[ifql]
  enabled = false

[[graphite]]
  enabled = false

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false

[[udp]]
  enabled = false

[continuous_queries]
  enabled = false
"""
        self.config_path.write_text(config)

    def command(self) -> list[str]:
        return [self.binary, "run", "-config", str(self.config_path)]

    def environment(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}

    def is_ready(self) -> bool:
        return _http_status(f"{self.url}/ping") == 204

    def now(self) -> float:
        """The server's clock (unix seconds), which ``now()`` in InfluxQL reads."""
        return http_server_time(f"{self.url}/ping")

    # -- helpers for tests ----------------------------------------------------

    def _query_raw(self, influxql: str, db: str | None = None, *, post: bool) -> Any:
        params = {"q": influxql, "epoch": "ms"}
        if db is not None:
            params["db"] = db
        body = urllib.parse.urlencode(params).encode()
        if post:
            status, raw = http_request(f"{self.url}/query", data=body, method="POST")
        else:
            status, raw = http_request(f"{self.url}/query?{body.decode()}")
        payload = json.loads(raw or b"{}")
        if status != 200:
            raise RuntimeError(f"InfluxDB query {influxql!r} failed: HTTP {status}: {payload}")
        for result in payload.get("results", []):
            if "error" in result:
                raise RuntimeError(f"InfluxDB query {influxql!r} failed: {result['error']}")
        return payload

    def create_database(self, name: str) -> None:
        self._query_raw(f'CREATE DATABASE "{name}"', post=True)

    def drop_database(self, name: str) -> None:
        self._query_raw(f'DROP DATABASE "{name}"', post=True)

    def databases(self) -> list[str]:
        return [str(row["name"]) for row in self.query("SHOW DATABASES")]

    def query_series(self, influxql: str, db: str | None = None) -> list[dict[str, Any]]:
        """Run one InfluxQL statement; return InfluxDB's series objects as they are.

        Each is ``{"name": measurement, "tags": {...} (with GROUP BY),
        "columns": [...], "values": [[...], ...]}``; ``time`` is epoch ms.
        """
        payload = self._query_raw(influxql, db, post=False)
        series: list[dict[str, Any]] = []
        for result in payload.get("results", []):
            series.extend(result.get("series", []))
        return series

    def query(self, influxql: str, db: str | None = None) -> list[dict[str, Any]]:
        """Run one InfluxQL statement; return one dict per row, column -> value.

        ``time`` is an int in epoch milliseconds. With ``GROUP BY`` the series'
        tags are added to each row (a column of the same name wins). An empty
        result is ``[]``; an error raises RuntimeError.
        """
        rows: list[dict[str, Any]] = []
        for series in self.query_series(influxql, db):
            tags = series.get("tags") or {}
            for values in series.get("values", []):
                row = dict(tags)
                row.update(zip(series["columns"], values, strict=True))
                rows.append(row)
        return rows

    def write(self, lines: str | Iterable[str], db: str, precision: str = "ms") -> None:
        """Write line protocol through ``/write`` (InfluxDB 1.x API)."""
        body = lines if isinstance(lines, str) else "\n".join(lines)
        query = urllib.parse.urlencode({"db": db, "precision": precision})
        status, raw = http_request(f"{self.url}/write?{query}", data=body.encode(), method="POST")
        if status != 204:
            raise RuntimeError(f"InfluxDB write failed: HTTP {status}: {raw!r}")


class VictoriaMetrics(Server):
    """Single-node VictoriaMetrics (Debian: 1.79.5) with its HTTP API on ``url``.

    Flags: ``-retentionPeriod=100y`` -- VictoriaMetrics *drops* samples older
    than now minus the retention period at write time (the default, 1 month,
    would silently discard e.g. a January 2026 timestamp written in November
    2026: HTTP 204, and only a "too small timestamp" warning in the log). It
    also drops samples more than 2 days in the future ("too big timestamp"),
    whatever the flags. ``-search.latencyOffset=0s`` and
    ``-search.disableCache`` make the newest samples visible to
    ``/api/v1/query*`` at once.

    InfluxDB line protocol, measured against this package:

    - Endpoints: ``/write`` and ``/api/v2/write`` (what ``influxdb-client``'s v2
      write API posts to, with ``org``/``bucket``/``token`` ignored: any values
      work, no auth), plus ``/influx/write`` and ``/influx/api/v2/write``.
      Success is HTTP 204.
    - Naming: measurement ``weather``, field ``temperature`` -> metric
      ``weather_temperature``; every field becomes its own series; tags become
      labels (``station="st1"``). Integer and float fields are stored as
      floats, booleans as 1/0, and string fields as 0 (their text is lost).
    - ``/write?db=NAME`` adds a label ``db="NAME"``; ``/api/v2/write?bucket=NAME``
      adds no label (the bucket is ignored in 1.79).
    - ``precision=ms`` keeps millisecond timestamps exactly.

    Visibility: a write is acknowledged before it can be read. Without a
    flush, a new series written "now" showed up in ``/api/v1/export`` only
    after about 10 s, and a new sample of a known series after up to about 1 s;
    after ``GET /internal/force_flush`` it is visible at once. :meth:`export`
    therefore flushes first. Also, ``/api/v1/export`` without ``end`` stops at
    the current whole second, hiding samples from the last second; ``export``
    passes an ``end`` 3 days ahead.

    Restart: ``stop()`` sends SIGTERM, on which VictoriaMetrics writes
    everything to ``-storageDataPath``; data survives ``restart()``. After
    ``kill()`` the last second or so of writes may be lost.
    """

    name = "victoria-metrics"
    package = "victoria-metrics"
    binary = VICTORIA_METRICS_BIN
    retention = "100y"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def command(self) -> list[str]:
        return [
            self.binary,
            f"-httpListenAddr={self.host}:{self.port}",
            f"-storageDataPath={self.data_dir}",
            f"-retentionPeriod={self.retention}",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=INFO",
        ]

    def is_ready(self) -> bool:
        return _http_status(f"{self.url}/health") == 200

    # -- helpers for tests ----------------------------------------------------

    def now(self) -> float:
        """The server's clock (unix seconds): what it judges retention and
        future timestamps by."""
        return http_server_time(f"{self.url}/health")

    def flush(self) -> None:
        """Make everything written so far visible to queries and exports."""
        status, raw = http_request(f"{self.url}/internal/force_flush")
        if status != 200:
            raise RuntimeError(f"VictoriaMetrics force_flush failed: HTTP {status}: {raw!r}")

    def export(
        self,
        match: str | Sequence[str] = '{__name__!=""}',
        *,
        flush: bool = True,
        start: int | None = None,
        end: int | None = None,
    ) -> list[dict[str, Any]]:
        """``/api/v1/export`` as a list of ``{"metric": {...}, "values": [...],
        "timestamps": [...]}``, one per series; timestamps are epoch ms.

        ``start``/``end`` are epoch seconds; by default everything from 1970 to
        3 days ahead. Series are sorted by metric name and labels so results
        compare stably.
        """
        if flush:
            self.flush()
        matches = [match] if isinstance(match, str) else list(match)
        params: list[tuple[str, str]] = [("match[]", m) for m in matches]
        params.append(("start", str(0 if start is None else start)))
        params.append(("end", str(int(self.now()) + 3 * 86400 if end is None else end)))
        status, raw = http_request(
            f"{self.url}/api/v1/export", data=urllib.parse.urlencode(params).encode()
        )
        if status != 200:
            raise RuntimeError(f"VictoriaMetrics export failed: HTTP {status}: {raw!r}")
        series = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
        series.sort(key=lambda s: sorted(s["metric"].items()))
        return series

    def samples(self, match: str = '{__name__!=""}') -> list[Sample]:
        """Flattened export: ``(metric_name, labels_without_name, ts_ms, value)``, sorted."""
        out: list[Sample] = []
        for s in self.export(match):
            labels = {k: v for k, v in s["metric"].items() if k != "__name__"}
            name = s["metric"].get("__name__", "")
            for ts, value in zip(s["timestamps"], s["values"], strict=True):
                out.append((name, labels, int(ts), float(value)))
        out.sort(key=lambda x: (x[0], sorted(x[1].items()), x[2]))
        return out
