"""Config: the example, defaults, secrets, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.spool import Spool
from wxstation.config import (
    Config,
    ConfigError,
    InfluxConfig,
    ListenConfig,
    MqttConfig,
    StorageConfig,
    UnknownStations,
    load_config,
    parse_config,
)
from wxstation.parsers import DeclarativeParser, ReferenceParser

ROOT = Path(__file__).parent.parent


def test_example_config_is_valid() -> None:
    """Test that config.example.yaml loads and sets up what it shows."""
    config = load_config(ROOT / "config.example.yaml")
    assert set(config.stations) == {1, 7}
    garden = config.stations[1]
    assert isinstance(garden.parser, ReferenceParser)
    assert garden.send_delay == 2.5
    assert set(garden.quality.calibrate) == {"temperature", "humidity"}
    assert garden.quality.ranges["temperature"] == (-30.0, 50.0)
    assert config.stations[7].send_delay == 0.0
    assert config.stations[7].quality.ranges == {"light": (0.0, 40000.0)}
    greenhouse = config.stations[7].parser
    assert isinstance(greenhouse, DeclarativeParser)
    assert (greenhouse.record_size, greenhouse.value_count) == (7, 4)
    assert config.storage.path == ROOT / "wxstation.db"
    assert config.influxdb is not None
    assert config.influxdb.api == 2
    assert config.mqtt is not None
    assert config.mqtt.base_topic == "wxstation"
    assert (config.http.host, config.http.port, config.http.token) == ("127.0.0.1", 5002, None)


def test_embedded_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test the defaults a bridge runs on with no config file."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    config = load_config(None)
    assert config.listen.port == 5001
    assert config.storage.path == tmp_path / "wxstation" / "wxstation.db"
    assert config.influxdb is None
    assert config.mqtt is None
    station = config.station(42)
    assert station is not None
    assert station.name == "Station 42"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"listen": {"port": 70000}}, "listen -> port: value must be at most 65535 (got 70000)"),
        ({"listen": {"prot": 1}}, "listen -> prot: unknown key"),
        (
            {"stations": {7: {"fields": [{"key": "t", "type": "u17"}]}}},
            "stations -> 7 -> fields -> 0 -> type: expected one of: u8, i8, u16",
        ),
        ({"stations": {300: {}}}, "stations -> 300: a device id is 1..255"),
        (
            {"stations": {7: {"fields": [{"key": "time", "type": "u8"}]}}},
            "stations -> 7 -> fields -> 0 -> key: 'time' is taken",
        ),
        ({"stations": {1: {"parser": "nope"}}}, "stations -> 1 -> parser: no parser named 'nope'"),
        (
            {"stations": {1: {"parser": "reference", "fields": [{"key": "a", "type": "u8"}]}}},
            "stations -> 1",
        ),
        ({"influxdb": {"url": "localhost:8086"}}, "influxdb -> url: starts with http://"),
        ({"mqtt": {"port": 1883}}, "mqtt -> host: required key not provided"),
        ({"unknown_stations": {"action": "drop"}}, "expected one of: keep, decode (got 'drop')"),
    ],
)
def test_errors_name_the_key_path(raw: dict[str, object], expected: str) -> None:
    """Test that a bad value is reported with its key path, the value and what is allowed."""
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert expected in str(caught.value)


def test_config_error_carries_its_source_and_problems(tmp_path: Path) -> None:
    """Test that a ConfigError names the file and lists each invalid key apart."""
    path = tmp_path / "config.yaml"
    path.write_text("listen:\n  port: 0\nmqtt:\n  port: 1883\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == path
    assert caught.value.problems == (
        "listen -> port: value must be at least 1 (got 0)",
        "mqtt -> host: required key not provided",
    )


def test_secret_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that !secret reads secrets.yaml beside the config and !env the environment."""
    (tmp_path / "secrets.yaml").write_text("mqtt_password: s3cret\n")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        "mqtt:\n  host: !env WX_HOST\n  password: !secret mqtt_password\n"
        "  username: !env WX_USER fallback\n"
    )
    monkeypatch.setenv("WX_HOST", "broker.lan")
    monkeypatch.delenv("WX_USER", raising=False)
    mqtt = load_config(config_file).mqtt
    assert mqtt is not None
    assert (mqtt.host, mqtt.password, mqtt.username) == ("broker.lan", "s3cret", "fallback")


def test_missing_secret_says_where(tmp_path: Path) -> None:
    """Test that an unknown secret names the secret and the file to put it in."""
    (tmp_path / "secrets.yaml").write_text("other: 1\n")
    config_file = tmp_path / "config.yaml"
    config_file.write_text("mqtt:\n  host: x\n  password: !secret mqtt_password\n")
    with pytest.raises(ConfigError, match=r"!secret mqtt_password: not found in .*secrets.yaml"):
        load_config(config_file)


def test_missing_env_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WX_NOT_SET", raising=False)
    config_file = tmp_path / "config.yaml"
    config_file.write_text("mqtt:\n  host: !env WX_NOT_SET\n")
    with pytest.raises(ConfigError, match="WX_NOT_SET is not set"):
        load_config(config_file)


def test_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text("listen: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(config_file)


def test_keep_policy_makes_no_station() -> None:
    """Test that unknown stations are not decoded when the policy keeps them aside."""
    config = parse_config({"unknown_stations": {"action": "keep"}})
    assert config.station(3) is None


@pytest.mark.parametrize("action", ["keep", "decode"])
def test_decodes_says_whether_a_station_is_made(action: str) -> None:
    """``decodes`` answers what ``station`` would, configured or unknown, under
    either policy, without making a station."""
    config = parse_config(
        {"stations": {1: {"name": "Garden"}}, "unknown_stations": {"action": action}}
    )
    for device in (1, 2):
        assert config.decodes(device) == (config.station(device) is not None)
    assert config.decodes(1)
    assert config.decodes(2) == (action == "decode")


def test_custom_parser_by_import_path() -> None:
    """Test a station whose parser is a class given by import path."""
    config = parse_config({"stations": {5: {"parser": "tests.support.custom_parser:ShedParser"}}})
    parser = config.stations[5].parser
    assert parser.kind == "shed"
    assert parser.decode_record(b"\x10\x00") == {"temperature": 1.6}


def test_custom_parser_by_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test a parser that an installed package registers in the wxstation.parsers group."""
    dist = tmp_path / "shed_station-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shed-station\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[wxstation.parsers]\nshed = tests.support.custom_parser:ShedParser\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = parse_config({"stations": {5: {"parser": "shed"}}})
    assert config.stations[5].parser.kind == "shed"


def test_the_schema_gives_the_dataclasses_defaults() -> None:
    """Test that a config that sets nothing gets every default the dataclasses give."""
    config = parse_config({"influxdb": {"url": "http://influx:8086"}, "mqtt": {"host": "broker"}})
    assert config.listen == ListenConfig()
    assert config.unknown_stations == UnknownStations()
    assert config.influxdb == InfluxConfig(url="http://influx:8086")
    assert config.mqtt == MqttConfig(host="broker")
    assert config.log_level == Config().log_level
    defaults = StorageConfig()
    assert (config.storage.max_size_mb, config.storage.min_free_mb) == (
        defaults.max_size_mb,
        defaults.min_free_mb,
    )
    assert config.storage.retention_days == defaults.retention_days
    spool = Spool(Path("unused.db"))
    assert (spool.max_size, spool.min_free) == (
        int(defaults.max_size_mb * 1024 * 1024),
        int(defaults.min_free_mb * 1024 * 1024),
    )
