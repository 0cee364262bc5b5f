"""The MQTT sink: stations' states and batches, the bridge's availability, discovery.

Topics (``<base>`` is ``mqtt.base_topic``, see docs/mqtt.md for the payloads):

- ``<base>/bridge/state``, retained: ``online`` while the bridge is connected,
  ``offline`` when it stops, and ``offline`` as its last will when it dies;
- ``<base>/<device id>/state``, retained: the station's newest sample and health;
- ``<base>/<device id>/batch``: every sample of one packet, as it is delivered;
- Home Assistant device discovery per station (see :mod:`bridge.sinks.discovery`),
  announced again when Home Assistant says ``online`` on ``<prefix>/status``.

One connection task owns the broker connection and reconnects with backoff; it
never touches receiving, and :meth:`MqttSink.deliver` fails at once while there
is no connection, so the pipeline keeps the batches in the spool and retries.

At every connection the sink first reads what the broker retains for it (state
and discovery messages), so it publishes only what is missing or out of date:
republishing an unchanged state would restart Home Assistant's ``expire_after``
clock and show a station that has gone quiet as available again. The same read
finds discovery messages of stations no longer configured, which it removes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import secrets
import sys
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import aiomqtt

from bridge.config import Config, MqttConfig
from bridge.samples import Batch, format_time
from bridge.sinks import Sink, SinkUnavailableError
from bridge.sinks.discovery import (
    AVAILABLE,
    FIRMWARE_WAKE_EVERY_S,
    NOT_AVAILABLE,
    DiscoveryStation,
    Topics,
    bridge_version,
    device_config,
    expire_after,
)

__all__ = [
    "BIRTH_DELAY_MAX",
    "MqttSink",
    "batch_payload",
    "encode",
    "state_payload",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Longest random wait, in seconds, between Home Assistant's ``online`` and the
#: announcement that answers it: every publisher on the broker answers the same
#: message, and Home Assistant asks them not to do so all at once.
BIRTH_DELAY_MAX = 5.0
#: Seconds between connection attempts: doubling from the first to the last.
RECONNECT_MIN = 0.5
RECONNECT_MAX = 60.0
#: Seconds a delivery waits for a connection attempt already under way.
READY_WAIT = 5.0
#: Seconds the broker has to acknowledge everything one delivery published.
ACK_TIMEOUT = 30.0
#: Seconds the broker has to send what it retains for the bridge after a subscribe.
SCAN_TIMEOUT = 5.0
#: Seconds the bridge takes at shutdown to say ``offline`` and disconnect.
STOP_TIMEOUT = 5.0


# --- payloads ------------------------------------------------------------------


def encode(data: dict[str, Any]) -> bytes:
    """JSON as the sink publishes it: compact, UTF-8 (units like ``°C`` as they are)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def state_payload(
    batch: Batch, keys: Sequence[str], previous: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The station's retained state once ``batch`` arrived.

    The newest sample's time and values, with every key the station reports
    present (``null`` when the newest sample lacks it, so Home Assistant shows
    "unknown" rather than an old value), and the station's health under
    ``health``. A packet without new samples keeps the ``previous`` values and
    updates the health; without previous values there is no state to give.
    """
    if batch.samples:
        newest = batch.samples[-1]
        reading: dict[str, Any] = {"time": format_time(newest.time_ms)}
        reading.update(dict.fromkeys(keys))
        reading.update(newest.values)
    elif previous is not None:
        reading = {key: value for key, value in previous.items() if key != "health"}
    else:
        return None
    reading["health"] = batch.health()
    return reading


def batch_payload(batch: Batch) -> dict[str, Any]:
    """Everything one packet brought: each sample with its time, header and health."""
    return {
        "device_id": batch.device_id,
        "station": batch.station,
        "header": batch.header.as_dict(),
        "health": batch.health(),
        "problems": list(batch.problems),
        "samples": [sample.as_dict() for sample in batch.samples],
    }


def _parse_time_ms(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        return round(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        return None


# --- the sink ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Message:
    topic: str
    payload: bytes
    retain: bool


@dataclass(frozen=True, slots=True)
class _Known:
    """What the broker retains, or is being sent, for one station."""

    arrival_ms: int
    wake_every_s: int
    state: dict[str, Any] | None = None
    payload: bytes | None = None


@dataclass
class _Scan:
    """What the broker retains for the bridge, read at the start of a connection."""

    marker: str
    done: asyncio.Event = field(default_factory=asyncio.Event)
    discovery: dict[int, bytes] = field(default_factory=dict)
    states: dict[int, bytes] = field(default_factory=dict)


class _Link:
    """One connection to the broker, from CONNACK until it is lost or closed."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.lost = asyncio.Event()
        self.error: Exception | None = None
        self.scan: _Scan | None = None

    def failure(self) -> aiomqtt.MqttError:
        return aiomqtt.MqttError(f"connection lost: {self.error or 'closed'}")


class MqttSink(Sink):
    """Publishes batches, states and Home Assistant discovery to an MQTT broker."""

    name = "mqtt"

    def __init__(
        self, mqtt: MqttConfig, config: Config, *, birth_delay: float = BIRTH_DELAY_MAX
    ) -> None:
        self.mqtt = mqtt
        self.config = config
        self.topics = Topics.of(mqtt)
        #: Longest random wait before answering Home Assistant's birth message.
        self.birth_delay = birth_delay
        # The same id every run: a new run takes over a connection the broker still
        # thinks alive (the host lost its network), so that connection's last will
        # is sent then, before this run's "online", and not minutes after it.
        self._client_id = mqtt.client_id or f"{self.topics.node}-bridge"
        self._version = bridge_version()
        self._known: dict[int, _Known] = {}
        #: Discovery payloads the broker retains, by device id.
        self._announced: dict[int, bytes] = {}
        self._announcement_cache: dict[tuple[int, int], _Message | None] = {}
        self._keys_cache: dict[int, list[str]] = {}
        self._link: _Link | None = None
        #: Set while no connection attempt is under way (connected, or waiting to retry).
        self._settled = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reannounce: asyncio.Task[None] | None = None
        self._next_attempt: float | None = None
        self._sessions = 0
        self._failing = False
        self._last_error = "not connected yet"

    @property
    def address(self) -> str:
        return f"{self.mqtt.host}:{self.mqtt.port}"

    @property
    def connected(self) -> bool:
        """True once connected, announced and ready to deliver."""
        return self._link is not None and not self._link.lost.is_set()

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in the background; deliveries wait in the spool until then."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="mqtt connection")

    async def stop(self) -> None:
        """Say ``offline`` (a clean disconnect sends no last will) and disconnect."""
        self._stop.set()
        if self._reannounce is not None:
            self._reannounce.cancel()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, STOP_TIMEOUT + ACK_TIMEOUT)
        except TimeoutError:
            log.warning("MQTT: the connection to %s did not close in time", self.address)

    async def _run(self) -> None:
        delay = RECONNECT_MIN
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            self._settled.clear()
            self._next_attempt = None
            sessions = self._sessions
            try:
                async with self._client() as client:
                    await self._session(client)
            except aiomqtt.MqttError as err:
                self._note_failure(err)
            except Exception as err:  # a bug here must not end publishing for good
                log.exception("MQTT: unexpected error on the connection to %s", self.address)
                self._note_failure(err)
            finally:
                self._settled.set()
            if self._stop.is_set():
                return
            if self._sessions != sessions:
                delay = RECONNECT_MIN
            wait = delay * random.uniform(0.8, 1.2)  # noqa: S311  (jitter, not security)
            self._next_attempt = loop.time() + wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)
            delay = min(delay * 2, RECONNECT_MAX)

    def _client(self) -> aiomqtt.Client:
        mqtt = self.mqtt
        tls = (
            aiomqtt.TLSParameters(
                ca_certs=mqtt.ca_certs, certfile=mqtt.certfile, keyfile=mqtt.keyfile
            )
            if mqtt.tls
            else None
        )
        client = aiomqtt.Client(
            mqtt.host,
            mqtt.port,
            username=mqtt.username,
            password=mqtt.password,
            identifier=self._client_id,
            will=aiomqtt.Will(self.topics.availability, NOT_AVAILABLE, mqtt.qos, retain=True),
            keepalive=mqtt.keepalive,
            tls_params=tls,
            tls_insecure=mqtt.tls_insecure if mqtt.tls else None,
        )
        # A delivery publishes all its messages at once and waits for all the
        # acknowledgements under one deadline; many pending calls are the plan.
        client.pending_calls_threshold = sys.maxsize
        return client

    def _note_failure(self, err: Exception) -> None:
        self._last_error = str(err) or type(err).__name__
        if self._failing:
            log.debug("MQTT: still cannot connect to %s: %s", self.address, self._last_error)
            return
        self._failing = True
        log.warning(
            "MQTT: cannot connect to %s: %s; retrying in the background",
            self.address,
            self._last_error,
        )

    async def _session(self, client: aiomqtt.Client) -> None:
        """Prepare a fresh connection, serve it until it is lost or the sink stops."""
        link = _Link(client)
        reader = asyncio.create_task(self._read(link), name="mqtt reader")
        try:
            try:
                await asyncio.wait_for(
                    self._while_connected(link, self._prepare(link)), SCAN_TIMEOUT + ACK_TIMEOUT
                )
            except TimeoutError as err:
                raise aiomqtt.MqttError(
                    f"no answer within {SCAN_TIMEOUT + ACK_TIMEOUT:.0f} s after connecting"
                ) from err
            self._link = link
            self._settled.set()
            self._sessions += 1
            again = self._sessions > 1
            self._failing = False
            log.info(
                "MQTT: connected to %s%s",
                self.address,
                " again" if again else f" as {self._client_id}",
            )
            stopping = asyncio.create_task(self._stop.wait())
            try:
                await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
            if link.lost.is_set():
                self._failing = True
                log.warning(
                    "MQTT: lost the connection to %s (%s); reconnecting",
                    self.address,
                    link.error or "closed",
                )
                raise link.failure()
            # Leaving on purpose: a clean disconnect sends no last will, so say it.
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await asyncio.wait_for(
                    self._while_connected(
                        link,
                        client.publish(
                            self.topics.availability,
                            NOT_AVAILABLE,
                            self.mqtt.qos,
                            retain=True,
                            timeout=math.inf,
                        ),
                    ),
                    STOP_TIMEOUT,
                )
        finally:
            self._link = None
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read(self, link: _Link) -> None:
        try:
            async for message in link.client.messages:
                self._receive(link, message)
        except aiomqtt.MqttError as err:
            # aiomqtt says only that iteration stopped; the cause says why.
            cause = err.__cause__
            link.error = cause if isinstance(cause, Exception) else err
        finally:
            link.lost.set()

    async def _while_connected(self, link: _Link, work: Awaitable[T]) -> T:
        """Await ``work`` unless the connection is lost first (then raise at once)."""
        task = asyncio.ensure_future(work)
        lost = asyncio.create_task(link.lost.wait())
        try:
            done, _ = await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not task.done():
                task.cancel()
        if task in done:
            return task.result()
        await asyncio.gather(task, return_exceptions=True)
        raise link.failure()

    # --- what the broker retains -----------------------------------------------

    def _receive(self, link: _Link, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = message.payload if isinstance(message.payload, bytes) else b""
        scan = link.scan
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
        if topic == self.topics.birth and payload == AVAILABLE.encode() and not message.retain:
            self._schedule_reannounce()

    async def _scan(self, link: _Link) -> _Scan:
        """Read every retained discovery and state message that concerns the bridge.

        The broker sends what it retains right after a subscription; a message the
        bridge then sends to itself arrives after all of it, so its arrival says
        that everything retained has been read.
        """
        client = link.client
        scan = _Scan(f"{self.topics.base}/bridge/sync/{secrets.token_hex(6)}")
        wanted = [self.topics.discoveries, self.topics.states, scan.marker]
        link.scan = scan
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
            link.scan = None
        await client.unsubscribe(wanted, timeout=math.inf)
        return scan

    def _adopt(self, scan: _Scan) -> None:
        """Learn the stations the broker holds states of, from an earlier run."""
        now_ms = time.time() * 1000
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
            live = now_ms < arrival_ms + expire_after(wake) * 1000
            # A station no longer configured is kept only while it is still sending
            # and the bridge still decodes it (unknown_stations: decode).
            if device not in self.config.stations and not (
                live and self.config.station(device) is not None
            ):
                continue
            self._known[device] = _Known(arrival_ms, wake, state, payload)

    async def _prepare(self, link: _Link) -> None:
        """Bring the broker up to date: clean up, say online, announce, restore states."""
        client = link.client
        scan = await self._scan(link)
        self._adopt(scan)
        self._announced = {}
        announced: dict[int, bytes] = {}
        messages: list[_Message] = []
        wanted = self._announcements()
        for device, payload in scan.discovery.items():
            if device in wanted:
                announced[device] = payload
            else:
                messages.append(_Message(self.topics.discovery(device), b"", retain=True))
                log.info(
                    "MQTT: removing the discovery of device %d (%s)",
                    device,
                    "not configured" if self.mqtt.discovery else "discovery is off",
                )
        messages.append(_Message(self.topics.availability, AVAILABLE.encode(), retain=True))
        for device, message in wanted.items():
            if announced.get(device) != message.payload:
                messages.append(message)
                announced[device] = message.payload
        for device, known in self._known.items():
            if known.payload is not None and scan.states.get(device) != known.payload:
                messages.append(_Message(self.topics.state(device), known.payload, retain=True))
        if self.mqtt.discovery:
            await client.subscribe(self.topics.birth, 0, timeout=math.inf)
        await self._publish(link, messages)
        self._announced = announced

    # --- discovery -------------------------------------------------------------

    def _announcement(self, device: int, known: dict[int, _Known]) -> _Message | None:
        wake = known[device].wake_every_s if device in known else FIRMWARE_WAKE_EVERY_S
        key = (device, wake)
        # The payload depends on nothing else (the config is fixed for a run), and
        # building it for every batch cost as much as the batch's own message.
        if key not in self._announcement_cache:
            station = self.config.station(device)
            self._announcement_cache[key] = (
                None
                if station is None
                else _Message(
                    self.topics.discovery(device),
                    encode(
                        device_config(
                            DiscoveryStation.of(station, wake),
                            self.topics,
                            qos=self.mqtt.qos,
                            sw_version=self._version,
                        )
                    ),
                    retain=True,
                )
            )
        return self._announcement_cache[key]

    def _announcements(self) -> dict[int, _Message]:
        """The discovery of every station the bridge serves, by device id."""
        if not self.mqtt.discovery:
            return {}
        devices = sorted(set(self.config.stations) | set(self._known))
        messages = {device: self._announcement(device, self._known) for device in devices}
        return {device: message for device, message in messages.items() if message is not None}

    def _schedule_reannounce(self) -> None:
        if not self.mqtt.discovery or self._stop.is_set():
            return
        if self._reannounce is None or self._reannounce.done():
            self._reannounce = asyncio.create_task(self._reannounce_later())

    async def _reannounce_later(self) -> None:
        await asyncio.sleep(random.uniform(0, self.birth_delay))  # noqa: S311  (not security)
        link = self._link
        if link is None:
            return  # the next connection announces everything anyway
        wanted = self._announcements()
        try:
            await self._send(link, list(wanted.values()))
        except SinkUnavailableError as err:
            log.warning("MQTT: could not announce the stations again: %s", err.reason)
            return
        self._announced.update((device, m.payload) for device, m in wanted.items())
        log.info("MQTT: Home Assistant is online; announced %d stations again", len(wanted))

    # --- delivering ------------------------------------------------------------

    async def deliver(self, batches: Sequence[Batch]) -> None:
        """Publish each batch, the stations' newest states and any discovery they need.

        Returns once the broker acknowledged everything (QoS 1 and 2); raises
        :class:`SinkUnavailableError` when not connected or when the connection
        fails meanwhile, and the same batches come again later.
        """
        link = await self._ready_link()
        known = dict(self._known)
        announced: dict[int, bytes] = {}
        states: dict[int, bytes] = {}
        messages: list[_Message] = []
        for batch in batches:
            device = batch.device_id
            previous = known.get(device)
            arrival_ms = round(batch.arrival * 1000)
            # Batches come in order, but a packet decoded late (reprocess) carries
            # older samples: the retained state only ever moves forward.
            if previous is None or arrival_ms > previous.arrival_ms:
                state = state_payload(
                    batch, self._keys(device), previous.state if previous else None
                )
                payload = encode(state) if state is not None else None
                known[device] = _Known(arrival_ms, batch.header.wake_every_s, state, payload)
                if payload is not None:
                    states[device] = payload
            if self.mqtt.discovery:
                announcement = self._announcement(device, known)
                current = announced.get(device, self._announced.get(device))
                if announcement is not None and announcement.payload != current:
                    messages.append(announcement)
                    announced[device] = announcement.payload
            messages.append(
                _Message(self.topics.batch(device), encode(batch_payload(batch)), retain=False)
            )
        messages.extend(
            _Message(self.topics.state(device), payload, retain=True)
            for device, payload in states.items()
        )
        await self._send(link, messages)
        self._known.update((device, known[device]) for device in {b.device_id for b in batches})
        self._announced.update(announced)

    def _keys(self, device: int) -> list[str]:
        if device not in self._keys_cache:
            station = self.config.station(device)
            self._keys_cache[device] = [f.key for f in station.parser.all_fields] if station else []
        return self._keys_cache[device]

    async def _ready_link(self) -> _Link:
        if self._link is None and self._task is not None and not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settled.wait(), READY_WAIT)
        link = self._link
        if link is None or link.lost.is_set():
            raise SinkUnavailableError(
                f"not connected to the MQTT broker at {self.address}: {self._last_error}",
                retry_after=self._retry_hint(),
            )
        return link

    def _retry_hint(self) -> float | None:
        """Seconds until the next connection attempt has had time to succeed."""
        if self._next_attempt is None:
            return None
        remaining = self._next_attempt - asyncio.get_running_loop().time()
        return max(remaining, 0.0) + RECONNECT_MIN

    async def _send(self, link: _Link, messages: Sequence[_Message]) -> None:
        try:
            await asyncio.wait_for(
                self._while_connected(link, self._publish(link, messages)), ACK_TIMEOUT
            )
        except TimeoutError as err:
            raise SinkUnavailableError(
                f"the MQTT broker at {self.address} did not acknowledge "
                f"{len(messages)} messages within {ACK_TIMEOUT:.0f} s"
            ) from err
        except aiomqtt.MqttError as err:
            raise SinkUnavailableError(
                f"publishing to the MQTT broker at {self.address} failed: {err}",
                retry_after=self._retry_hint(),
            ) from err

    async def _publish(self, link: _Link, messages: Sequence[_Message]) -> None:
        # Published in order (each call hands its message to the client at once);
        # the acknowledgements are awaited together.
        await asyncio.gather(
            *(
                link.client.publish(
                    m.topic, m.payload, self.mqtt.qos, retain=m.retain, timeout=math.inf
                )
                for m in messages
            )
        )
