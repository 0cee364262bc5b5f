"""MQTT mode: follow a wxstation bridge by its base topic.

The bridge decodes the packets and publishes every sample of each one on
``<base>/<device id>/batch`` (see docs/mqtt.md); this turns those messages into
the same reports the direct mode makes. The bridge delivers at least once, so a batch may come
twice: the hub and the statistics are keyed by sample time and take it once.
Anything with the broker's credentials can publish there: a message is read
with the bounds of what a bridge publishes (:func:`wxstation.decode_batch`),
and one that is refused reaches neither the states nor the statistics; it is
warned about once per topic and problem (:class:`wxstation.Refusals`).

The bridge's database against its cap (``<base>/bridge/storage``, retained)
becomes a repair issue while the bridge says history gives way within 30 days,
and each of the bridge's problems (``<base>/bridge/problems``, retained) a
repair issue of its own while the bridge lists it (see :mod:`.repairs`).

Availability is the bridge's: it owns the rule and publishes each station's
verdict, retained, on ``<base>/<device id>/availability``. A station is
available while that says ``online`` and the bridge's own
``<base>/bridge/state`` does too (a bridge that died says nothing more about
its stations), the same as the entities of the bridge's MQTT discovery. Being
retained, both are right at once after Home Assistant starts.

One station, one device: where Home Assistant reads the bridge's MQTT discovery,
the discovery makes each station's device and sensors. This source reads the
same retained discovery messages (on the prefix Home Assistant's MQTT
integration reads) and tells the hub which stations the bridge shows; the hub
then adds no entities for them and keeps writing their statistics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from homeassistant.components import mqtt
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.util.json import json_loads

from wxstation import (
    AVAILABLE,
    BatchMessage,
    BatchMessageError,
    Field,
    Problem,
    ProblemFormatError,
    Refusals,
    StationParser,
    Topics,
    decode_batch,
    default_station_name,
    read_problems,
)

from .const import DOMAIN
from .handover import bridge_device, mqtt_discovery_prefix
from .hub import WxStationHub
from .models import StationReport, resolve_parser
from .repairs import (
    async_delete_bridge_problem_issues,
    async_delete_capacity_issue,
    async_update_bridge_problem_issues,
    async_update_capacity_issue,
)

_LOGGER = logging.getLogger(__name__)


def batch_report(message: BatchMessage, parser: StationParser) -> StationReport:
    """The report of one batch message, read by :func:`wxstation.decode_batch`.

    Values are presented as the entry's parser describes them; a value it does
    not know gets a plain sensor.
    """
    samples = tuple(sorted(message.samples, key=lambda sample: sample.time_ms))
    known = {field.key: field for field in parser.all_fields}
    present = {key for sample in samples for key in sample.values}
    keys = [key for key in known if key in present]
    keys.extend(sorted(present - set(known)))
    health = message.health
    return StationReport(
        device_id=message.device_id,
        station=message.station or default_station_name(message.device_id),
        arrival=health.last_seen_ms / 1000,
        samples=samples,
        health=health.as_dict(),
        fields=tuple(known.get(key, Field(key)) for key in keys),
        wake_every_s=health.wake_every,
    )


class MqttSource:
    """Subscribes to a bridge's batch and availability topics and hands them to the hub."""

    def __init__(
        self, hass: HomeAssistant, hub: WxStationHub, topic: str, parser_name: str
    ) -> None:
        self.hass = hass
        self.hub = hub
        self.topic = topic.rstrip("/")
        self.topics = Topics(self.topic)
        self.parser_name = parser_name
        self.messages = 0
        self._parser: StationParser | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        #: What the bridge says of itself and of each station: ``online`` or not.
        self._bridge_online = False
        self._station_online: dict[int, bool] = {}
        #: What the bridge's discovery said of each station since the start:
        #: announced (True) or removed (False).
        self._announced: dict[int, bool] = {}
        #: What the bridge last said of its database against its cap.
        self.capacity: dict[str, Any] = {}
        #: What the bridge last said is wrong with it.
        self.problems: list[Problem] = []
        #: The discovery topics read, or None where Home Assistant reads none.
        self._discovery_topic: str | None = None
        #: The batch messages refused, for one warning per topic and problem.
        self.refusals = Refusals()

    @property
    def batch_topic(self) -> str:
        return f"{self.topic}/+/batch"

    async def async_start(self) -> None:
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN, translation_key="mqtt_not_available"
            )
        _, self._parser = await self.hass.async_add_executor_job(resolve_parser, self.parser_name)
        subscriptions = [
            (self.topics.availability, self._bridge_availability),
            (self.topics.station_availabilities, self._station_availability),
            (self.topics.capacity, self._capacity),
            (self.topics.problems, self._problems),
        ]
        prefix = mqtt_discovery_prefix(self.hass)
        if prefix is not None:
            self.topics = Topics(self.topic, prefix)
            self._discovery_topic = self.topics.discoveries
            # Until the retained discovery comes, the devices it made before say
            # which stations it shows: no entities of ours come and go meanwhile.
            for device_id in self.hub.stations:
                self._follow_registry(device_id)
            # Before the batches: a station's discovery comes before its first batch.
            subscriptions.insert(0, (self.topics.discoveries, self._discovery))
            self._unsubscribe.append(
                self.hass.bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, self._device_changed)
            )
        for topic, handler in subscriptions:
            self._unsubscribe.append(await mqtt.async_subscribe(self.hass, topic, handler, qos=1))
        # The batches as bytes: their size is checked before anything reads them.
        self._unsubscribe.append(
            await mqtt.async_subscribe(
                self.hass, self.batch_topic, self._message, qos=1, encoding=None
            )
        )

    async def async_stop(self) -> None:
        while self._unsubscribe:
            self._unsubscribe.pop()()
        async_delete_capacity_issue(self.hass, self.hub.entry_id)
        async_delete_bridge_problem_issues(self.hass, self.hub.entry_id)

    @callback
    def _message(self, message: mqtt.ReceiveMessage) -> None:
        self.messages += 1
        now = self.hub.clock()
        device = self.topics.batch_device(message.topic)
        assert self._parser is not None  # set before subscribing
        try:
            if device is None:
                raise BatchMessageError(
                    "wrong_device", "topic", message.topic, "names no station (1..255)"
                )
            payload = message.payload
            assert isinstance(payload, bytes)  # subscribed without decoding
            batch = decode_batch(payload, now=now, device_id=device)
        except BatchMessageError as err:
            self._refused(message.topic, device, err, now)
            return
        self.hub.handle_report(batch_report(batch, self._parser))

    @callback
    def _refused(self, topic: str, device: int | None, err: BatchMessageError, now: float) -> None:
        """Warn once per topic and problem; a repeat is counted (see :class:`Refusals`)."""
        # One entry per station's topic, and one for every topic that names none.
        unsaid = self.refusals.refused(topic if device is not None else self.batch_topic, err, now)
        if unsaid is None:
            _LOGGER.debug("ignoring the batch message on %s: %s", topic, err)
            return
        again = f" ({unsaid} more since the last warning)" if unsaid else ""
        _LOGGER.warning("ignoring the batch message on %s: %s%s", topic, err, again)

    @callback
    def _capacity(self, message: mqtt.ReceiveMessage) -> None:
        """The bridge's database against its cap: a repair issue while it warns."""
        try:
            report = json_loads(message.payload) if message.payload else {}
        except ValueError as err:
            _LOGGER.warning("ignoring the message on %s: %s", message.topic, err)
            return
        if not isinstance(report, dict):
            _LOGGER.warning("ignoring the message on %s: not a JSON object", message.topic)
            return
        self.capacity = report
        async_update_capacity_issue(self.hass, self.hub.entry_id, report)

    @callback
    def _problems(self, message: mqtt.ReceiveMessage) -> None:
        """The bridge's problems: a repair issue for each while the bridge lists it.

        An empty message (the retained list removed) lists none."""
        try:
            problems = read_problems(json_loads(message.payload)) if message.payload else []
        except (ProblemFormatError, ValueError) as err:
            _LOGGER.warning("ignoring the message on %s: %s", message.topic, err)
            return
        self.problems = problems
        async_update_bridge_problem_issues(self.hass, self.hub.entry_id, problems)

    @callback
    def _discovery(self, message: mqtt.ReceiveMessage) -> None:
        device_id = self.topics.discovered_device(message.topic)
        if device_id is None:
            return  # another bridge's, or another integration's
        # An empty message: the bridge (or the user, deleting the device) removed it.
        announced = bool(message.payload)
        self._announced[device_id] = announced
        if announced:
            self.hub.set_bridge_shows(device_id, True, self.topics.device_key(device_id))
        else:
            # Home Assistant removes the discovery's entities and then its device:
            # the station is shown here once they are gone, so that its entities
            # get their ids back, not ids with a suffix.
            self._follow_registry(device_id)

    @callback
    def _follow_registry(self, device_id: int) -> None:
        """Whether the bridge shows a station, by the devices Home Assistant has."""
        key = self.topics.device_key(device_id)
        self.hub.set_bridge_shows(device_id, bridge_device(self.hass, key) is not None, key)

    @callback
    def _device_changed(self, event: Event[Any]) -> None:
        if event.data.get("action") != "remove":
            return
        # A device the bridge's discovery made was deleted: a station whose
        # discovery is not (or no longer) announced may no longer be shown.
        for device_id in list(self.hub.bridge_shows):
            if not self._announced.get(device_id, False):
                self._follow_registry(device_id)

    @callback
    def _bridge_availability(self, message: mqtt.ReceiveMessage) -> None:
        self._bridge_online = message.payload == AVAILABLE
        for device_id in self._station_online:
            self._tell_hub(device_id)

    @callback
    def _station_availability(self, message: mqtt.ReceiveMessage) -> None:
        device_id = self.topics.availability_device(message.topic)
        if device_id is None:
            return
        # An empty message: the bridge removed the station.
        self._station_online[device_id] = message.payload == AVAILABLE
        self._tell_hub(device_id)

    @callback
    def _tell_hub(self, device_id: int) -> None:
        online = self._bridge_online and self._station_online[device_id]
        self.hub.set_available(device_id, online)

    @callback
    def forget(self, device_id: int) -> None:
        """Nothing per station to drop: the bridge keeps the clocks."""

    def unknown_counts(self) -> dict[int, int]:
        """None here: the bridge decides what happens to stations it does not know."""
        return {}

    def diagnostics(self) -> dict[str, Any]:
        return {
            "topic": self.batch_topic,
            "messages": self.messages,
            "bridge_online": self._bridge_online,
            "stations_online": {str(d): on for d, on in self._station_online.items()},
            "discovery": self._discovery_topic,
            "stations_announced": {str(d): on for d, on in self._announced.items()},
            "bridge_storage": self.capacity,
            "bridge_problems": [problem.as_dict() for problem in self.problems],
            "refused": self.refusals.as_dict(),
        }
