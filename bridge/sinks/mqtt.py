"""The MQTT sink: stations' states and batches, the bridge's availability, discovery.

Topics (``<base>`` is ``mqtt.base_topic``, see docs/mqtt.md for the payloads):

- ``<base>/bridge/state``, retained: ``online`` while the bridge is connected,
  ``offline`` when it stops, and ``offline`` as its last will when it dies;
- ``<base>/<device id>/state``, retained: the station's newest sample and health;
- ``<base>/<device id>/availability``, retained: ``online`` or ``offline`` by
  :mod:`bridge.availability`'s rule, from the bridge's database at every
  connection, with every packet, and from a timer the moment a station is gone;
- ``<base>/<device id>/batch``: every sample of one packet, as it is delivered;
- ``<base>/bridge/storage``, retained: the database against its cap, hourly;
- Home Assistant device discovery per station (see :mod:`bridge.sinks.discovery`),
  announced again when Home Assistant says ``online`` on ``<prefix>/status``.

The connection and its reconnect loop are :mod:`bridge.sinks.mqtt_connection`;
:meth:`MqttSink.deliver` fails at once while there is no connection, so the
pipeline keeps the batches in the spool and retries. The payloads are built by
:mod:`bridge.sinks.payloads` and :mod:`bridge.sinks.discovery`.

At every connection the sink first reads what the broker retains for it
(discovery, state and availability messages), so it publishes only what is
missing or out of date, and removes what belongs to stations it no longer serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import aiomqtt

from bridge.availability import LastPacket
from bridge.capacity import Projection
from bridge.config import Config, MqttConfig
from bridge.samples import Batch, format_time, parse_time
from bridge.sinks import Sink, SinkUnavailableError
from bridge.sinks.discovery import (
    AVAILABLE,
    NOT_AVAILABLE,
    DiscoveryStation,
    Topics,
    bridge_version,
    device_config,
)
from bridge.sinks.mqtt_connection import ACK_TIMEOUT, Link, MqttConnection
from bridge.sinks.payloads import (
    Message,
    batch_payload,
    capacity_payload,
    encode,
    state_payload,
)

__all__ = ["AVAILABILITY_RECHECK", "BIRTH_DELAY_MAX", "RETAINED_QOS", "SCAN_TIMEOUT", "MqttSink"]

log = logging.getLogger(__name__)

#: Longest random wait, in seconds, between Home Assistant's ``online`` and the
#: announcement that answers it: every publisher on the broker answers the same
#: message, and Home Assistant asks them not to do so all at once.
BIRTH_DELAY_MAX = 5.0
#: Seconds the broker has to send what it retains for the bridge after a subscribe.
SCAN_TIMEOUT = 5.0
#: Longest wait, in seconds, between two looks at the stations' availability.
#: The timer waits for the next station to go, but on the event loop's clock,
#: while the rule's deadlines are wall-clock times: this bounds how late a step
#: of the wall clock (NTP, a machine back from suspend) is noticed.
AVAILABILITY_RECHECK = 60.0
#: QoS of the stations' retained state and availability messages in a delivery.
#: Each is superseded by the next, and one that a lost connection took with it
#: is found out of date by the look at what the broker retains at the next
#: connection, and published again: their acknowledgements would only cost (see
#: docs/mqtt.md). Outside a delivery (at a connection, a station gone) they go at
#: the configured QoS.
RETAINED_QOS = 0


def _parse_time_ms(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_time(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Known:
    """The state the broker retains, or is being sent, for one station."""

    arrival_ms: int
    state: dict[str, Any] | None = None
    payload: bytes | None = None


@dataclass
class _Scan:
    """What the broker retains for the bridge, read at the start of a connection."""

    marker: str
    done: asyncio.Event = field(default_factory=asyncio.Event)
    discovery: dict[int, bytes] = field(default_factory=dict)
    states: dict[int, bytes] = field(default_factory=dict)
    availability: dict[int, bytes] = field(default_factory=dict)


class MqttSink(Sink):
    """Publishes batches, states and Home Assistant discovery to an MQTT broker."""

    name = "mqtt"

    def __init__(
        self,
        mqtt: MqttConfig,
        config: Config,
        *,
        birth_delay: float = BIRTH_DELAY_MAX,
        clock: Callable[[], float] = time.time,
        recheck: float = AVAILABILITY_RECHECK,
    ) -> None:
        self.mqtt = mqtt
        self.config = config
        self.topics = Topics.of(mqtt)
        #: Longest random wait before answering Home Assistant's birth message.
        self.birth_delay = birth_delay
        #: The wall clock that stations' availability is judged by (unix seconds).
        self.clock = clock
        #: Longest wait between two looks at the stations' availability, seconds.
        self.recheck = recheck
        # The same id every run: a new run takes over a connection the broker still
        # thinks alive (the host lost its network), so that connection's last will
        # is sent then, before this run's "online", and not minutes after it.
        self.connection = MqttConnection(
            mqtt,
            client_id=mqtt.client_id or f"{self.topics.node}-bridge",
            will=Message(self.topics.availability, NOT_AVAILABLE.encode(), retain=True),
            prepare=self._prepare,
            on_message=self._receive,
            prepare_timeout=SCAN_TIMEOUT + ACK_TIMEOUT,
        )
        self._version = bridge_version()
        self._known: dict[int, _Known] = {}
        #: Each station's newest packet: from the database, then from deliveries.
        self._heard: dict[int, LastPacket] = {}
        #: The availability the broker retains (or is being sent) per station.
        self._online: dict[int, bool] = {}
        #: Discovery payloads the broker retains, by device id.
        self._announced: dict[int, bytes] = {}
        self._announcement_cache: dict[int, Message | None] = {}
        self._keys_cache: dict[int, list[str]] = {}
        #: What the broker retains for the bridge, while it is being read.
        self._scanning: _Scan | None = None
        self._stop = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None
        self._reannounce: asyncio.Task[None] | None = None
        #: The database against its cap, as last published (or to publish).
        self._capacity: Message | None = None
        self._capacity_sent: bytes | None = None
        self._publish_capacity: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        return self.connection.address

    @property
    def connected(self) -> bool:
        """True once connected, announced and ready to deliver."""
        return self.connection.connected

    # --- lifecycle -------------------------------------------------------------

    def restore(self, last_packets: Mapping[int, LastPacket]) -> None:
        for device, packet in last_packets.items():
            self._hear(device, packet)

    async def start(self) -> None:
        """Start connecting in the background; deliveries wait in the spool until then."""
        if self._watch is None:
            self.connection.start()
            self._watch = asyncio.create_task(self._watch_availability(), name="mqtt availability")

    async def stop(self) -> None:
        """Say ``offline`` (a clean disconnect sends no last will) and disconnect."""
        self._stop.set()
        helpers = [
            task
            for task in (self._reannounce, self._watch, self._publish_capacity)
            if task is not None
        ]
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await self.connection.stop()

    # --- what the broker retains -----------------------------------------------

    def _receive(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = message.payload if isinstance(message.payload, bytes) else b""
        scan = self._scanning
        if scan is not None:
            if topic == scan.marker:
                scan.done.set()
                return
            if message.retain:
                if (device := self.topics.discovered_device(topic)) is not None:
                    scan.discovery[device] = payload
                    return
                if (device := self.topics.state_device(topic)) is not None:
                    scan.states[device] = payload
                    return
                if (device := self.topics.availability_device(topic)) is not None:
                    scan.availability[device] = payload
                    return
        if topic == self.topics.birth and payload == AVAILABLE.encode() and not message.retain:
            self._schedule_reannounce()

    async def _scan(self, link: Link) -> _Scan:
        """Read every retained discovery, state and availability message of the bridge.

        The broker sends what it retains right after a subscription; a message the
        bridge then sends to itself arrives after all of it, so its arrival says
        that everything retained has been read.
        """
        client = link.client
        scan = _Scan(f"{self.topics.base}/bridge/sync/{secrets.token_hex(6)}")
        wanted = [
            self.topics.discoveries,
            self.topics.states,
            self.topics.station_availabilities,
            scan.marker,
        ]
        self._scanning = scan
        try:
            await client.subscribe([(topic, 0) for topic in wanted], timeout=math.inf)
            await client.publish(scan.marker, b"sync", 1, timeout=math.inf)
            try:
                await asyncio.wait_for(scan.done.wait(), SCAN_TIMEOUT)
            except TimeoutError:
                log.warning(
                    "MQTT: %s did not send all its retained messages within %.0f s; "
                    "publishing discovery and states again to be sure",
                    self.address,
                    SCAN_TIMEOUT,
                )
        finally:
            self._scanning = None
        await client.unsubscribe(wanted, timeout=math.inf)
        return scan

    def _adopt(self, scan: _Scan) -> None:
        """Learn the stations the broker holds states of, from an earlier run."""
        now = self.clock()
        for device, payload in scan.states.items():
            if device in self._known:
                continue
            try:
                state = json.loads(payload)
                health = state["health"]
                arrival_ms = _parse_time_ms(health["last_seen"])
                wake = int(health["wake_every"])
            except (ValueError, TypeError, KeyError):
                log.debug("MQTT: ignoring a state of device %d it cannot read", device)
                continue
            if arrival_ms is None or wake <= 0:
                continue
            heard = LastPacket(arrival_ms / 1000, wake)
            # Usually the database has this packet or a newer one; a new database
            # learns the station from here.
            self._hear(device, heard)
            # A station no longer configured is kept only while it is still sending
            # and the bridge still decodes it (unknown_stations: decode).
            if device not in self.config.stations and not (
                heard.available(now) and self.config.station(device) is not None
            ):
                continue
            self._known[device] = _Known(arrival_ms, state, payload)

    async def _prepare(self, link: Link) -> None:
        """Bring the broker up to date: clean up, say online, announce, restore states."""
        client = link.client
        scan = await self._scan(link)
        self._adopt(scan)
        served = self._served()
        self._announced = {}
        self._online = {device: p == AVAILABLE.encode() for device, p in scan.availability.items()}
        announced: dict[int, bytes] = {}
        messages: list[Message] = []
        wanted = self._announcements(served)
        for device, payload in scan.discovery.items():
            if device in wanted:
                announced[device] = payload
            else:
                messages.append(Message(self.topics.discovery(device), b"", retain=True))
                log.info(
                    "MQTT: removing the discovery of device %d (%s)",
                    device,
                    "discovery is off" if device in served else "not configured",
                )
        for device in sorted((scan.states.keys() | scan.availability.keys()) - served):
            log.info("MQTT: removing the state and availability of device %d", device)
            messages.extend(
                Message(topic, b"", retain=True)
                for topic in (self.topics.state(device), self.topics.station_availability(device))
            )
            self._online.pop(device, None)
        messages.append(Message(self.topics.availability, AVAILABLE.encode(), retain=True))
        if self._capacity is not None:
            messages.append(self._capacity)
            self._capacity_sent = self._capacity.payload
        for device, message in wanted.items():
            if announced.get(device) != message.payload:
                messages.append(message)
                announced[device] = message.payload
        for device, known in self._known.items():
            if known.payload is not None and scan.states.get(device) != known.payload:
                messages.append(Message(self.topics.state(device), known.payload, retain=True))
        messages.extend(self._availability_changes(served))
        if self.mqtt.discovery:
            await client.subscribe(self.topics.birth, 0, timeout=math.inf)
        await link.publish(messages)
        self._announced = announced

    # --- availability ----------------------------------------------------------

    def _hear(self, device: int, packet: LastPacket) -> None:
        heard = self._heard.get(device)
        if heard is None or packet.arrival > heard.arrival:
            self._heard[device] = packet

    def _served(self) -> set[int]:
        """The stations the bridge publishes for.

        Every configured station, and one that is not configured while the
        bridge decodes it (``unknown_stations: decode``) and it is still sending.
        """
        now = self.clock()
        live = {
            device
            for device, heard in self._heard.items()
            if heard.available(now) and self.config.station(device) is not None
        }
        return set(self.config.stations) | set(self._known) | live

    def _availability_changes(
        self, devices: Iterable[int], qos: int | None = None
    ) -> list[Message]:
        """The availability messages of ``devices`` whose availability the broker
        lacks, at ``qos`` (None: the configured one)."""
        now = self.clock()
        messages = []
        for device in sorted(devices):
            heard = self._heard.get(device)
            available = heard is not None and heard.available(now)
            before = self._online.get(device)
            if before == available:
                continue
            self._online[device] = available
            payload = AVAILABLE if available else NOT_AVAILABLE
            messages.append(
                Message(
                    self.topics.station_availability(device),
                    payload.encode(),
                    retain=True,
                    qos=qos,
                )
            )
            if before is not None:
                station = self.config.station(device)
                name = f"{station.name} ({device})" if station else f"device {device}"
                if available:
                    log.info("MQTT: %s is reporting again: online", name)
                elif heard is not None:
                    log.info(
                        "MQTT: %s has sent nothing since %s: offline",
                        name,
                        format_time(round(heard.arrival * 1000)),
                    )
        return messages

    def _unsent(self, messages: Iterable[Message]) -> None:
        """Forget the availability of messages that may not have reached the broker."""
        for message in messages:
            if (device := self.topics.availability_device(message.topic)) is not None:
                self._online.pop(device, None)

    def _next_check(self) -> float:
        """Seconds until the next station that is online turns unavailable, at most
        :attr:`recheck`."""
        now = self.clock()
        waits = [
            self._heard[device].unavailable_at - now
            for device, online in self._online.items()
            if online and device in self._heard
        ]
        # A deadline already past is one that could not be published (no
        # connection): the next connection publishes it, or the next look.
        upcoming = [wait for wait in waits if wait > 0]
        return min([*upcoming, self.recheck])

    async def _watch_availability(self) -> None:
        """Say ``offline`` for each station the moment the rule says it is gone."""
        while not self._stop.is_set():
            link = self.connection.link
            if link is not None:
                messages = self._availability_changes(self._served())
                if messages:
                    try:
                        await self.connection.send(link, messages)
                    except SinkUnavailableError as err:
                        self._unsent(messages)
                        log.warning("MQTT: could not publish availability: %s", err.reason)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._next_check())

    # --- the database against its cap --------------------------------------------

    def report_capacity(self, projection: Projection) -> None:
        """Publish where the database stands against its cap, retained, when it
        changed; the next connection publishes it when there is none now."""
        message = Message(self.topics.capacity, encode(capacity_payload(projection)), retain=True)
        self._capacity = message
        if message.payload == self._capacity_sent or self._stop.is_set():
            return
        if self._publish_capacity is None or self._publish_capacity.done():
            self._publish_capacity = asyncio.create_task(self._send_capacity())

    async def _send_capacity(self) -> None:
        link = self.connection.link
        message = self._capacity
        if link is None or message is None:
            return  # the next connection publishes it
        try:
            await self.connection.send(link, [message])
        except SinkUnavailableError as err:
            log.warning("MQTT: could not publish the database's room: %s", err.reason)
            return
        self._capacity_sent = message.payload

    # --- discovery -------------------------------------------------------------

    def _announcement(self, device: int) -> Message | None:
        # The payload depends on nothing else (the config is fixed for a run), and
        # building it for every batch cost as much as the batch's own message.
        if device not in self._announcement_cache:
            station = self.config.station(device)
            self._announcement_cache[device] = (
                None
                if station is None
                else Message(
                    self.topics.discovery(device),
                    encode(
                        device_config(
                            DiscoveryStation.of(station),
                            self.topics,
                            qos=self.mqtt.qos,
                            sw_version=self._version,
                        )
                    ),
                    retain=True,
                )
            )
        return self._announcement_cache[device]

    def _announcements(self, served: Iterable[int]) -> dict[int, Message]:
        """The discovery of every station in ``served``, by device id."""
        if not self.mqtt.discovery:
            return {}
        messages = {device: self._announcement(device) for device in sorted(served)}
        return {device: message for device, message in messages.items() if message is not None}

    def _schedule_reannounce(self) -> None:
        if not self.mqtt.discovery or self._stop.is_set():
            return
        if self._reannounce is None or self._reannounce.done():
            self._reannounce = asyncio.create_task(self._reannounce_later())

    async def _reannounce_later(self) -> None:
        await asyncio.sleep(random.uniform(0, self.birth_delay))  # noqa: S311  (not security)
        link = self.connection.link
        if link is None:
            return  # the next connection announces everything anyway
        wanted = self._announcements(self._served())
        try:
            await self.connection.send(link, list(wanted.values()))
        except SinkUnavailableError as err:
            log.warning("MQTT: could not announce the stations again: %s", err.reason)
            return
        self._announced.update((device, m.payload) for device, m in wanted.items())
        log.info("MQTT: Home Assistant is online; announced %d stations again", len(wanted))

    # --- delivering ------------------------------------------------------------

    async def deliver(self, batches: Sequence[Batch]) -> None:
        """Publish each batch, the stations' newest states and availability, and any
        discovery they need.

        Returns once the broker acknowledged everything (QoS 1 and 2); raises
        :class:`SinkUnavailableError` when not connected or when the connection
        fails meanwhile, and the same batches come again later.
        """
        link = await self.connection.ready_link()
        known = dict(self._known)
        announced: dict[int, bytes] = {}
        states: dict[int, dict[str, Any]] = {}
        messages: list[Message] = []
        for batch in batches:
            device = batch.device_id
            self._hear(device, LastPacket(batch.arrival, batch.header.wake_every_s))
            previous = known.get(device)
            arrival_ms = round(batch.arrival * 1000)
            # Batches come in order, but a packet decoded late (reprocess) carries
            # older samples: the retained state only ever moves forward.
            if previous is None or arrival_ms > previous.arrival_ms:
                state = state_payload(
                    batch, self._keys(device), previous.state if previous else None
                )
                known[device] = _Known(arrival_ms, state)
                if state is not None:
                    states[device] = state
            if self.mqtt.discovery:
                announcement = self._announcement(device)
                current = announced.get(device, self._announced.get(device))
                if announcement is not None and announcement.payload != current:
                    messages.append(announcement)
                    announced[device] = announcement.payload
            messages.append(
                Message(self.topics.batch(device), encode(batch_payload(batch)), retain=False)
            )
        # Each station's newest state only, encoded once per delivery.
        for device, state in states.items():
            payload = encode(state)
            known[device] = replace(known[device], payload=payload)
            messages.append(
                Message(self.topics.state(device), payload, retain=True, qos=RETAINED_QOS)
            )
        # After the states, so that a station shows its new values as it comes back.
        availability = self._availability_changes(self._served() | states.keys(), RETAINED_QOS)
        messages.extend(availability)
        if messages and messages[-1].qos == RETAINED_QOS:
            # The last at the configured QoS: its acknowledgement says the broker
            # has every message before it on this connection, so a delivery that
            # returned is on the broker, states and availability too.
            messages[-1] = replace(messages[-1], qos=None)
        try:
            await self.connection.send(link, messages)
        except SinkUnavailableError:
            self._unsent(availability)
            raise
        self._known.update((device, known[device]) for device in {b.device_id for b in batches})
        self._announced.update(announced)

    def _keys(self, device: int) -> list[str]:
        if device not in self._keys_cache:
            station = self.config.station(device)
            self._keys_cache[device] = [f.key for f in station.parser.all_fields] if station else []
        return self._keys_cache[device]
