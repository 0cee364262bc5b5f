"""Config, options and reconfigure flows.

An entry is one source of packets: a TCP port that stations send to (one entry
per port), or a wxstation bridge followed over MQTT (one entry per base topic).
The options name stations and say what happens to stations that have no name.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Any

from homeassistant.components import mqtt
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import CONF_HOST, CONF_NAME, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from wxstation import DEFAULT_PORT, ParserLookupError, find_parser_class

from .compat import vol
from .const import (
    CONF_MODE,
    CONF_PARSER,
    CONF_STATIONS,
    CONF_TOPIC,
    CONF_UNKNOWN,
    DEFAULT_HOST,
    DEFAULT_PARSER,
    DEFAULT_TOPIC,
    DEFAULT_UNKNOWN,
    DOMAIN,
    MODE_MQTT,
    MODE_TCP,
    UNKNOWN_DECODE,
    UNKNOWN_KEEP,
)

CONF_DEVICE_ID = "device_id"

_PORT = vol.All(vol.Coerce(int), vol.Range(min=1, max=65535))


def _tcp_schema(host: str, port: int) -> vol.Schema:
    return vol.Schema(
        {
            vol.Required(CONF_HOST, default=host): str,
            vol.Required(CONF_PORT, default=port): _PORT,
        }
    )


def _mqtt_schema(topic: str) -> vol.Schema:
    return vol.Schema({vol.Required(CONF_TOPIC, default=topic): str})


def check_bind(host: str, port: int) -> str | None:
    """Why stations could not be received on ``host``:``port``, as an error key; None if they can.

    Binds a socket the way the receiver will (address reuse on, so a port in
    TIME_WAIT is fine and one that something listens on is not) and closes it.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "invalid_host"
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            return "port_in_use"
        if err.errno == errno.EACCES:
            return "port_forbidden"
        return "cannot_bind"
    return None


def _topic(raw: str) -> str | None:
    """The base topic as the bridge's ``mqtt.base_topic`` gives it, or None if it is not one."""
    topic = raw.strip().strip("/")
    if not topic:
        return None
    try:
        mqtt.valid_publish_topic(f"{topic}/bridge/state")
    except vol.Invalid:
        return None
    return topic


def tcp_title(port: int) -> str:
    return f"Stations on port {port}"


def mqtt_title(topic: str) -> str:
    return f"wxstation bridge ({topic})"


class WxStationConfigFlow(ConfigFlow, domain=DOMAIN):
    """Choose the source: a port to listen on, or a bridge's MQTT topic."""

    VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> WxStationOptionsFlow:
        return WxStationOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return self.async_show_menu(step_id="user", menu_options=[MODE_TCP, MODE_MQTT])

    async def async_step_tcp(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        return await self._tcp_form("tcp", user_input, DEFAULT_HOST, DEFAULT_PORT)

    # The user's choice of MQTT mode in the menu, not MQTT discovery's step of the
    # same name: the manifest declares no MQTT discovery, so Home Assistant never
    # calls it with an MqttServiceInfo.
    async def async_step_mqtt(  # type: ignore[override]
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            return self.async_abort(reason="mqtt_not_available")
        return await self._mqtt_form("mqtt", user_input, DEFAULT_TOPIC)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        entry = self._get_reconfigure_entry()
        if entry.data[CONF_MODE] == MODE_TCP:
            return await self._tcp_form(
                "reconfigure", user_input, entry.data[CONF_HOST], entry.data[CONF_PORT], entry
            )
        return await self._mqtt_form("reconfigure", user_input, entry.data[CONF_TOPIC], entry)

    async def _tcp_form(
        self,
        step_id: str,
        user_input: dict[str, Any] | None,
        host: str,
        port: int,
        entry: ConfigEntry | None = None,
    ) -> ConfigFlowResult:
        """The direct mode's form, for a new entry or for reconfiguring ``entry``."""
        errors: dict[str, str] = {}
        if user_input is not None:
            host, port = user_input[CONF_HOST].strip(), user_input[CONF_PORT]
            unique_id = f"{MODE_TCP}:{port}"
            await self._claim(unique_id, entry)
            # An entry listens on its own port, so binding it again here would
            # always fail: a new host on the same port is tried by the reload.
            error = (
                None
                if entry is not None and port == entry.data[CONF_PORT]
                else await self.hass.async_add_executor_job(check_bind, host, port)
            )
            if error is None:
                return self._finish(
                    entry, MODE_TCP, unique_id, tcp_title(port), {CONF_HOST: host, CONF_PORT: port}
                )
            errors["base"] = error
        return self.async_show_form(
            step_id=step_id, data_schema=_tcp_schema(host, port), errors=errors
        )

    async def _mqtt_form(
        self,
        step_id: str,
        user_input: dict[str, Any] | None,
        raw: str,
        entry: ConfigEntry | None = None,
    ) -> ConfigFlowResult:
        """The MQTT mode's form, for a new entry or for reconfiguring ``entry``."""
        errors: dict[str, str] = {}
        if user_input is not None:
            raw = user_input[CONF_TOPIC]
            topic = _topic(raw)
            if topic is None:
                errors[CONF_TOPIC] = "invalid_topic"
            else:
                unique_id = f"{MODE_MQTT}:{topic}"
                await self._claim(unique_id, entry)
                return self._finish(
                    entry, MODE_MQTT, unique_id, mqtt_title(topic), {CONF_TOPIC: topic}
                )
        return self.async_show_form(step_id=step_id, data_schema=_mqtt_schema(raw), errors=errors)

    async def _claim(self, unique_id: str, entry: ConfigEntry | None) -> None:
        """Take ``unique_id`` for this flow, ending it if another entry has it
        (an entry being reconfigured keeps its own)."""
        if entry is None or unique_id != entry.unique_id:
            await self.async_set_unique_id(unique_id)
            self._abort_if_unique_id_configured()

    def _finish(
        self,
        entry: ConfigEntry | None,
        mode: str,
        unique_id: str,
        title: str,
        data: dict[str, Any],
    ) -> ConfigFlowResult:
        """Create the entry, or change ``entry`` and end the flow.

        A changed entry is reloaded by its update listener: Home Assistant asks
        an entry with one to reload through it rather than through
        ``async_update_reload_and_abort``. An unchanged entry is not reloaded.
        """
        if entry is None:
            return self.async_create_entry(title=title, data={CONF_MODE: mode, **data})
        self.hass.config_entries.async_update_entry(
            entry, unique_id=unique_id, title=title, data={**entry.data, **data}
        )
        return self.async_abort(reason="reconfigure_successful")


def _known_stations(hass: HomeAssistant, entry: ConfigEntry) -> dict[int, str]:
    """Every station the entry knows of, by device id, with the name it goes by."""
    known: dict[int, str] = {
        int(device): name for device, name in entry.options.get(CONF_STATIONS, {}).items()
    }
    if entry.state is ConfigEntryState.LOADED:
        runtime = entry.runtime_data
        for device_id in runtime.hub.stations:
            known.setdefault(device_id, runtime.hub.name(device_id))
        for device_id in runtime.source.unknown_counts():
            known.setdefault(device_id, "")
    return dict(sorted(known.items()))


class WxStationOptionsFlow(OptionsFlow):
    """Name a station, or change what happens to stations without a name."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        options = ["station", "settings"]
        return self.async_show_menu(step_id="init", menu_options=options)

    async def async_step_station(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            device = str(user_input[CONF_DEVICE_ID]).strip()
            if not device.isdigit() or not 1 <= int(device) <= 255:
                errors[CONF_DEVICE_ID] = "invalid_device_id"
            else:
                stations = dict(self.config_entry.options.get(CONF_STATIONS, {}))
                name = user_input.get(CONF_NAME, "").strip()
                if name:
                    stations[str(int(device))] = name
                else:
                    stations.pop(str(int(device)), None)
                return self.async_create_entry(
                    data={**self.config_entry.options, CONF_STATIONS: stations}
                )
        known = _known_stations(self.hass, self.config_entry)
        choices = [
            SelectOptionDict(value=str(device), label=f"{device}: {name}" if name else str(device))
            for device, name in known.items()
        ]
        schema = vol.Schema(
            {
                vol.Required(CONF_DEVICE_ID): SelectSelector(
                    SelectSelectorConfig(
                        options=choices, custom_value=True, mode=SelectSelectorMode.DROPDOWN
                    )
                ),
                vol.Optional(CONF_NAME, default=""): str,
            }
        )
        return self.async_show_form(step_id="station", data_schema=schema, errors=errors)

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        options = self.config_entry.options
        if user_input is not None:
            try:
                await self.hass.async_add_executor_job(find_parser_class, user_input[CONF_PARSER])
            except ParserLookupError as err:
                errors[CONF_PARSER] = "unknown_parser"
                placeholders["error"] = str(err)
            else:
                return self.async_create_entry(data={**options, **user_input})
        fields: dict[Any, Any] = {}
        if self.config_entry.data[CONF_MODE] == MODE_TCP:
            fields[
                vol.Required(CONF_UNKNOWN, default=options.get(CONF_UNKNOWN, DEFAULT_UNKNOWN))
            ] = SelectSelector(
                SelectSelectorConfig(
                    options=[UNKNOWN_DECODE, UNKNOWN_KEEP],
                    translation_key=CONF_UNKNOWN,
                    mode=SelectSelectorMode.LIST,
                )
            )
        fields[vol.Required(CONF_PARSER, default=options.get(CONF_PARSER, DEFAULT_PARSER))] = str
        return self.async_show_form(
            step_id="settings",
            data_schema=vol.Schema(fields),
            errors=errors,
            description_placeholders=placeholders,
        )
