"""The MQTT sink's connection to the broker: connecting, reconnecting, publishing.

One task owns the broker connection and reconnects with backoff; it never
touches receiving. Each connection is a :class:`Link` from CONNACK until it is
lost or closed. The sink says what to do with a fresh link before it serves
deliveries (``prepare``) and what to do with each message the broker sends
(``on_message``); :meth:`MqttConnection.ready_link` fails at once while there
is no connection, so the runtime keeps the batches in the spool and retries.

Outside deliveries, the sink's parts publish through
:meth:`MqttConnection.publish_now`, each from a :class:`Background` task of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import aiomqtt

from bridge.backoff import Backoff
from bridge.sinks import SinkUnavailableError
from wxstation.config import MqttConfig
from wxstation.payloads import Message

__all__ = [
    "ACK_TIMEOUT",
    "MAX_INFLIGHT",
    "READY_WAIT",
    "RECONNECT_MAX",
    "RECONNECT_MIN",
    "SOCKET_OPTIONS",
    "STOP_TIMEOUT",
    "Background",
    "Link",
    "MqttConnection",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds between connection attempts: doubling from the first to the last,
#: each up to 20 % shorter or longer at random.
RECONNECT_MIN = 0.5
RECONNECT_MAX = 60.0
RECONNECT_JITTER = 0.2
#: Seconds a delivery waits for a connection attempt already under way.
READY_WAIT = 5.0
#: Seconds the broker has to acknowledge everything one delivery published.
ACK_TIMEOUT = 30.0
#: Seconds the bridge takes at shutdown to say ``offline`` and disconnect.
STOP_TIMEOUT = 5.0
#: Nagle's algorithm off on the bridge's side: a delivery ends with its one
#: acknowledged message written right after the retained states, which the broker
#: does not acknowledge; with Nagle on, that last message waited for the broker's
#: delayed TCP ACK, up to 40 ms, in a delivery that otherwise takes a few.
SOCKET_OPTIONS = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
#: QoS 1 messages the client sends before it waits for acknowledgements (paho's
#: default is 20): a delivery of up to a sink's batch limit (200 batches) goes out
#: at once instead of in windows of 20, a round trip each.
MAX_INFLIGHT = 1000


class Link:
    """One connection to the broker, from CONNACK until it is lost or closed."""

    def __init__(self, client: aiomqtt.Client, qos: int) -> None:
        self.client = client
        self.qos = qos
        self.lost = asyncio.Event()
        self.error: Exception | None = None

    def failure(self) -> aiomqtt.MqttError:
        return aiomqtt.MqttError(f"connection lost: {self.error or 'closed'}")

    async def while_connected(self, work: Awaitable[T]) -> T:
        """Await ``work`` unless the connection is lost first (then raise at once)."""
        task = asyncio.ensure_future(work)
        lost = asyncio.create_task(self.lost.wait())
        try:
            done, _ = await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not task.done():
                task.cancel()
        if task in done:
            return task.result()
        await asyncio.gather(task, return_exceptions=True)
        raise self.failure()

    async def publish(self, messages: Sequence[Message]) -> None:
        """Publish ``messages`` in order and wait for all their acknowledgements."""
        # Each call hands its message to the client at once; the acknowledgements
        # are awaited together.
        await asyncio.gather(
            *(
                self.client.publish(
                    m.topic,
                    m.payload,
                    self.qos if m.qos is None else min(m.qos, self.qos),
                    retain=m.retain,
                    timeout=math.inf,
                )
                for m in messages
            )
        )


class Background:
    """At most one task at a time of one kind of work, cancelled for good at :meth:`stop`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def run(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start ``work`` unless it is running already or the work has stopped."""
        if self._stopped or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.create_task(work(), name=self.name)

    async def stop(self) -> None:
        """Cancel the running task and start no other."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class MqttConnection:
    """Keeps one connection to the broker of ``mqtt`` while started.

    ``will`` is the bridge's last will, also published when it leaves on purpose
    (a clean disconnect sends no will). ``prepare`` brings a fresh link up to date
    within ``prepare_timeout`` seconds before deliveries may use it;
    ``on_message`` sees every message the broker sends.
    """

    def __init__(
        self,
        mqtt: MqttConfig,
        *,
        client_id: str,
        will: Message,
        prepare: Callable[[Link], Awaitable[None]],
        on_message: Callable[[aiomqtt.Message], None],
        prepare_timeout: float,
    ) -> None:
        self.mqtt = mqtt
        self.client_id = client_id
        self._will = will
        self._prepare = prepare
        self._on_message = on_message
        self._prepare_timeout = prepare_timeout
        self._link: Link | None = None
        #: Set while no connection attempt is under way (connected, or waiting to retry).
        self._settled = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_attempt: float | None = None
        self._sessions = 0
        self._failing = False
        self._last_error = "not connected yet"

    @property
    def address(self) -> str:
        return f"{self.mqtt.host}:{self.mqtt.port}"

    @property
    def link(self) -> Link | None:
        """The connection deliveries may use, once prepared; None meanwhile."""
        return self._link

    @property
    def connected(self) -> bool:
        """True once connected, prepared and ready to deliver."""
        return self._link is not None and not self._link.lost.is_set()

    def start(self) -> None:
        """Start connecting in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="mqtt connection")

    async def stop(self) -> None:
        """Publish the will's message and disconnect; stop reconnecting."""
        self._stop.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, STOP_TIMEOUT + ACK_TIMEOUT)
        except TimeoutError:
            log.warning("MQTT: the connection to %s did not close in time", self.address)

    async def _run(self) -> None:
        backoff = Backoff(RECONNECT_MIN, RECONNECT_MAX, RECONNECT_JITTER)
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
                backoff.reset()
            wait = backoff.jittered(backoff.step())
            self._next_attempt = loop.time() + wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), wait)

    def _client(self) -> aiomqtt.Client:
        mqtt = self.mqtt
        tls = (
            aiomqtt.TLSParameters(
                ca_certs=mqtt.ca_certs, certfile=mqtt.certfile, keyfile=mqtt.keyfile
            )
            if mqtt.tls
            else None
        )
        will = self._will
        client = aiomqtt.Client(
            mqtt.host,
            mqtt.port,
            username=mqtt.username,
            password=mqtt.password,
            identifier=self.client_id,
            will=aiomqtt.Will(will.topic, will.payload, mqtt.qos, retain=will.retain),
            keepalive=mqtt.keepalive,
            tls_params=tls,
            tls_insecure=mqtt.tls_insecure if mqtt.tls else None,
            socket_options=SOCKET_OPTIONS,
            max_inflight_messages=MAX_INFLIGHT,
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
        link = Link(client, self.mqtt.qos)
        reader = asyncio.create_task(self._read(link), name="mqtt reader")
        try:
            try:
                await asyncio.wait_for(
                    link.while_connected(self._prepare(link)), self._prepare_timeout
                )
            except TimeoutError as err:
                raise aiomqtt.MqttError(
                    f"no answer within {self._prepare_timeout:.0f} s after connecting"
                ) from err
            self._link = link
            self._settled.set()
            self._sessions += 1
            again = self._sessions > 1
            self._failing = False
            log.info(
                "MQTT: connected to %s%s",
                self.address,
                " again" if again else f" as {self.client_id}",
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
                    link.while_connected(
                        client.publish(
                            self._will.topic,
                            self._will.payload,
                            self.mqtt.qos,
                            retain=self._will.retain,
                            timeout=math.inf,
                        ),
                    ),
                    STOP_TIMEOUT,
                )
        finally:
            self._link = None
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read(self, link: Link) -> None:
        try:
            async for message in link.client.messages:
                self._on_message(message)
        except aiomqtt.MqttError as err:
            # aiomqtt says only that iteration stopped; the cause says why.
            cause = err.__cause__
            link.error = cause if isinstance(cause, Exception) else err
        finally:
            link.lost.set()

    async def ready_link(self) -> Link:
        """The link to deliver on, after waiting a little for an attempt under way;
        raises :class:`SinkUnavailableError` when there is none."""
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

    async def publish_now(self, messages: Sequence[Message], what: str) -> bool:
        """Publish ``messages`` (``what`` names them in a warning) if connected;
        True once the broker has them. Without a connection, False at once: the
        next connection's ``prepare`` publishes what the broker lacks."""
        link = self._link
        if link is None:
            return False
        try:
            await self.send(link, messages)
        except SinkUnavailableError as err:
            log.warning("MQTT: could not publish %s: %s", what, err.reason)
            return False
        return True

    async def send(self, link: Link, messages: Sequence[Message]) -> None:
        """Publish ``messages`` on ``link`` and wait for the broker's acknowledgements;
        raises :class:`SinkUnavailableError` when that fails or takes too long."""
        try:
            await asyncio.wait_for(link.while_connected(link.publish(messages)), ACK_TIMEOUT)
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
