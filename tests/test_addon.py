"""The Home Assistant add-on without its image: what the add-on store reads
(repository.yaml, addon/), how its options become the bridge's config, the
Supervisor's mqtt service, and the status page under an ingress path.

tests/test_images.py runs the add-on's real image.
"""

from __future__ import annotations

import json
import logging
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from bridge.addon import (
    OPTION_NAMES,
    AddonError,
    Broker,
    bridge_config,
    load,
    mqtt_service,
    read_options,
)
from bridge.runtime.assembly import SHUTDOWN_BUDGET
from tests.support.bridge import bridge_config as config_in
from tests.support.bridge import running_bridge
from tests.support.servers import HOST, Mosquitto, free_port
from tests.support.supervisor import INGRESS_PREFIX, SupervisorApi
from tests.support.web import http_client, web_url
from wxstation.config import DEFAULT_HTTP_PORT, DEFAULT_PORT

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "addon"
TOKEN = "the-add-ons-supervisor-token"  # noqa: S105  (the stand-in's, for these tests)
CREDENTIALS = ("addons", "broker-password-from-supervisor")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def addon_config() -> dict[str, Any]:
    config: dict[str, Any] = _yaml(ADDON / "config.yaml")
    return config


# --- what the add-on store reads ----------------------------------------------------


def test_repository_names_itself() -> None:
    """repository.yaml at the top names the repository and where it lives."""
    repository = _yaml(ROOT / "repository.yaml")
    assert repository["name"]
    assert repository["url"].startswith("https://")
    assert repository["maintainer"]


def test_addon_config_runs_the_bridge_as_its_docs_say(addon_config: dict[str, Any]) -> None:
    """The add-on starts before Home Assistant, takes the stations' port, shows
    the status page through ingress, wants the mqtt service, is stopped for
    backups, is watched through /healthz and gets more time to stop than the
    bridge needs."""
    assert addon_config["slug"]
    assert addon_config["name"]
    assert addon_config["description"]
    assert {"amd64", "aarch64"} <= set(addon_config["arch"])
    assert addon_config["startup"] == "services"
    assert addon_config["ports"] == {f"{DEFAULT_PORT}/tcp": DEFAULT_PORT}
    assert addon_config["ingress"] is True
    assert addon_config["ingress_port"] == DEFAULT_HTTP_PORT
    assert "mqtt:want" in addon_config["services"]
    assert addon_config["backup"] == "cold"
    # The database's folder is the add-on's own /data (bridge_config puts it there).
    assert addon_config["map"] == [{"type": "data", "read_only": False}]
    assert addon_config["watchdog"] == f"http://[HOST]:[PORT:{DEFAULT_HTTP_PORT}]/livez"
    assert addon_config["timeout"] > SHUTDOWN_BUDGET


def test_addon_schema_is_the_options_the_add_on_takes(addon_config: dict[str, Any]) -> None:
    """Every option in the schema is one bridge/addon.py maps, and back; the
    defaults make a valid config."""
    assert set(addon_config["schema"]) == OPTION_NAMES
    assert set(addon_config["options"]) <= OPTION_NAMES
    config = bridge_config(addon_config["options"], None, Path("/data"))
    assert config.listen.port == DEFAULT_PORT
    assert config.http.port == DEFAULT_HTTP_PORT
    assert config.storage.path == Path("/data/wxstation.db")


def test_addon_translations_name_every_option(addon_config: dict[str, Any]) -> None:
    """translations/en.yaml gives every option a name and a description, and every port one."""
    english = _yaml(ADDON / "translations" / "en.yaml")
    assert set(english["configuration"]) == set(addon_config["schema"])
    for option, text in english["configuration"].items():
        assert text["name"], option
        assert text["description"], option
    assert set(english["network"]) == set(addon_config["ports"])


def test_addon_docs_changelog_and_pictures(addon_config: dict[str, Any]) -> None:
    """DOCS.md and a CHANGELOG.md entry for this version; the store's icon (square)
    and logo (wider than high)."""
    assert "## Configuration" in (ADDON / "DOCS.md").read_text()
    assert f"## {addon_config['version']}" in (ADDON / "CHANGELOG.md").read_text()
    with Image.open(ADDON / "icon.png") as icon:
        assert icon.format == "PNG"
        assert icon.size == (128, 128)
    with Image.open(ADDON / "logo.png") as logo:
        assert logo.format == "PNG"
        assert logo.size[0] > logo.size[1]


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "addon/Dockerfile"])
def test_dockerfiles_take_their_base_as_build_from(dockerfile: str) -> None:
    """Both images are built on the base given as ARG BUILD_FROM (official for a
    release, made locally for the tests)."""
    text = (ROOT / dockerfile).read_text()
    assert re.search(r"^ARG BUILD_FROM\b", text, re.MULTILINE)
    assert re.search(r"^FROM \$\{BUILD_FROM\}$", text, re.MULTILINE)


# --- options -> config --------------------------------------------------------------


def test_options_become_the_bridges_config() -> None:
    """Stations by id, InfluxDB, ports, cap and log level land where the bridge reads them."""
    config = bridge_config(
        {
            "stations": [{"id": 3, "name": "Roof", "address": "192.168.1.9", "send_delay": 4}],
            "unknown_stations": "keep",
            "influxdb": {"url": "http://influx:8086", "token": "t" * 20, "org": "", "bucket": "wx"},
            "mqtt": {},
            "listen_port": 5011,
            "http_port": 5012,
            "max_size_mb": 100,
            "log_level": "debug",
        },
        None,
        Path("/data"),
    )
    station = config.stations[3]
    assert (station.name, str(station.address), station.send_delay) == ("Roof", "192.168.1.9", 4)
    assert config.unknown_stations.action == "keep"
    assert config.influxdb is not None
    assert (config.influxdb.url, config.influxdb.bucket) == ("http://influx:8086", "wx")
    assert config.influxdb.org == "wxstation", "an emptied option is the bridge's default"
    assert config.mqtt is None
    assert (config.listen.port, config.http.port, config.http.host) == (5011, 5012, "0.0.0.0")
    assert config.storage.max_size_mb == 100
    assert config.log_level == "DEBUG"


def test_the_supervisors_broker_is_used_when_the_options_name_none() -> None:
    """Without mqtt.host, the broker and credentials are the Supervisor's, with the
    options' topics; with one, the options' broker alone."""
    broker = Broker("core-mosquitto", 1883, "addons", "pw-from-supervisor", tls=False)
    config = bridge_config({"mqtt": {"base_topic": "weather"}}, broker)
    assert config.mqtt is not None
    assert (config.mqtt.host, config.mqtt.username, config.mqtt.password) == (
        "core-mosquitto",
        "addons",
        "pw-from-supervisor",
    )
    assert config.mqtt.base_topic == "weather"
    own = bridge_config({"mqtt": {"host": "mqtt.lan", "username": "me"}}, broker)
    assert own.mqtt is not None
    assert (own.mqtt.host, own.mqtt.username, own.mqtt.password) == ("mqtt.lan", "me", None)
    assert "pw-from-supervisor" not in repr(broker)


def test_options_with_mistakes_are_named_as_options() -> None:
    """Every mistake is listed at once, by the option's name as the Configuration
    tab shows it, and a secret's value is never shown."""
    with pytest.raises(AddonError) as caught:
        bridge_config(
            {
                "stations": [{"id": 7, "parser": "refrence"}, {"id": 7}, {"name": "no id"}],
                "mqtt": {"port": 1883},
                "http_token": "short-secret",
                "listen_port": 70000,
                "colour": "blue",
            },
            None,
        )
    message = str(caught.value)
    assert "colour: unknown option" in message
    assert "stations -> 0 (id 7) -> parser: no parser named 'refrence'" in message
    assert "stations -> 1 -> id: device id 7 is listed twice (also stations -> 0)" in message
    assert "stations -> 2 -> id: expected the station's device id" in message
    assert "mqtt -> host: set it" in message
    assert "http_token: at least 16 characters" in message
    assert "listen_port: value must be at most 65535" in message
    assert "short-secret" not in message


def test_read_options_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(AddonError, match=re.escape(str(tmp_path / "options.json"))):
        read_options(tmp_path / "options.json")
    (tmp_path / "options.json").write_text("[1]")
    with pytest.raises(AddonError, match="a mapping"):
        read_options(tmp_path / "options.json")


# --- the Supervisor's mqtt service ---------------------------------------------------


def test_mqtt_service_with_the_token_gives_the_broker() -> None:
    """The Supervisor's answer to the add-on's token is the broker and its user."""
    with Mosquitto(credentials=CREDENTIALS) as broker, SupervisorApi(TOKEN, broker) as api:
        found = mqtt_service(f"http://{HOST}:{api.port}", TOKEN)
    assert found == Broker(HOST, broker.port, *CREDENTIALS, tls=False)
    assert api.requests == [("/services/mqtt", True)]


def test_mqtt_service_without_a_broker_leaves_mqtt_off(caplog: pytest.LogCaptureFixture) -> None:
    """A wrong token, no Supervisor or no token: no broker, and the log says why
    without showing the token."""
    caplog.set_level(logging.INFO)
    with Mosquitto(credentials=CREDENTIALS) as broker, SupervisorApi(TOKEN, broker) as api:
        assert mqtt_service(f"http://{HOST}:{api.port}", "not-the-token") is None
    assert mqtt_service(f"http://{HOST}:{free_port()}", TOKEN) is None
    assert mqtt_service("http://supervisor", None) is None
    assert "HTTP 401" in caplog.text
    assert "cannot ask the Supervisor" in caplog.text
    assert "no SUPERVISOR_TOKEN" in caplog.text
    assert TOKEN not in caplog.text


def test_load_reads_options_and_asks_the_supervisor(tmp_path: Path) -> None:
    """options.json with no broker, and the Supervisor's broker: one config, database beside it."""
    (tmp_path / "options.json").write_text(json.dumps({"stations": [{"id": 1}]}))
    with Mosquitto(credentials=CREDENTIALS) as broker, SupervisorApi(TOKEN, broker) as api:
        env = {"SUPERVISOR_TOKEN": TOKEN, "SUPERVISOR_API": f"http://{HOST}:{api.port}"}
        config = load(tmp_path / "options.json", env)
    assert config.mqtt is not None
    assert (config.mqtt.port, config.mqtt.username) == (broker.port, CREDENTIALS[0])
    assert config.storage.path == tmp_path / "wxstation.db"


# --- the status page under an ingress path ------------------------------------------


class _Urls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v or "" for k, v in attrs if k in ("href", "src", "action")]


@pytest.mark.parametrize(
    ("header", "base"),
    [
        (INGRESS_PREFIX, INGRESS_PREFIX),
        (INGRESS_PREFIX + "/", INGRESS_PREFIX),
        (None, ""),
        ("relative/path", ""),
        ('/x"><script>alert(1)</script>', ""),
        ("//evil.example", ""),
    ],
)
async def test_page_links_start_with_the_ingress_path(
    tmp_path: Path, header: str | None, base: str
) -> None:
    """Test that the page's links and its action's URL start with X-Ingress-Path
    when it is a path, and are at the root without one or with anything else."""
    async with running_bridge(config_in(tmp_path)) as bridge, http_client() as session:
        headers = {"X-Ingress-Path": header} if header is not None else {}
        async with session.get(web_url(bridge), headers=headers) as response:
            assert response.status == 200
            html = await response.text()
    parser = _Urls()
    parser.feed(html)
    assert parser.urls
    assert all(url.startswith(base + "/") and not url.startswith("//") for url in parser.urls)
    assert f'data-base="{base}"' in html
    assert "<script>alert" not in html.partition("<script>")[0]
