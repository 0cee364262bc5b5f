"""The bridge's YAML config: loading, ``!secret`` and ``!env``, validation, defaults.

Every option, its default and its meaning is in ``config.example.yaml``; this
module is the one place that checks them. A bad config raises
:class:`ConfigError` naming the key path, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import voluptuous as vol
import yaml

from wxstation.errors import ConfigError
from wxstation.parsers import (
    FieldSpec,
    ParserLookupError,
    StationParser,
    find_parser_class,
    make_parser,
)
from wxstation.parsers.conversions import CONVERSIONS
from wxstation.parsers.declarative import TYPES
from wxstation.parsers.derived import DERIVED
from wxstation.quality import Calibration, Quality

__all__ = [
    "DEFAULT_HTTP_PORT",
    "DEFAULT_PORT",
    "Config",
    "ConfigError",
    "HttpConfig",
    "InfluxConfig",
    "ListenConfig",
    "MqttConfig",
    "StationConfig",
    "StorageConfig",
    "UnknownStations",
    "UploadConfig",
    "config_default",
    "default_database_path",
    "default_station_name",
    "load_config",
    "local_url_host",
    "parse_config",
]

DEFAULT_PORT = 5001  # the port the station firmware's captive portal suggests
#: The status page's port: beside the stations' 5001, so the two are easy to
#: remember and to open together, and clear of what home-automation hosts
#: usually run (Home Assistant 8123, Node-RED 1880, zigbee2mqtt, openHAB and
#: Domoticz 8080, Z-Wave JS UI 8091, ESPHome 6052, MQTT 1883/8883/9001,
#: InfluxDB 8086, Grafana 3000, Prometheus 9090 and its exporters 9100 up,
#: VictoriaMetrics 8428, Frigate 5000).
DEFAULT_HTTP_PORT = 5002
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def default_database_path() -> Path:
    """Where the bridge keeps its database when no config names one."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "wxstation" / "wxstation.db"


# --- the config as the rest of the bridge sees it -----------------------------


@dataclass(frozen=True, slots=True)
class ListenConfig:
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    #: Peers allowed to connect; empty allows any.
    allowed_networks: tuple[IPNetwork, ...] = ()
    #: Connections served at once; more wait in the kernel's backlog.
    max_connections: int = 256
    #: Seconds a connection may stay silent before it is closed (the ESP's own
    #: client gives up after 1 s, so a longer silence is not a station).
    read_timeout: float = 5.0

    def allows(self, host: str) -> bool:
        """True when ``allowed_networks`` lets a peer with this address send packets."""
        if not self.allowed_networks:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.allowed_networks)


@dataclass(frozen=True, slots=True)
class StorageConfig:
    path: Path = field(default_factory=default_database_path)
    #: The database's cap. Near it, the oldest decoded history every sink has
    #: delivered gives way (bridge.spool.giving_way); only when raw packets and
    #: undelivered samples alone fill it does the bridge stop accepting packets
    #: (stations keep their samples and send them again later). 2 GB fits a
    #: Raspberry Pi's SD card beside its system and holds the raw packets of 40
    #: stations for ten years (about 4.6 MB per station and year).
    max_size_mb: float = 2048.0
    #: ... or when the disk it lives on has less than this left.
    min_free_mb: float = 64.0
    #: Decoded samples older than this many days are deleted from the embedded
    #: store (raw packets are kept); 0 keeps them forever.
    retention_days: float = 0.0
    #: A directory on another disk where packets go while the database's disk
    #: fails writes (read-only, I/O errors) and memory's bound is reached; what
    #: it holds survives a restart and is merged into the database once its
    #: disk takes writes. None: memory only (bridge.runtime.fallback).
    fallback_path: Path | None = None


#: Hosts that mean "every interface" when a server binds to them.
ANY_ADDRESS = ("0.0.0.0", "::", "")


def local_url_host(host: str) -> str:
    """How this machine reaches a server bound to ``host``, as a URL writes it:
    loopback for every interface, and an IPv6 address in brackets."""
    if host in ANY_ADDRESS:
        host = "::1" if host == "::" else "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def default_station_name(device_id: int) -> str:
    """The name of a station that has none in the config (Home Assistant's too)."""
    return f"Station {device_id}"


#: The longest ``send_delay`` taken: the ESP's own client gives up far sooner,
#: so more is a typo (milliseconds for seconds).
MAX_SEND_DELAY = 60.0


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """The status page, ``/metrics``, the JSON API and ``/healthz``."""

    enabled: bool = True
    #: Only this machine by default: the page shows the stations and their data.
    host: str = "127.0.0.1"
    port: int = DEFAULT_HTTP_PORT
    #: Actions (POST) need ``Authorization: Bearer <token>``; without a token
    #: they are taken from this machine only.
    token: str | None = None


@dataclass(frozen=True, slots=True)
class StationConfig:
    device_id: int
    name: str
    parser: StationParser
    #: The only address this station may send from, when set.
    address: IPAddress | None = None
    #: Seconds from the newest sample to the packet's arrival: the ESP boots,
    #: joins the network and connects after the ATtiny measured.
    send_delay: float = 0.0
    #: Calibration and plausible ranges; by default the parser's ranges.
    quality: Quality = None  # type: ignore[assignment]  # filled in from the parser

    def __post_init__(self) -> None:
        if self.quality is None:
            object.__setattr__(self, "quality", Quality.of(self.parser))


@dataclass(frozen=True, slots=True)
class UnknownStations:
    #: ``keep``: keep their packets aside for ``reprocess``; ``decode``: decode
    #: them with ``parser`` and name them "Station <id>".
    action: str = "decode"
    parser: str = "reference"


@dataclass(frozen=True, slots=True)
class InfluxConfig:
    url: str
    api: int = 2
    token: str | None = None
    username: str | None = None
    password: str | None = None
    org: str = "wxstation"
    bucket: str = "wxstation"
    database: str = "wxstation"
    retention_policy: str | None = None
    measurement: str = "weather"
    #: ``default``: one point per sample; ``legacy``: the old server's schema.
    layout: str = "default"
    verify_ssl: bool = True
    ssl_ca_cert: str | None = None
    timeout: float = 10.0
    batch_size: int = 5000
    flush_interval: float = 1.0


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    keepalive: int = 60
    qos: int = 1
    base_topic: str = "wxstation"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    tls: bool = False
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    tls_insecure: bool = False


#: The weather networks a station's values can be uploaded to (see docs/uploads.md).
UPLOAD_SERVICES = ("wunderground", "pwsweather", "wow", "windy", "cwop")


@dataclass(frozen=True, slots=True)
class UploadConfig:
    """One station's upload to one weather network (``uploads:``)."""

    service: str
    #: The wxstation device id whose values go up.
    station: int
    #: The network's station id (CWOP: the CW number or call sign).
    id: str
    #: The network's password or key; for CWOP an APRS-IS passcode, needed
    #: only for a radio amateur's call sign.
    key: str | None = None
    #: HTTP networks: the endpoint, by default the network's documented one.
    url: str | None = None
    #: CWOP: the APRS-IS server as host:port, by default CWOP's documented one.
    server: str | None = None
    #: CWOP: the station's position in decimal degrees.
    latitude: float | None = None
    longitude: float | None = None
    #: W/m² per lux: with it, the station's illuminance goes up as solar
    #: radiation; without it, not at all (a lux reading is not irradiance).
    lux_to_wm2: float | None = None

    @property
    def name(self) -> str:
        """The upload's sink name: its progress is kept under it."""
        return f"{self.service}:{self.id}"


@dataclass(frozen=True, slots=True)
class Config:
    listen: ListenConfig = field(default_factory=ListenConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    stations: Mapping[int, StationConfig] = field(default_factory=dict)
    unknown_stations: UnknownStations = field(default_factory=UnknownStations)
    influxdb: InfluxConfig | None = None
    mqtt: MqttConfig | None = None
    http: HttpConfig = field(default_factory=HttpConfig)
    uploads: tuple[UploadConfig, ...] = ()
    log_level: str = "INFO"
    #: The file this was read from, if any.
    source: Path | None = None

    def secrets(self) -> tuple[str, ...]:
        """The config's secret values (tokens, passwords, credentials in URLs):
        what nothing the bridge serves may show."""
        found: list[str | None] = [self.http.token]
        if self.influxdb is not None:
            found += [self.influxdb.token, self.influxdb.password]
            userinfo = self.influxdb.url.partition("://")[2].partition("/")[0].rpartition("@")[0]
            found += [userinfo, userinfo.partition(":")[2]]
        if self.mqtt is not None:
            found.append(self.mqtt.password)
        found += [upload.key for upload in self.uploads]
        return tuple(sorted({value for value in found if value}, key=len, reverse=True))

    def decodes(self, device_id: int) -> bool:
        """Whether :meth:`station` has a station for the device id, without making
        one (an unknown station's is made anew at each call)."""
        return device_id in self.stations or self.unknown_stations.action == "decode"

    def station(self, device_id: int) -> StationConfig | None:
        """The station for a device id: configured, or made by the unknown policy."""
        if device_id in self.stations:
            return self.stations[device_id]
        if not self.decodes(device_id):
            return None
        return StationConfig(
            device_id, default_station_name(device_id), make_parser(self.unknown_stations.parser)
        )


# --- validation ----------------------------------------------------------------


def config_default(section: type[Any], key: str) -> Any:
    """The default of ``key`` in a section's dataclass: every default is written
    there once, and the schema and the spool take it from there."""
    spec = {spec.name: spec for spec in dataclasses.fields(section)}[key]
    if spec.default is dataclasses.MISSING:
        raise ValueError(f"{section.__name__}.{key} has no plain default")
    return spec.default


def _beside(raw: str | None, base: Path) -> Path | None:
    """A path of the config (``~`` expanded), relative to the config's directory."""
    if raw is None:
        return None
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base / path


def _option(section: type[Any], key: str) -> vol.Optional:
    """An optional key of the schema, with its dataclass's default."""
    default = config_default(section, key)
    # YAML gives lists; the dataclasses keep tuples, which the schema does not take.
    return vol.Optional(key, default=list(default) if isinstance(default, tuple) else default)


def _port(value: Any) -> int:
    return vol.All(vol.Coerce(int), vol.Range(min=1, max=65535))(value)  # type: ignore[no-any-return]


def _positive(kind: type[int] | type[float]) -> Any:
    return vol.All(vol.Coerce(kind), vol.Range(min=0, min_included=False))


def _network(value: Any) -> IPNetwork:
    try:
        return ipaddress.ip_network(str(value), strict=False)
    except ValueError as err:
        raise vol.Invalid(f"not a network like 192.168.1.0/24: {err}") from err


def _address(value: Any) -> IPAddress:
    try:
        return ipaddress.ip_address(str(value))
    except ValueError as err:
        raise vol.Invalid(f"not an IP address like 192.168.1.50: {err}") from err


def _device_id(value: Any) -> int:
    try:
        device = int(value)
    except (TypeError, ValueError) as err:
        raise vol.Invalid("a station is keyed by its device id, a number 1..255") from err
    if not 1 <= device <= 255:
        raise vol.Invalid("a device id is 1..255 (one byte in the packet header)")
    return device


def _one_of(*choices: str) -> Any:
    return vol.In(choices, msg=f"expected one of: {', '.join(choices)}")


def _parser_name(value: Any) -> str:
    name = vol.All(str, vol.Length(min=1))(value)
    try:
        find_parser_class(name)
    except ParserLookupError as err:
        raise vol.Invalid(str(err)) from err
    return str(name)


_CONVERT_OR_SCALE = "give either a named convert or a scale (and offset), not both"
#: Keys the sinks' payloads and exports use beside the values themselves.
RESERVED_KEYS = ("time", "health", "device_id", "station")


def _field_key(value: Any) -> str:
    key = vol.All(str, vol.Match(r"^[a-z][a-z0-9_]*$", msg="use lower_snake_case"))(value)
    if key in RESERVED_KEYS or key in DERIVED:
        raise vol.Invalid(
            f"{key!r} is taken ({', '.join((*RESERVED_KEYS, *DERIVED))} are); choose another key"
        )
    return str(key)


_FIELD = vol.Schema(
    {
        vol.Required("key"): _field_key,
        vol.Required("type"): _one_of(*TYPES),
        vol.Exclusive("convert", "conversion", msg=_CONVERT_OR_SCALE): _one_of(*CONVERSIONS),
        vol.Exclusive("scale", "conversion", msg=_CONVERT_OR_SCALE): vol.Coerce(float),
        _option(FieldSpec, "offset"): vol.Coerce(float),
        vol.Optional("name"): str,
        vol.Optional("unit"): str,
        vol.Optional("device_class"): str,
        _option(FieldSpec, "state_class"): vol.Any(
            None, _one_of("measurement", "total", "total_increasing")
        ),
        vol.Optional("precision"): vol.All(vol.Coerce(int), vol.Range(min=0, max=6)),
        vol.Optional("icon"): str,
    }
)


def _unique_keys(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    for index, spec in enumerate(fields):
        if spec["key"] in seen:
            raise vol.Invalid(f"key {spec['key']!r} appears twice", path=[index, "key"])
        seen.add(spec["key"])
    return fields


def _calibration(value: Any) -> Calibration:
    spec = vol.Schema(
        vol.All(
            {vol.Optional("offset"): vol.Coerce(float), vol.Optional("scale"): vol.Coerce(float)},
            vol.Length(min=1, msg="give an offset, a scale or both, e.g. {offset: -0.4}"),
        )
    )(value)
    return Calibration(**spec)


def _range(value: Any) -> tuple[float, float]:
    pair = vol.Schema(
        vol.All(
            [vol.Coerce(float)],
            vol.Length(min=2, max=2, msg="give [lowest, highest], e.g. [-30, 50]"),
        )
    )(value)
    low, high = pair
    if not low < high:
        raise vol.Invalid(f"the lowest value must be below the highest (got [{low:g}, {high:g}])")
    return (low, high)


_STATION = vol.Schema(
    vol.All(
        {
            vol.Optional("name"): vol.All(str, vol.Length(min=1)),
            vol.Exclusive("parser", "layout"): _parser_name,
            vol.Exclusive("fields", "layout"): vol.All([_FIELD], vol.Length(min=1), _unique_keys),
            vol.Optional("derived", default=[]): [_one_of(*DERIVED)],
            vol.Optional("address"): _address,
            _option(StationConfig, "send_delay"): vol.All(
                vol.Coerce(float),
                vol.Range(
                    min=0,
                    max=MAX_SEND_DELAY,
                    msg=f"seconds from 0 to {MAX_SEND_DELAY:g} (see docs/protocol.md)",
                ),
            ),
            vol.Optional("calibrate", default={}): {str: _calibration},
            vol.Optional("range", default={}): {str: _range},
        }
    )
)


def _host_port(value: Any) -> str:
    text = vol.All(str, vol.Length(min=1))(value)
    host, colon, port = str(text).rpartition(":")
    if not colon or not host:
        raise vol.Invalid("give host:port, e.g. cwop.aprs.net:14580")
    _port(port)
    return str(text)


#: An APRS-IS login name: a CWOP number (CW0001) or a call sign with an
#: optional SSID (DL1ABC-13), as APRS-IS takes it.
_APRS_NAME = r"^[A-Z0-9]{3,6}(-[0-9]{1,2})?$"

_UPLOAD = vol.Schema(
    {
        vol.Required("service"): _one_of(*UPLOAD_SERVICES),
        vol.Required("station"): _device_id,
        vol.Required("id"): vol.All(vol.Coerce(str), vol.Strip, vol.Length(min=1)),
        vol.Optional("key"): vol.All(vol.Coerce(str), vol.Length(min=1)),
        vol.Optional("url"): vol.All(
            str, vol.Match(r"^https?://", msg="starts with http:// or https://")
        ),
        vol.Optional("server"): _host_port,
        vol.Optional("latitude"): vol.All(
            vol.Coerce(float), vol.Range(min=-90, max=90, msg="degrees from -90 to 90")
        ),
        vol.Optional("longitude"): vol.All(
            vol.Coerce(float), vol.Range(min=-180, max=180, msg="degrees from -180 to 180")
        ),
        vol.Optional("lux_to_wm2"): _positive(float),
    }
)

_SCHEMA = vol.Schema(
    {
        vol.Optional("listen", default={}): {
            _option(ListenConfig, "host"): str,
            _option(ListenConfig, "port"): _port,
            _option(ListenConfig, "allowed_networks"): [_network],
            _option(ListenConfig, "max_connections"): _positive(int),
            _option(ListenConfig, "read_timeout"): _positive(float),
        },
        vol.Optional("storage", default={}): {
            vol.Optional("path"): vol.All(str, vol.Length(min=1)),
            _option(StorageConfig, "max_size_mb"): _positive(float),
            _option(StorageConfig, "min_free_mb"): vol.All(vol.Coerce(float), vol.Range(min=0)),
            _option(StorageConfig, "retention_days"): vol.All(vol.Coerce(float), vol.Range(min=0)),
            vol.Optional("fallback_path"): vol.All(str, vol.Length(min=1)),
        },
        vol.Optional("stations", default={}): vol.Any(None, {_device_id: vol.Any(None, _STATION)}),
        vol.Optional("unknown_stations", default={}): {
            _option(UnknownStations, "action"): _one_of("keep", "decode"),
            _option(UnknownStations, "parser"): _parser_name,
        },
        vol.Optional("influxdb"): {
            vol.Required("url"): vol.All(
                str, vol.Match(r"^https?://", msg="starts with http:// or https://")
            ),
            _option(InfluxConfig, "api"): vol.All(
                vol.Coerce(int), vol.In([1, 2], msg="expected 1 or 2")
            ),
            vol.Optional("token"): str,
            vol.Optional("username"): str,
            vol.Optional("password"): str,
            _option(InfluxConfig, "org"): str,
            _option(InfluxConfig, "bucket"): str,
            _option(InfluxConfig, "database"): str,
            vol.Optional("retention_policy"): str,
            _option(InfluxConfig, "measurement"): vol.All(
                str,
                vol.Match(
                    r"^(?!_)[^\\\r\n]+\Z",
                    msg="no backslash or line break, and no leading _ (InfluxDB reserves it)",
                ),
            ),
            _option(InfluxConfig, "layout"): _one_of("default", "legacy"),
            _option(InfluxConfig, "verify_ssl"): bool,
            vol.Optional("ssl_ca_cert"): str,
            _option(InfluxConfig, "timeout"): _positive(float),
            _option(InfluxConfig, "batch_size"): _positive(int),
            _option(InfluxConfig, "flush_interval"): _positive(float),
        },
        vol.Optional("mqtt"): {
            vol.Required("host"): vol.All(str, vol.Length(min=1)),
            _option(MqttConfig, "port"): _port,
            vol.Optional("username"): str,
            vol.Optional("password"): str,
            vol.Optional("client_id"): str,
            _option(MqttConfig, "keepalive"): vol.All(vol.Coerce(int), vol.Range(min=5)),
            _option(MqttConfig, "qos"): vol.All(
                vol.Coerce(int), vol.In([0, 1, 2], msg="expected 0, 1 or 2")
            ),
            _option(MqttConfig, "base_topic"): vol.All(
                str, vol.Match(r"^[^#+]+$", msg="no MQTT wildcards (# or +)")
            ),
            _option(MqttConfig, "discovery"): bool,
            _option(MqttConfig, "discovery_prefix"): vol.All(
                str, vol.Match(r"^[^#+]+$", msg="no MQTT wildcards (# or +)")
            ),
            _option(MqttConfig, "tls"): bool,
            vol.Optional("ca_certs"): str,
            vol.Optional("certfile"): str,
            vol.Optional("keyfile"): str,
            _option(MqttConfig, "tls_insecure"): bool,
        },
        vol.Optional("http", default={}): {
            _option(HttpConfig, "enabled"): bool,
            _option(HttpConfig, "host"): vol.All(str, vol.Length(min=1)),
            _option(HttpConfig, "port"): vol.All(vol.Coerce(int), vol.Range(min=0, max=65535)),
            vol.Optional("token"): vol.All(str, vol.Length(min=16, msg="at least 16 characters")),
        },
        vol.Optional("uploads", default=[]): vol.Any(None, [_UPLOAD]),
        _option(Config, "log_level"): vol.All(
            vol.Upper, _one_of("DEBUG", "INFO", "WARNING", "ERROR")
        ),
    }
)


def _describe(error: vol.Invalid, raw: Any) -> str:
    """One line: the key path, the value found there and what is wrong."""
    path = [str(part) for part in error.path]
    where = " -> ".join(path) if path else "(top level)"
    value: Any = raw
    for part in error.path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            value = None
            break
    message = error.msg
    if message == "extra keys not allowed":
        message = "unknown key (check its spelling against config.example.yaml)"
    shown = "" if value is None or isinstance(value, Mapping | list) else f" (got {value!r})"
    return f"{where}: {message}{shown}"


def parse_config(raw: Any, source: Path | None = None) -> Config:
    """Validate a config already read from YAML and build the :class:`Config`."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"{source or 'config'}: the top level must be a mapping of sections", source=source
        )
    try:
        data = _SCHEMA(dict(raw))
    except vol.MultipleInvalid as err:
        lines = sorted({_describe(e, raw) for e in err.errors})
        raise ConfigError(
            f"{source or 'config'}: " + "\n  ".join(["invalid config:", *lines]),
            source=source,
            problems=tuple(lines),
        ) from err

    base = source.resolve().parent if source else Path.cwd()
    storage = data["storage"]
    path = Path(storage["path"]).expanduser() if "path" in storage else default_database_path()
    stations: dict[int, StationConfig] = {}
    for device_id, spec in (data["stations"] or {}).items():
        spec = spec or {}
        fields = [FieldSpec(**f) for f in spec.get("fields", [])]
        try:
            parser = make_parser(spec.get("parser"), fields, spec["derived"] if spec else ())
        except (ParserLookupError, ValueError, TypeError) as err:
            raise ConfigError(
                f"{source or 'config'}: stations -> {device_id}: {err}",
                source=source,
                problems=(f"stations -> {device_id}: {err}",),
            ) from err
        calibrate = spec.get("calibrate", {})
        ranges = spec.get("range", {})
        unknown = _unknown_keys(device_id, parser, calibrate, ranges)
        if unknown:
            raise ConfigError(
                f"{source or 'config'}: " + "\n  ".join(["invalid config:", *unknown]),
                source=source,
                problems=tuple(unknown),
            )
        stations[device_id] = StationConfig(
            device_id,
            spec.get("name") or default_station_name(device_id),
            parser,
            spec.get("address"),
            spec.get("send_delay", config_default(StationConfig, "send_delay")),
            Quality.of(parser, calibrate, ranges),
        )
    specs = data["uploads"] or []
    problems = _upload_problems(specs, stations)
    if problems:
        raise ConfigError(
            f"{source or 'config'}: " + "\n  ".join(["invalid config:", *problems]),
            source=source,
            problems=tuple(problems),
        )
    influx = data.get("influxdb")
    mqtt = data.get("mqtt")
    return Config(
        listen=ListenConfig(
            **{**data["listen"], "allowed_networks": tuple(data["listen"]["allowed_networks"])}
        ),
        storage=StorageConfig(
            path=path if path.is_absolute() else base / path,
            max_size_mb=storage["max_size_mb"],
            min_free_mb=storage["min_free_mb"],
            retention_days=storage["retention_days"],
            fallback_path=_beside(storage.get("fallback_path"), base),
        ),
        stations=stations,
        unknown_stations=UnknownStations(**data["unknown_stations"]),
        influxdb=InfluxConfig(**influx) if influx else None,
        mqtt=MqttConfig(**mqtt) if mqtt else None,
        http=HttpConfig(**data["http"]),
        uploads=tuple(_upload(spec) for spec in specs),
        log_level=data["log_level"],
        source=source,
    )


def _upload(spec: Mapping[str, Any]) -> UploadConfig:
    if spec["service"] == "cwop":
        # APRS-IS names are upper case; a lower-case one would be another station.
        spec = {**spec, "id": spec["id"].upper()}
    return UploadConfig(**spec)


def _upload_problems(
    specs: list[dict[str, Any]], stations: Mapping[int, StationConfig]
) -> list[str]:
    """A line for each upload the schema alone cannot judge: its station, its
    key or position, and its name given twice."""
    problems = []
    seen: set[tuple[str, str]] = set()
    for index, spec in enumerate(specs):
        where = f"uploads -> {index}"
        service = spec["service"]
        if spec["station"] not in stations:
            problems.append(
                f"{where} -> station: no station {spec['station']} under stations; "
                "configure it there first"
            )
        if service == "cwop":
            for coordinate in ("latitude", "longitude"):
                if coordinate not in spec:
                    problems.append(
                        f"{where} -> {coordinate}: CWOP needs the station's position: "
                        "give latitude and longitude in decimal degrees"
                    )
            if not re.match(_APRS_NAME, spec["id"].upper()):
                problems.append(
                    f"{where} -> id: not a CWOP number or call sign like CW0001 or "
                    f"DL1ABC-13 (got {spec['id']!r})"
                )
            if "url" in spec:
                problems.append(f"{where} -> url: CWOP is not HTTP; give server (host:port)")
        else:
            if "key" not in spec:
                problems.append(
                    f"{where} -> key: {service} needs the station's key or password "
                    "from the network's site (best as !secret)"
                )
            for key in ("server", "latitude", "longitude"):
                if key in spec:
                    problems.append(f"{where} -> {key}: only CWOP takes {key}")
        name = (service, spec["id"].upper() if service == "cwop" else spec["id"])
        if name in seen:
            problems.append(f"{where} -> id: {service} {spec['id']!r} is uploaded to twice")
        seen.add(name)
    return problems


def _unknown_keys(
    device_id: int,
    parser: StationParser,
    calibrate: Mapping[str, Calibration],
    ranges: Mapping[str, tuple[float, float]],
) -> list[str]:
    """A problem line for each calibrated or ranged key the station does not report.

    Calibration is of measured values (derived ones follow from them); a range
    may be given to derived values too.
    """
    own = [f.key for f in parser.fields]
    every = [f.key for f in parser.all_fields]
    problems = []
    for section, keys, allowed in (("calibrate", calibrate, own), ("range", ranges, every)):
        for key in keys:
            if key not in allowed:
                problems.append(
                    f"stations -> {device_id} -> {section} -> {key}: the station has no "
                    f"{'measured ' if section == 'calibrate' else ''}field {key!r}; "
                    f"its {parser.kind} parser has: {', '.join(allowed)}"
                )
    return problems


# --- YAML with !secret and !env ------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader plus ``!secret`` and ``!env``, with the config's own folder."""

    secrets_file: Path | None = None
    _secrets: dict[str, Any] | None = None

    def secret(self, name: str) -> Any:
        if self.secrets_file is None:
            raise ConfigError(
                f"!secret {name}: secrets need a config file (secrets.yaml beside it)"
            )
        if self._secrets is None:
            try:
                loaded = yaml.safe_load(self.secrets_file.read_text(encoding="utf-8"))
            except FileNotFoundError as err:
                raise ConfigError(
                    f"!secret {name}: {self.secrets_file} does not exist; create it with "
                    f"a line '{name}: ...'"
                ) from err
            self._secrets = loaded if isinstance(loaded, dict) else {}
        if name not in self._secrets:
            raise ConfigError(f"!secret {name}: not found in {self.secrets_file}")
        return self._secrets[name]


def _secret(loader: _Loader, node: yaml.Node) -> Any:
    return loader.secret(str(loader.construct_scalar(node)))  # type: ignore[arg-type]


def _env(loader: _Loader, node: yaml.Node) -> Any:
    name, _, default = str(loader.construct_scalar(node)).partition(" ")  # type: ignore[arg-type]
    if name in os.environ:
        return os.environ[name]
    if default:
        return default
    raise ConfigError(f"!env {name}: the environment variable {name} is not set")


_Loader.add_constructor("!secret", _secret)
_Loader.add_constructor("!env", _env)


def load_config(path: Path | str | None) -> Config:
    """Read and validate a config file; with no file, the embedded defaults."""
    if path is None:
        return parse_config({})
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(
            f"cannot read config {source}: {err.strerror or err}", source=source
        ) from err

    class Loader(_Loader):
        secrets_file = source.parent / "secrets.yaml"

    try:
        raw = yaml.load(text, Loader=Loader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {err}", source=source) from err
    return parse_config(raw, source)
