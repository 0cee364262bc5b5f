"""The MQTT sink: stations' states and batches, the bridge's availability, discovery.

Topics (``<base>`` is ``mqtt.base_topic``, see docs/mqtt.md for the payloads):

- ``<base>/bridge/state``, retained: ``online`` while the bridge is connected,
  ``offline`` when it stops, and ``offline`` as its last will when it dies;
- ``<base>/<device id>/state``, retained: the station's newest sample and health;
- ``<base>/<device id>/availability``, retained: ``online`` or ``offline`` by
  :mod:`wxstation.availability`'s rule, from the bridge's database at every
  connection, with every packet, and from a timer the moment a station is gone;
- ``<base>/<device id>/batch``: every sample of one packet, as it is delivered;
- ``<base>/bridge/storage``, retained: the database against its cap, hourly;
- ``<base>/bridge/problems``, retained: the bridge's problems (see
  :mod:`wxstation.problems`), a JSON list, ``[]`` when there are none;
- Home Assistant device discovery per station (see :mod:`wxstation.discovery`),
  announced again when Home Assistant says ``online`` on ``<prefix>/status``.

The sink delivers; its parts, each built here with what it works with, do the rest:

- :mod:`bridge.sinks.mqtt_connection`: the connection and its reconnect loop;
  :meth:`MqttSink.deliver` fails at once while there is no connection, so the
  runtime keeps the batches in the spool and retries;
- :mod:`bridge.sinks.mqtt_retained`: at every connection, what the broker retains
  for the bridge is read back and set right (only what is missing or out of date
  is published, what belongs to stations no longer served is removed);
- :mod:`bridge.sinks.mqtt_states`: the stations' retained states;
- :mod:`bridge.sinks.mqtt_availability`: their availability, by the
  :class:`~wxstation.availability.AvailabilityTracker`, and its timer;
- :mod:`bridge.sinks.mqtt_announcer`: discovery, and its answer to Home Assistant;
- :mod:`bridge.sinks.mqtt_report`: the database against its cap, and the problems.

The payloads are built by :mod:`wxstation.payloads` and :mod:`wxstation.discovery`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import aiomqtt

from bridge.sinks import Sink, SinkUnavailableError
from bridge.sinks.mqtt_announcer import BIRTH_DELAY_MAX, Announcer
from bridge.sinks.mqtt_availability import AVAILABILITY_RECHECK, StationAvailability
from bridge.sinks.mqtt_connection import ACK_TIMEOUT, Link, MqttConnection
from bridge.sinks.mqtt_report import RetainedReport
from bridge.sinks.mqtt_retained import SCAN_TIMEOUT, RetainedReader, Wanted, reconcile
from bridge.sinks.mqtt_states import StationStates
from wxstation.availability import AvailabilityTracker, LastPacket
from wxstation.capacity import Projection
from wxstation.config import Config, MqttConfig
from wxstation.discovery import AVAILABLE, NOT_AVAILABLE, Topics
from wxstation.payloads import (
    Message,
    capacity_payload,
    encode,
    encode_batch,
    problems_payload,
)
from wxstation.problems import Problem
from wxstation.samples import Batch

__all__ = ["AVAILABILITY_RECHECK", "BIRTH_DELAY_MAX", "RETAINED_QOS", "SCAN_TIMEOUT", "MqttSink"]

#: QoS of the stations' retained state and availability messages in a delivery.
#: Each is superseded by the next, and one that a lost connection took with it
#: is found out of date by the look at what the broker retains at the next
#: connection, and published again: their acknowledgements would only cost (see
#: docs/mqtt.md). Outside a delivery (at a connection, a station gone) they go at
#: the configured QoS.
RETAINED_QOS = 0


class MqttSink(Sink):
    """Publishes batches, states and Home Assistant discovery to an MQTT broker.

    ``clock`` is the wall clock (unix seconds) that stations' availability is
    judged by; ``birth_delay`` and ``recheck`` are the longest waits before
    answering Home Assistant's birth message and between two looks at the
    stations' availability, in seconds.
    """

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
        self.topics = topics = Topics.of(mqtt)
        self.clock = clock
        # The same id every run: a new run takes over a connection the broker still
        # thinks alive (the host lost its network), so that connection's last will
        # is sent then, before this run's "online", and not minutes after it.
        self.connection = connection = MqttConnection(
            mqtt,
            client_id=mqtt.client_id or f"{topics.node}-bridge",
            will=Message(topics.availability, NOT_AVAILABLE.encode(), retain=True),
            prepare=self._prepare,
            on_message=self._receive,
            prepare_timeout=SCAN_TIMEOUT + ACK_TIMEOUT,
        )
        #: Each station's newest packet (from the database, then from deliveries)
        #: and the availability the broker retains (or is being sent).
        self.tracker = tracker = AvailabilityTracker()
        self.retained = RetainedReader(topics, connection.address)
        self.states = StationStates(config, topics, tracker, clock)
        self.availability = StationAvailability(
            tracker, config, topics, connection, self._served, clock=clock, recheck=recheck
        )
        self.announcer = Announcer(
            mqtt, config, topics, connection, self._served, birth_delay=birth_delay
        )
        self.capacity = RetainedReport(topics.capacity, connection, "the database's room")
        # Until the runtime reports, no problem is known: the first connection
        # replaces a list a previous run left with none.
        self.problems = RetainedReport(
            topics.problems, connection, "the bridge's problems", encode(problems_payload([]))
        )

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
            self.tracker.hear(device, packet)

    async def start(self) -> None:
        """Start connecting in the background; deliveries wait in the spool until then."""
        self.connection.start()
        self.availability.start()

    async def stop(self) -> None:
        """Say ``offline`` (a clean disconnect sends no last will) and disconnect."""
        for part in (self.announcer, self.availability, self.capacity, self.problems):
            await part.stop()
        await self.connection.stop()

    def report_capacity(self, projection: Projection) -> None:
        """Publish where the database stands against its cap, retained, when it
        changed; the next connection publishes it when there is none now."""
        self.capacity.report(encode(capacity_payload(projection)))

    def report_problems(self, problems: Sequence[Problem]) -> None:
        """Publish the bridge's problems, retained, when they changed; the next
        connection publishes them when there is none now."""
        self.problems.report(encode(problems_payload(problems)))

    # --- a connection ----------------------------------------------------------

    def _receive(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = message.payload if isinstance(message.payload, bytes) else b""
        if not self.retained.take(topic, payload, message.retain):
            self.announcer.is_birth(topic, payload, message.retain)

    async def _prepare(self, link: Link) -> None:
        """Bring the broker up to date: clean up, say online, announce, restore states."""
        retained = await self.retained.read(link)
        self.states.adopt(retained.states)
        served = self._served()
        self.announcer.retained({})
        self.tracker.assume(retained.availability_of(served))
        plan = reconcile(
            retained,
            Wanted(served, self.announcer.wanted(served), self.states.payloads()),
            self.topics,
        )
        messages = [
            *plan.clear,
            Message(self.topics.availability, AVAILABLE.encode(), retain=True),
            *self.capacity.at_connect(retained.reports.get(self.topics.capacity)),
            *self.problems.at_connect(retained.reports.get(self.topics.problems)),
            *plan.resend,
            *self.availability.messages(served),
        ]
        if self.mqtt.discovery:
            await link.client.subscribe(self.topics.birth, 0, timeout=math.inf)
        await link.publish(messages)
        self.announcer.retained(plan.announced)

    def _served(self) -> set[int]:
        """The stations the bridge publishes for.

        Every configured station, and one that is not configured while the
        bridge decodes it (``unknown_stations: decode``) and it is still sending.
        """
        live = {device for device in self.tracker.live(self.clock()) if self.config.decodes(device)}
        return set(self.config.stations) | self.states.devices() | live

    # --- delivering ------------------------------------------------------------

    async def deliver(self, batches: Sequence[Batch]) -> None:
        """Publish each batch, the stations' newest states and availability, and any
        discovery they need.

        Returns once the broker acknowledged everything (QoS 1 and 2); raises
        :class:`SinkUnavailableError` when not connected or when the connection
        fails meanwhile, and the same batches come again later.
        """
        link = await self.connection.ready_link()
        announced: dict[int, bytes] = {}
        messages: list[Message] = []
        for batch in batches:
            device = batch.device_id
            self.tracker.hear(device, LastPacket(batch.arrival, batch.header.wake_every_s))
            if (announcement := self.announcer.missing(device, announced)) is not None:
                messages.append(announcement)
            messages.append(Message(self.topics.batch(device), encode_batch(batch), retain=False))
        states = self.states.update(batches, RETAINED_QOS)
        messages.extend(states.messages)
        # After the states, so that a station shows its new values as it comes back.
        availability = self.availability.messages(self._served() | states.devices, RETAINED_QOS)
        messages.extend(availability)
        if messages and messages[-1].qos == RETAINED_QOS:
            # The last at the configured QoS: its acknowledgement says the broker
            # has every message before it on this connection, so a delivery that
            # returned is on the broker, states and availability too.
            messages[-1] = replace(messages[-1], qos=None)
        try:
            await self.connection.send(link, messages)
        except SinkUnavailableError:
            self.availability.unsent(availability)
            raise
        self.states.keep(states)
        self.announcer.sent(announced)
