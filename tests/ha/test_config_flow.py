"""Config, options and reconfigure flows, every step and error."""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Generator
from unittest.mock import patch

import pytest
from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.typing import MqttMockHAClient

from custom_components.wxstation.config_flow import check_bind
from custom_components.wxstation.const import (
    CONF_PARSER,
    CONF_STATIONS,
    CONF_UNKNOWN,
    DOMAIN,
    UNKNOWN_KEEP,
)
from tests.support.servers import free_port

from .common import mqtt_entry, send_and_wait, setup_entry, station, tcp_entry

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
def expected_lingering_timers() -> bool:
    """The MQTT client's housekeeping timer outlives the test's Home Assistant."""
    return True


@pytest.fixture
def no_setup() -> Generator[None]:
    with patch("custom_components.wxstation.async_setup_entry", return_value=True):
        yield


def any_address_port() -> int:
    """A port free on every address, as the flow checks it for host 0.0.0.0 (a
    port free on 127.0.0.1 alone can be another address's connection's)."""
    return free_port("0.0.0.0")


async def _busy_then_free(
    hass: HomeAssistant, flow_id: str, busy_port: int, host: str
) -> tuple[dict, int]:
    """Give the flow ``busy_port`` (refused: in use), then a free port; the
    flow's answer to that, and the port."""
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"host": "0.0.0.0", "port": busy_port}
    )
    assert result["errors"] == {"base": "port_in_use"}
    port = any_address_port()
    result = await hass.config_entries.flow.async_configure(flow_id, {"host": host, "port": port})
    return result, port


@pytest.fixture
def busy_port() -> Generator[int]:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        yield int(busy.getsockname()[1])


async def _start(hass: HomeAssistant, mode: str) -> dict:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["tcp", "mqtt"]
    return await hass.config_entries.flow.async_configure(result["flow_id"], {"next_step_id": mode})


@pytest.mark.usefixtures("no_setup")
async def test_tcp_creates_entry(hass: HomeAssistant, busy_port: int) -> None:
    """A port in use is refused until a free one is given."""
    result = await _start(hass, "tcp")
    assert result["step_id"] == "tcp"
    result, port = await _busy_then_free(hass, result["flow_id"], busy_port, " 0.0.0.0 ")
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    assert result["title"] == f"Stations on port {port}"
    assert result["data"] == {"mode": "tcp", "host": "0.0.0.0", "port": port}
    assert result["result"].unique_id == f"tcp:{port}"


@pytest.mark.usefixtures("no_setup")
async def test_tcp_same_port_twice(hass: HomeAssistant) -> None:
    tcp_entry(port=5001).add_to_hass(hass)
    result = await _start(hass, "tcp")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"host": "0.0.0.0", "port": 5001}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


@pytest.mark.parametrize(
    ("host", "error"),
    [("not an address", "invalid_host"), ("192.0.2.1", "cannot_bind")],
)
async def test_tcp_bad_host(hass: HomeAssistant, host: str, error: str) -> None:
    result = await _start(hass, "tcp")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"host": host, "port": any_address_port()}
    )
    assert result["errors"] == {"base": error}


def test_privileged_port() -> None:
    with patch("socket.socket.bind", side_effect=OSError(errno.EACCES, "denied")):
        assert check_bind("::", 80) == "port_forbidden"
    assert check_bind("::1", any_address_port()) in (None, "cannot_bind")


async def test_mqtt_needs_the_mqtt_integration(hass: HomeAssistant) -> None:
    result = await _start(hass, "mqtt")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_available"


@pytest.mark.usefixtures("no_setup")
async def test_mqtt_creates_entry(hass: HomeAssistant, mqtt_mock: MqttMockHAClient) -> None:
    result = await _start(hass, "mqtt")
    assert result["step_id"] == "mqtt"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"topic": "wx/+"})
    assert result["errors"] == {"topic": "invalid_topic"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"topic": "/"})
    assert result["errors"] == {"topic": "invalid_topic"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"topic": " garden/wx/ "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {"mode": "mqtt", "topic": "garden/wx"}
    assert result["result"].unique_id == "mqtt:garden/wx"

    again = await _start(hass, "mqtt")
    again = await hass.config_entries.flow.async_configure(again["flow_id"], {"topic": "garden/wx"})
    assert again["type"] is FlowResultType.ABORT
    assert again["reason"] == "already_configured"


async def test_reconfigure_tcp(hass: HomeAssistant, busy_port: int) -> None:
    """The port can move; a port in use or another entry's is refused."""
    entry = tcp_entry(port=any_address_port())
    await setup_entry(hass, entry)
    tcp_entry(port=5999).add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result, new_port = await _busy_then_free(hass, result["flow_id"], busy_port, "127.0.0.1")
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data["port"] == new_port
    assert entry.unique_id == f"tcp:{new_port}"
    assert entry.title == f"Stations on port {new_port}"
    assert entry.runtime_data.source.port == new_port

    # The same port with another address: not bound twice here, the reload tries it.
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"host": "127.0.0.1", "port": new_port}
    )
    assert result["reason"] == "reconfigure_successful"

    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"host": "127.0.0.1", "port": 5999}
    )
    assert result["reason"] == "already_configured"
    await hass.async_block_till_done()


async def test_reconfigure_mqtt(hass: HomeAssistant, mqtt_mock: MqttMockHAClient) -> None:
    entry = mqtt_entry()
    await setup_entry(hass, entry)
    mqtt_entry(topic="other").add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"topic": "#"})
    assert result["errors"] == {"topic": "invalid_topic"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"topic": "other"})
    assert result["reason"] == "already_configured"
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"topic": "garden"})
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data["topic"] == "garden"
    assert entry.unique_id == "mqtt:garden"
    assert entry.runtime_data.source.batch_topic == "garden/+/batch"


async def _options(hass: HomeAssistant, entry_id: str, step: str) -> dict:
    result = await hass.config_entries.options.async_init(entry_id)
    assert result["type"] is FlowResultType.MENU
    return await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": step}
    )


async def test_options_name_and_forget_stations(hass: HomeAssistant) -> None:
    """Stations that reported or were kept are offered; a name is set, an empty one cleared."""
    entry = tcp_entry(options={CONF_UNKNOWN: UNKNOWN_KEEP, CONF_STATIONS: {"2": "Roof"}})
    await setup_entry(hass, entry)
    await send_and_wait(hass, entry, station(2).wake().packet, time.time())
    await send_and_wait(hass, entry, station(8).wake().packet, time.time())

    result = await _options(hass, entry.entry_id, "station")
    assert result["step_id"] == "station"
    schema = result["data_schema"].schema
    choices = next(iter(schema.values())).config["options"]
    assert choices == [{"value": "2", "label": "2: Roof"}, {"value": "8", "label": "8"}]

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"device_id": "256", "name": "x"}
    )
    assert result["errors"] == {"device_id": "invalid_device_id"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"device_id": "8", "name": " Shed "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_STATIONS] == {"2": "Roof", "8": "Shed"}
    # The kept packet of station 8 was decoded by the reload.
    assert hass.states.get("sensor.shed_temperature") is not None

    result = await _options(hass, entry.entry_id, "station")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"device_id": "2", "name": ""}
    )
    await hass.async_block_till_done()
    assert entry.options[CONF_STATIONS] == {"8": "Shed"}


async def test_options_settings_tcp(hass: HomeAssistant) -> None:
    entry = tcp_entry()
    await setup_entry(hass, entry)
    result = await _options(hass, entry.entry_id, "settings")
    assert set(result["data_schema"].schema) == {CONF_UNKNOWN, CONF_PARSER}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_UNKNOWN: UNKNOWN_KEEP, CONF_PARSER: "nonesuch"}
    )
    assert result["errors"] == {CONF_PARSER: "unknown_parser"}
    assert "no parser named 'nonesuch'" in result["description_placeholders"]["error"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_UNKNOWN: UNKNOWN_KEEP, CONF_PARSER: "wxstation.parsers.reference:ReferenceParser"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options[CONF_UNKNOWN] == UNKNOWN_KEEP
    assert entry.runtime_data.source.unknown == UNKNOWN_KEEP


async def test_options_settings_mqtt(hass: HomeAssistant, mqtt_mock: MqttMockHAClient) -> None:
    """Following a bridge, its config decides about unknown stations: only the parser is asked."""
    entry = mqtt_entry()
    entry.add_to_hass(hass)
    result = await _options(hass, entry.entry_id, "settings")
    assert set(result["data_schema"].schema) == {CONF_PARSER}
    result = await _options(hass, entry.entry_id, "station")
    assert next(iter(result["data_schema"].schema.values())).config["options"] == []
