"""Direct mode: stations send their packets to a TCP port inside Home Assistant.

The bridge's :class:`~wxstation.StationListener` reads each connection and
decodes and stamps the packet with the station's clock, so a packet gives the
same samples here as in the bridge. A packet that cannot be decoded (a station
that is not configured while unknown stations are kept, a parser that does not
fit, bad bytes) is the only copy there is: it is kept in storage with the
reason and decoded again whenever the options change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady

from wxstation import (
    Config,
    DecodeResult,
    ListenConfig,
    StationClock,
    StationConfig,
    StationListener,
    StoredPacket,
    UnknownStations,
    default_station_name,
)

from .const import (
    DOMAIN,
    MAX_KEPT_PACKETS,
    SAVE_DELAY,
    UNKNOWN_ISSUE_AFTER,
    UNKNOWN_KEEP,
)
from .hub import WxStationHub, home_assistant_now
from .models import StationReport, resolve_parser
from .repairs import async_create_unknown_station_issue, async_delete_unknown_station_issues
from .storage import EntryStore

_LOGGER = logging.getLogger(__name__)


class DirectSource:
    """Listens for stations and decodes their packets into reports for the hub.

    ``clock`` says when a packet arrived; it is read at each packet, so a test
    may set it to give packets the arrival it wants.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        hub: WxStationHub,
        listen: ListenConfig,
        *,
        unknown: str,
        parser_name: str,
        clock: Callable[[], float] = home_assistant_now,
    ) -> None:
        self.hass = hass
        self.hub = hub
        self.listen = listen
        self.unknown = unknown
        self.parser_name = parser_name
        self.clock = clock
        self.listener: StationListener | None = None
        self.clocks: dict[int, StationClock] = {}
        self.kept: list[StoredPacket] = []
        self._next_id = 1
        #: Packets handled since the start, decoded or kept.
        self.handled = 0
        self._config = Config()
        self._store = EntryStore(hass, hub.entry_id, "packets", clock)

    @property
    def port(self) -> int:
        return self.listener.port if self.listener else self.listen.port

    async def async_start(self) -> None:
        """Load the clocks and kept packets, decode what the options now allow, listen."""
        spec, parser = await self.hass.async_add_executor_job(resolve_parser, self.parser_name)
        self._config = Config(
            listen=self.listen,
            stations={
                int(device): StationConfig(int(device), name, parser)
                for device, name in self.hub.names.items()
                if name
            },
            unknown_stations=UnknownStations(self.unknown, spec),
        )
        data = await self._store.async_load() or {}
        self.clocks = {int(d): StationClock.from_json(c) for d, c in data.get("clocks", {}).items()}
        self._next_id = int(data.get("next_id", 1))
        listener = StationListener(
            self._config,
            self._received,
            clocks=self.clocks,
            next_id=self._next_id,
            clock=lambda: self.clock(),
        )
        kept = [StoredPacket.from_dict(raw) for raw in data.get("kept", [])]
        self.kept = []
        for packet in kept:
            result = listener.decode(packet)
            if result.batch is None:
                _LOGGER.debug("packet %d still kept aside: %s", packet.id, result.kept)
            self._apply(result)
        self._save()
        self._update_issues()
        try:
            await listener.start()
        except OSError as err:
            await self._store.async_save(self._data())
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="cannot_listen",
                translation_placeholders={
                    "host": self.listen.host,
                    "port": str(self.listen.port),
                    "error": err.strerror or str(err),
                },
            ) from err
        self.listener = listener

    async def async_stop(self) -> None:
        if self.listener is not None:
            await self.listener.stop()
            self._next_id = self.listener.next_id
            self.listener = None
        await self._store.async_save(self._data())

    def _data(self) -> dict[str, Any]:
        return {
            "next_id": self.listener.next_id if self.listener else self._next_id,
            "clocks": {str(d): clock.to_json() for d, clock in self.clocks.items()},
            "kept": [p.as_dict() for p in self.kept],
        }

    def _save(self) -> None:
        self._store.async_delay_save(self._data, SAVE_DELAY)

    @callback
    def _received(self, result: DecodeResult) -> None:
        self._apply(result)
        self.handled += 1
        self._save()
        device_id = result.packet.device_id
        if device_id is not None and self._is_unknown(device_id):
            self._update_issues()

    @callback
    def _apply(self, result: DecodeResult) -> None:
        """Report a decoded packet's batch to the hub, or keep the packet aside."""
        batch = result.batch
        if batch is None:
            self._keep(replace(result.packet, state="kept", reason=result.kept))
            return
        station = self._config.station(batch.device_id)
        assert station is not None  # only configured stations are decoded
        self.hub.handle_report(
            StationReport.from_batch(
                batch,
                station.parser.all_fields,
                default_station_name(batch.device_id),
                station.parser.kind,
            )
        )

    def _keep(self, packet: StoredPacket) -> None:
        self.kept.append(packet)
        if len(self.kept) > MAX_KEPT_PACKETS:
            dropped = self.kept.pop(0)
            _LOGGER.warning(
                "more than %d packets kept aside: the oldest (%d from %s, %s) is dropped",
                MAX_KEPT_PACKETS,
                dropped.id,
                dropped.peer,
                dropped.reason,
            )

    def _is_unknown(self, device_id: int) -> bool:
        return self._config.station(device_id) is None

    def unknown_counts(self) -> dict[int, int]:
        """Kept packets per device id that is not configured (policy ``keep``)."""
        counts: dict[int, int] = {}
        for packet in self.kept:
            if packet.device_id is not None and self._is_unknown(packet.device_id):
                counts[packet.device_id] = counts.get(packet.device_id, 0) + 1
        return counts

    def _update_issues(self) -> None:
        counts = {
            device: count
            for device, count in self.unknown_counts().items()
            if count >= UNKNOWN_ISSUE_AFTER and self.unknown == UNKNOWN_KEEP
        }
        for device, count in counts.items():
            async_create_unknown_station_issue(self.hass, self.hub.entry_id, device, count)
        async_delete_unknown_station_issues(self.hass, self.hub.entry_id, keep=set(counts))

    @callback
    def forget(self, device_id: int) -> None:
        self.clocks.pop(device_id, None)
        self._save()

    def diagnostics(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "connections": self.listener.connections if self.listener else 0,
            "clocks": {str(d): clock.clock_factor for d, clock in self.clocks.items()},
            "kept": [p.as_dict() for p in self.kept],
        }
