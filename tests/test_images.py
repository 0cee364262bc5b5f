"""The container images, built from this checkout and run with podman as their users run them.

``scripts/image addon standalone`` builds both once for this module, on the
locally made base; they are removed at the end, like every container and
volume made here (the base image stays: it is a cache).

The add-on runs as Home Assistant's Supervisor runs it: on the host's network,
with its folder mounted at /data holding options.json, ``SUPERVISOR_TOKEN`` in
its environment and the name ``supervisor`` resolving to a stand-in of the
Supervisor's API, which offers a password-protected Mosquitto as the
Mosquitto add-on does. Its ports are set through its options, free ones, as the
host's network is shared. The standalone image runs as its Dockerfile's
comment shows, with the database on a named volume.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from selenium.webdriver.common.by import By

from bridge.sim import SimStation, send_packet
from tests.support.bridge import write_config
from tests.support.browser import chromium
from tests.support.containers import (
    ADDON_IMAGE,
    STANDALONE_IMAGE,
    Container,
    built_images,
    podman,
    require_podman,
    running_container,
    volume,
)
from tests.support.ledger import ledger
from tests.support.mqtt import Watcher
from tests.support.servers import HOST, InfluxDB1, Mosquitto, free_port, http_request
from tests.support.supervisor import INGRESS_PREFIX, IngressProxy, SupervisorApi
from tests.support.waiting import wait_until
from wxstation.parsers.reference import ReferenceParser

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parent.parent
ADDON_CONFIG = yaml.safe_load((ROOT / "addon" / "config.yaml").read_text())
#: Seconds the Supervisor gives the add-on after SIGTERM (its config's ``timeout``).
STOP_BUDGET = int(ADDON_CONFIG["timeout"])
TOKEN = "supervisor-token-of-the-test-5d1c"  # noqa: S105  (the stand-in's, for this test)
MQTT_CREDENTIALS = ("addons", "mosquitto-add-on-password-9f3e")
#: Seconds a started container may take to answer on its status page.
START_WAIT = 60
#: Seconds for a packet to reach a sink, and for the page to show it.
DELIVERY_WAIT = 60
#: Packets sent just before a stop: the bridge is busy with them when SIGTERM comes.
PACKETS_BEFORE_STOP = 30


@pytest.fixture(scope="module")
def images() -> Iterator[None]:
    require_podman()
    with built_images("addon", "standalone"):
        yield


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    """The Mosquitto add-on's stand-in: only its user gets in."""
    with Mosquitto(credentials=MQTT_CREDENTIALS) as server:
        yield server


@pytest.fixture
def supervisor(broker: Mosquitto) -> Iterator[SupervisorApi]:
    with SupervisorApi(TOKEN, broker) as api:
        yield api


@dataclass(frozen=True)
class Addon:
    """Where a running add-on listens, and its folder."""

    container: Container
    data: Path
    listen: int
    http: int

    def url(self, path: str = "/") -> str:
        return f"http://{HOST}:{self.http}{path}"

    @property
    def database(self) -> Path:
        return self.data / "wxstation.db"


def write_options(data: Path, **options: Any) -> tuple[int, int]:
    """options.json as the Supervisor writes it, with free ports; returns them."""
    listen, http = free_port(), free_port()
    data.mkdir(parents=True, exist_ok=True)
    full = {
        "stations": [{"id": 1, "name": "Garden"}],
        "unknown_stations": "decode",
        "mqtt": {},
        "influxdb": {},
        "log_level": "info",
        "listen_port": listen,
        "http_port": http,
        **options,
    }
    (data / "options.json").write_text(json.dumps(full))
    return listen, http


def supervisor_run_options(data: Path, supervisor: SupervisorApi) -> list[str]:
    """What the Supervisor gives an add-on with host_network and the mqtt service."""
    return [
        "--network=host",
        f"--volume={data}:/data",
        f"--env=SUPERVISOR_TOKEN={TOKEN}",
        f"--env=SUPERVISOR_API=http://supervisor:{supervisor.port}",
        f"--add-host=supervisor:{HOST}",
        f"--stop-timeout={STOP_BUDGET}",
    ]


def answers(url: str, headers: dict[str, str] | None = None) -> bool:
    """Whether ``url`` answers 200 (False while nothing listens)."""
    try:
        return http_request(url, headers=headers)[0] == 200
    except OSError:
        return False


def page(url: str, headers: dict[str, str] | None = None) -> str:
    code, body = http_request(url, headers=headers)
    assert code == 200, (url, code, body[:400])
    return body.decode()


@contextmanager
def running_addon(data: Path, supervisor: SupervisorApi) -> Iterator[Addon]:
    """The add-on started on ``data`` (whose options.json names its ports), once it answers."""
    options = json.loads((data / "options.json").read_text())
    with running_container(
        "addon", ADDON_IMAGE, *supervisor_run_options(data, supervisor)
    ) as container:
        addon = Addon(container, data, options["listen_port"], options["http_port"])
        wait_until(lambda: answers(addon.url("/healthz")), "the add-on's /healthz", START_WAIT)
        yield addon


def packets(count: int, device_id: int = 1) -> list[bytes]:
    """One station's next ``count`` packets, from a day ago on."""
    station = SimStation(device_id, ReferenceParser(), time.time() - 86400, seed=7)
    return [station.wake().packet for _ in range(count)]


def decoded(database: Path) -> int:
    """Packets the add-on's database holds decoded (0 before it exists)."""
    if not database.exists():
        return 0
    try:
        return ledger(database).done
    except sqlite3.OperationalError:  # the tables are being created
        return 0


# --- the add-on -----------------------------------------------------------------


def test_addon_packet_reaches_the_supervisors_mqtt_broker(
    images: None, broker: Mosquitto, supervisor: SupervisorApi, tmp_path: Path
) -> None:
    """Test that with no broker in its options, the add-on asks the Supervisor for
    the mqtt service with its token, logs in to that broker with the credentials it
    got, and a packet sent to its port comes out as the station's discovery and
    state; neither the password nor the token is in its log."""
    watcher = Watcher(broker, "homeassistant/#", "wxstation/#")
    try:
        data = tmp_path / "data"
        write_options(data)
        with running_addon(data, supervisor) as addon:
            send_packet(HOST, addon.listen, packets(1)[0])
            wait_until(
                lambda: watcher.last("wxstation/1/state") is not None, "state", DELIVERY_WAIT
            )
            log = addon.container.logs()
    finally:
        watcher.close()
    discovery = [
        m for m in watcher.messages if m.topic.startswith("homeassistant/device/") and m.payload
    ]
    assert discovery, [m.topic for m in watcher.messages]
    assert any(m.json()["device"]["name"] == "Garden" for m in discovery)
    state = watcher.last("wxstation/1/state")
    assert state is not None
    assert "temperature" in state.json()
    assert ("/services/mqtt", True) in supervisor.requests
    assert not [r for r in supervisor.requests if not r[1]]
    assert MQTT_CREDENTIALS[1] not in log
    assert TOKEN not in log
    assert f"{broker.host}:{broker.port}" in log, log


class _Links(HTMLParser):
    """Every URL an HTML page points to (href, src, action)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.body: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v or "" for k, v in attrs if k in ("href", "src", "action")]
        if tag == "body":
            self.body = dict(attrs)


def test_addon_ingress_page_stays_under_the_ingress_path(
    images: None, supervisor: SupervisorApi, tmp_path: Path
) -> None:
    """Test that the status page, asked for with an X-Ingress-Path, points every
    link and its script's requests under that path, and that each link, asked for
    as the ingress proxy forwards it, answers."""
    data = tmp_path / "data"
    write_options(data)
    with running_addon(data, supervisor) as addon:
        send_packet(HOST, addon.listen, packets(1)[0])
        wait_until(lambda: decoded(addon.database) == 1, "the packet decoded", DELIVERY_WAIT)
        html = page(addon.url("/"), headers={"X-Ingress-Path": INGRESS_PREFIX})
        links = _Links()
        links.feed(html)
        assert links.urls, html
        assert all(url.startswith(INGRESS_PREFIX + "/") for url in links.urls), links.urls
        assert links.body.get("data-base") == INGRESS_PREFIX
        # The script builds its one request on the body's base; no path of its own.
        script = html.rpartition("<script>")[2]
        assert not re.search(r"""fetch\(\s*["'`]/""", script), script
        assert 'document.body.dataset.base + "/api/reprocess"' in script
        for url in links.urls:
            assert answers(addon.url(url[len(INGRESS_PREFIX) :])), url
        # Without the header, the page is at the root; a header that is no path is ignored.
        plain = _Links()
        plain.feed(page(addon.url("/"), headers={"X-Ingress-Path": '/x"><script>'}))
        assert plain.urls
        assert all(url.startswith(("/api/", "/metrics", "/healthz")) for url in plain.urls), (
            plain.urls
        )


def test_addon_ingress_page_in_chromium(
    images: None, supervisor: SupervisorApi, tmp_path: Path
) -> None:
    """Test that in Chromium, through a stand-in of Home Assistant's ingress proxy,
    the page shows the station, refreshes itself, and its links and its action
    (decoding kept-aside packets again) all go to paths under the ingress path."""
    data = tmp_path / "data"
    write_options(data, unknown_stations="keep")
    driver = chromium(tmp_path / "chromium")
    try:
        with running_addon(data, supervisor) as addon, IngressProxy(addon.http) as proxy:
            send_packet(HOST, addon.listen, packets(1)[0])
            send_packet(HOST, addon.listen, packets(1, device_id=9)[0])
            wait_until(lambda: decoded(addon.database) == 1, "the packet decoded", DELIVERY_WAIT)
            driver.get(proxy.url)
            wait_until(
                lambda: bool(driver.find_elements(By.CSS_SELECTOR, 'tr.station[data-device="1"]')),
                "the station on the page",
                DELIVERY_WAIT,
            )
            hrefs = [a.get_attribute("href") or "" for a in driver.find_elements(By.TAG_NAME, "a")]
            assert hrefs
            assert all(h.startswith(proxy.url) for h in hrefs), hrefs
            page_loads = proxy.paths.count(INGRESS_PREFIX + "/")
            wait_until(
                lambda: proxy.paths.count(INGRESS_PREFIX + "/") > page_loads,
                "the page to fetch itself again",
                DELIVERY_WAIT,
            )
            wait_until(
                lambda: bool(
                    driver.find_elements(By.CSS_SELECTOR, "button[data-action=reprocess]")
                ),
                "the kept-aside packet's button",
                DELIVERY_WAIT,
            )
            driver.find_element(By.CSS_SELECTOR, "button[data-action=reprocess]").click()
            wait_until(
                lambda: "queued" in driver.find_element(By.ID, "action-result").text,
                "the action's answer",
                DELIVERY_WAIT,
            )
            assert INGRESS_PREFIX + "/api/reprocess" in proxy.paths
            for href in hrefs:
                driver.get(href)
            # The browser asks the site's root for its icon by itself; the page does not.
            assert [p for p in proxy.strays if p != "/favicon.ico"] == [], proxy.strays
    finally:
        driver.quit()


def test_addon_options_with_mistakes_are_named(
    images: None, supervisor: SupervisorApi, tmp_path: Path
) -> None:
    """Test that options with mistakes stop the add-on (exit 2) with an error that
    names each option as the Configuration tab shows it, and shows no secret."""
    data = tmp_path / "data"
    write_options(
        data,
        stations=[{"id": 1, "parser": "no-such-parser"}],
        mqtt={"host": "core-mosquitto", "port": "eighteen", "password": "password-not-in-log-1"},
        http_token="short-secret",  # noqa: S106  (a mistake the error must not show)
    )
    result = podman(
        "run", "--rm", *supervisor_run_options(data, supervisor), ADDON_IMAGE, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "stations -> 0 (id 1) -> parser: no parser named 'no-such-parser'" in output
    assert "mqtt -> port: expected int" in output
    assert "http_token: at least 16 characters" in output
    assert "password-not-in-log-1" not in output
    assert "short-secret" not in output
    assert not (data / "wxstation.db").exists()


def test_addon_restart_keeps_the_database(
    images: None, supervisor: SupervisorApi, tmp_path: Path
) -> None:
    """Test that the add-on's database is in /data: a new container on the same
    folder, as the Supervisor makes at a restart or an update, has the packets the
    old one took, and goes on from there."""
    data = tmp_path / "data"
    write_options(data)
    first, second = packets(2)
    with running_addon(data, supervisor) as addon:
        send_packet(HOST, addon.listen, first)
        wait_until(lambda: decoded(addon.database) == 1, "the first packet decoded", DELIVERY_WAIT)
    assert decoded(data / "wxstation.db") == 1
    with running_addon(data, supervisor) as addon:
        stations = json.loads(page(addon.url("/api/stations")))["stations"]
        assert [s["device_id"] for s in stations if s["samples"]] == [1], stations
        send_packet(HOST, addon.listen, second)
        wait_until(lambda: decoded(addon.database) == 2, "the second packet decoded", DELIVERY_WAIT)
    counts = ledger(data / "wxstation.db")
    assert (counts.packets, counts.done, counts.kept) == (2, 2, 0)


def test_addon_stops_within_its_budget_and_loses_nothing(
    images: None, broker: Mosquitto, supervisor: SupervisorApi, tmp_path: Path
) -> None:
    """Test that `podman stop` with the add-on's stop timeout, right after a burst
    of packets, ends it by itself (exit 0, not a kill), with every packet decoded
    in its database, and that every station's batch reaches the broker, at the
    latest after the next start."""
    watcher = Watcher(broker, "wxstation/+/batch")
    data = tmp_path / "data"
    write_options(data)
    # One packet each of many stations: one station's packets sent at once would
    # all be stamped with the same times.
    stations = range(1, PACKETS_BEFORE_STOP + 1)
    try:
        with running_addon(data, supervisor) as addon:
            for device_id in stations:
                send_packet(HOST, addon.listen, packets(1, device_id)[0])
            addon.container.stop(STOP_BUDGET)
            assert addon.container.state("ExitCode") == "0", addon.container.logs()
            counts = ledger(addon.database)
            assert (counts.packets, counts.done, counts.new) == (PACKETS_BEFORE_STOP,) * 2 + (0,)
            addon.container.start()

            def delivered() -> set[int]:
                return {m.json()["device_id"] for m in watcher.messages}

            wait_until(lambda: delivered() == set(stations), "every batch", DELIVERY_WAIT)
    finally:
        watcher.close()


# --- the standalone image ---------------------------------------------------------


def test_standalone_image_runs_unprivileged_healthy_and_delivers(
    images: None, tmp_path: Path
) -> None:
    """Test that the standalone image runs the bridge as a user that is not root,
    keeps its database on the volume at /data, reports healthy through its
    HEALTHCHECK, and delivers a packet to InfluxDB and Mosquitto on the host."""
    listen, http = free_port(), free_port()
    with (
        InfluxDB1() as influx,
        Mosquitto() as broker,
        volume("data") as data,
    ):
        influx.create_database("wx")
        config = write_config(
            tmp_path / "config.yaml",
            {
                "listen": {"host": HOST, "port": listen},
                "http": {"host": HOST, "port": http},
                "storage": {"path": "/data/wxstation.db"},
                "stations": {1: {"name": "Garden"}},
                "influxdb": {"url": influx.url, "api": 1, "database": "wx", "flush_interval": 0.2},
                "mqtt": {"host": broker.host, "port": broker.port},
            },
        )
        config.chmod(0o644)
        watcher = Watcher(broker, "wxstation/#")
        try:
            with running_container(
                "standalone",
                STANDALONE_IMAGE,
                "--network=host",
                f"--volume={data}:/data",
                f"--volume={config}:/config/config.yaml:ro",
                f"--stop-timeout={STOP_BUDGET}",
            ) as container:
                wait_until(
                    lambda: (
                        podman("healthcheck", "run", container.name, check=False).returncode == 0
                    ),
                    "the HEALTHCHECK to pass",
                    START_WAIT,
                )
                assert container.state("Health.Status") == "healthy"
                assert podman("exec", container.name, "id", "-u").stdout.strip() != "0"
                send_packet(HOST, listen, packets(1)[0])
                wait_until(
                    lambda: watcher.last("wxstation/1/state") is not None, "MQTT", DELIVERY_WAIT
                )
                wait_until(
                    lambda: bool(influx.query("SELECT count(*) FROM weather", db="wx")),
                    "InfluxDB",
                    DELIVERY_WAIT,
                )
                container.stop(STOP_BUDGET)
                assert container.state("ExitCode") == "0"
        finally:
            watcher.close()
        mountpoint = Path(
            podman("volume", "inspect", "--format", "{{.Mountpoint}}", data).stdout.strip()
        )
        database = mountpoint / "wxstation.db"
        assert database.stat().st_uid != 0
        assert ledger(database).done == 1
