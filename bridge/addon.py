"""The bridge as a Home Assistant add-on: its options become the bridge's config.

The add-on's container runs ``python -m bridge.addon``. The Supervisor writes
the options the user set in the add-on's Configuration tab to
:data:`OPTIONS_FILE`; they name the stations, InfluxDB and, optionally, an MQTT
broker. With no broker named, the broker is the one the Supervisor's ``mqtt``
service offers (the Mosquitto add-on), with the credentials it hands out. The
database lives in :data:`DATA_DIR`, which the Supervisor keeps across restarts,
updates and backups.

Options a user gets wrong are reported with the option's name, as the
Configuration tab shows it; no password or token is ever written to the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.cli import event_loop_factory
from bridge.errors import ConfigError
from bridge.logs import configure_logging
from bridge.runtime.assembly import serve
from wxstation.config import DEFAULT_HTTP_PORT, DEFAULT_PORT, Config, parse_config

__all__ = [
    "DATA_DIR",
    "OPTIONS_FILE",
    "OPTION_NAMES",
    "AddonError",
    "Broker",
    "bridge_config",
    "main",
    "mqtt_service",
]

log = logging.getLogger(__name__)

#: What the Supervisor mounts into every add-on: options.json, and room that
#: outlives the container (and that the add-on's backup holds).
DATA_DIR = Path("/data")
OPTIONS_FILE = DATA_DIR / "options.json"
DATABASE_NAME = "wxstation.db"
#: The Supervisor's API as add-ons reach it; SUPERVISOR_API overrides it, as
#: the add-on tooling (bashio) allows.
SUPERVISOR_API = "http://supervisor"
#: Seconds a question to the Supervisor may take: it answers from memory, so
#: longer means it is not there.
SUPERVISOR_TIMEOUT = 10.0
#: The status page listens on every interface of the host network: Home
#: Assistant's ingress proxy reaches it from the Supervisor's network.
HTTP_HOST = "0.0.0.0"

#: Top-level options and the bridge's key each one sets, for error messages.
_SIMPLE_OPTIONS = {
    "listen_port": ("listen", "port"),
    "http_port": ("http", "port"),
    "http_token": ("http", "token"),
    "max_size_mb": ("storage", "max_size_mb"),
    "retention_days": ("storage", "retention_days"),
    "unknown_stations": ("unknown_stations", "action"),
}
_SECTIONS = ("mqtt", "influxdb")
#: The bridge's keys whose values are secrets: a problem with one never shows the value.
_SECRET_KEYS = ("http -> token", "mqtt -> password", "influxdb -> token", "influxdb -> password")
#: How the bridge's config errors show the value they found.
_SHOWN_VALUE = " (got "
#: Every option the add-on takes: config.yaml's schema has exactly these.
OPTION_NAMES = frozenset({"stations", "log_level", *_SIMPLE_OPTIONS, *_SECTIONS})


class AddonError(ConfigError):
    """The add-on's options are not a config the bridge can run with; the message
    names each option that is wrong, or the file that could not be read."""


@dataclass(frozen=True, slots=True)
class Broker:
    """An MQTT broker the Supervisor's ``mqtt`` service offers."""

    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool

    def __repr__(self) -> str:  # never the password
        return f"Broker({self.host}:{self.port}, user={self.username!r}, tls={self.tls})"


def read_options(path: Path) -> dict[str, Any]:
    """The options the Supervisor wrote, as a mapping."""
    try:
        options = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise AddonError(
            f"{path} does not exist: the Supervisor writes it; is this an add-on?"
        ) from err
    except (OSError, ValueError) as err:
        raise AddonError(f"cannot read the add-on's options ({path}): {err}") from err
    if not isinstance(options, dict):
        raise AddonError(f"{path}: the options are a mapping, not {type(options).__name__}")
    return options


def _given(value: Any) -> bool:
    """Whether an option is set: the Configuration tab leaves emptied fields as ""."""
    return value is not None and value != ""


def _section(options: Mapping[str, Any], name: str, problems: list[str]) -> dict[str, Any]:
    section = options.get(name) or {}
    if not isinstance(section, Mapping):
        problems.append(f"{name}: expected a group of settings")
        return {}
    return {key: value for key, value in section.items() if _given(value)}


def _stations(
    options: Mapping[str, Any], problems: list[str]
) -> tuple[dict[int, dict[str, Any]], dict[int, int]]:
    """The bridge's ``stations`` from the option's list, and each id's place in the list."""
    listed = options.get("stations") or []
    if not isinstance(listed, list):
        problems.append("stations: expected a list of stations")
        return {}, {}
    stations: dict[int, dict[str, Any]] = {}
    places: dict[int, int] = {}
    for index, entry in enumerate(listed):
        if not isinstance(entry, Mapping):
            problems.append(f"stations -> {index}: expected a station's settings")
            continue
        device_id = entry.get("id")
        if isinstance(device_id, bool) or not isinstance(device_id, int):
            problems.append(
                f"stations -> {index} -> id: expected the station's device id 1..255 "
                f"(got {device_id!r})"
            )
        elif device_id in stations:
            problems.append(
                f"stations -> {index} -> id: device id {device_id} is listed twice "
                f"(also stations -> {places[device_id]})"
            )
        else:
            stations[device_id] = {k: v for k, v in entry.items() if k != "id" and _given(v)}
            places[device_id] = index
    return stations, places


def _mqtt(options: Mapping[str, Any], broker: Broker | None, problems: list[str]) -> dict[str, Any]:
    """The bridge's ``mqtt``: the options' broker, else the Supervisor's with the
    options' other settings (topics, QoS), else none."""
    mqtt = _section(options, "mqtt", problems)
    if "host" in mqtt or not (mqtt or broker):
        return mqtt
    if broker is None:
        problems.append(
            "mqtt -> host: set it, or clear the other mqtt options, or start the Mosquitto "
            "add-on (the Supervisor offers no MQTT broker)"
        )
        # A stand-in, so that the other settings are checked too.
        return {**mqtt, "host": "unset"}
    return {
        **mqtt,
        "host": broker.host,
        "port": broker.port,
        "tls": broker.tls,
        **({"username": broker.username} if broker.username else {}),
        **({"password": broker.password} if broker.password else {}),
    }


def bridge_config(
    options: Mapping[str, Any], broker: Broker | None, data_dir: Path = DATA_DIR
) -> Config:
    """The bridge's config from the add-on's options and the Supervisor's broker.

    Raises :class:`AddonError` naming every option that is wrong.
    """
    problems = [
        f"{key}: unknown option (check its spelling)" for key in sorted(set(options) - OPTION_NAMES)
    ]
    stations, places = _stations(options, problems)
    raw: dict[str, Any] = {
        "listen": {"port": DEFAULT_PORT},
        "storage": {"path": str(data_dir / DATABASE_NAME)},
        "stations": stations,
        "http": {"host": HTTP_HOST, "port": DEFAULT_HTTP_PORT},
    }
    for option, (section, key) in _SIMPLE_OPTIONS.items():
        if _given(options.get(option)):
            raw.setdefault(section, {})[key] = options[option]
    if _given(options.get("log_level")):
        raw["log_level"] = options["log_level"]
    influx = _section(options, "influxdb", problems)
    if influx:
        raw["influxdb"] = influx
    mqtt = _mqtt(options, broker, problems)
    if mqtt:
        raw["mqtt"] = mqtt
    config = None
    try:
        config = parse_config(raw)
    except ConfigError as err:
        problems += [_option_name(p, places) for p in err.problems or (str(err),)]
    if config is None or problems:
        raise AddonError(
            "invalid options:\n" + "\n".join(f"  {p}" for p in problems),
            problems=tuple(problems),
        )
    return config


def _option_name(problem: str, places: Mapping[int, int]) -> str:
    """A problem the bridge's config names by its key, named by the add-on's option
    (and without the value when it is a secret)."""
    if problem.startswith(_SECRET_KEYS):
        problem = problem.partition(_SHOWN_VALUE)[0]
    for option, (section, key) in _SIMPLE_OPTIONS.items():
        prefix = f"{section} -> {key}"
        if problem.startswith(prefix):
            return option + problem[len(prefix) :]
    head, sep, rest = problem.partition(" -> ")
    if head == "stations" and sep:
        device, colon, tail = rest.partition(":")
        device_id, arrow, key = device.partition(" -> ")
        if device_id.strip().isdigit() and int(device_id) in places:
            where = f"stations -> {places[int(device_id)]} (id {device_id})"
            return where + (f" -> {key}" if arrow else "") + colon + tail
    return problem


def mqtt_service(api: str, token: str | None) -> Broker | None:
    """The broker the Supervisor's ``mqtt`` service offers, or None when none is
    (no MQTT add-on, or no Supervisor to ask)."""
    if not token:
        log.warning("MQTT: no SUPERVISOR_TOKEN to ask the Supervisor for a broker; MQTT is off")
        return None
    if not api.startswith(("http://", "https://")):
        log.warning("MQTT: SUPERVISOR_API is not an http(s) URL (%r); MQTT is off", api)
        return None
    request = urllib.request.Request(  # noqa: S310  (the scheme is checked above)
        f"{api.rstrip('/')}/services/mqtt", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=SUPERVISOR_TIMEOUT) as response:  # noqa: S310  (checked above)
            answer = json.load(response)
    except urllib.error.HTTPError as err:
        # The Supervisor answers 400 when no add-on provides the service.
        log.info("MQTT: the Supervisor offers no broker (HTTP %d); MQTT is off", err.code)
        return None
    except (OSError, ValueError) as err:
        log.warning("MQTT: cannot ask the Supervisor (%s) for a broker: %s; MQTT is off", api, err)
        return None
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict) or not data.get("host"):
        log.warning("MQTT: the Supervisor's answer names no broker; MQTT is off")
        return None
    return Broker(
        host=str(data["host"]),
        port=int(data.get("port") or 1883),
        username=data.get("username") or None,
        password=data.get("password") or None,
        tls=bool(data.get("ssl")),
    )


def load(options_file: Path, env: Mapping[str, str]) -> Config:
    """The config the add-on runs with: options, then the Supervisor's broker if needed."""
    options = read_options(options_file)
    named = _section(options, "mqtt", []).get("host")
    broker = None
    if not named:
        broker = mqtt_service(
            env.get("SUPERVISOR_API", SUPERVISOR_API), env.get("SUPERVISOR_TOKEN")
        )
        if broker is not None:
            log.info(
                "MQTT: the Supervisor's broker %s:%d (user %s)",
                broker.host,
                broker.port,
                broker.username or "none",
            )
    return bridge_config(options, broker, options_file.parent)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bridge with the add-on's options until the Supervisor stops it."""
    del argv  # the add-on takes no arguments: everything is in its options
    configure_logging("INFO")
    try:
        config = load(OPTIONS_FILE, os.environ)
    except AddonError as err:
        log.error("%s", err)
        log.error("fix this in the add-on's Configuration tab and start it again")
        return 2
    logging.getLogger().setLevel(config.log_level)
    with asyncio.Runner(loop_factory=event_loop_factory("auto")) as runner:
        return runner.run(serve(config))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
