"""The stations of one config entry: their newest state, availability, entities, history.

Both sources, the TCP receiver and a bridge followed over MQTT, hand the hub a
:class:`StationReport` per packet; from there on the two modes are the same but
for availability. In direct mode the hub applies the bridge's rule through the
bridge's own :class:`~wxstation.AvailabilityTracker`, once a minute; following a
bridge, it takes the bridge's word, which the source hands over
(:meth:`WxStationHub.set_available`).

Following a bridge, a station whose device the bridge's MQTT discovery already
makes gets no entities from the hub, only statistics (see :mod:`.handover`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from wxstation import AvailabilityChange, AvailabilityTracker, default_station_name, shares_id

from .const import (
    AVAILABILITY_CHECK_INTERVAL,
    SAVE_DELAY,
    signal_new_entities,
    signal_station_updated,
)
from .handover import bridge_devices_of, hand_over
from .models import StationReport, StationState
from .repairs import (
    async_create_duplicate_station_issue,
    async_delete_duplicate_station_issues,
    async_update_shared_id_issue,
)
from .statistics import HourlyStatistics
from .storage import EntryStore

_LOGGER = logging.getLogger(__name__)


def home_assistant_now() -> float:
    """Home Assistant's current time in unix seconds.

    The integration's default clock: read through Home Assistant's own
    ``utcnow`` at every call, so everything that judges time here (arrival of a
    packet, availability, the statistics' hours) follows one clock, the one
    Home Assistant's tests move.
    """
    return dt_util.utcnow().timestamp()


class WxStationHub:
    """Turns reports into station states, entity updates and statistics."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        names: Mapping[str, str],
        clock: Callable[[], float] = home_assistant_now,
        *,
        applies_rule: bool = True,
        follows_bridge: bool = False,
    ) -> None:
        self.hass = hass
        self.entry_id = entry_id
        #: The user's station names, by device id as a string (config entry options).
        self.names = dict(names)
        self.clock = clock
        #: True: the hub judges availability by the rule; False: its source does.
        self.applies_rule = applies_rule
        #: True: the entry follows a bridge (its discovery's devices are the bridge's own).
        self.follows_bridge = follows_bridge
        #: Stations whose device and entities the bridge's MQTT discovery makes.
        self.bridge_shows: set[int] = set()
        self.stations: dict[int, StationState] = {}
        self.statistics = HourlyStatistics(hass, entry_id, clock)
        self._store = EntryStore(hass, entry_id, "stations", clock)
        #: The stations' newest packets and the availability shown of each.
        self._availability = AvailabilityTracker()

    async def async_start(self) -> None:
        data = await self._store.async_load() or {}
        for raw in data.get("stations", []):
            state = StationState.from_dict(raw)
            self.stations[state.device_id] = state
            self._availability.hear(state.device_id, state.last_packet)
        await self.statistics.async_load()
        if self.applies_rule:
            # The first word on each station: its entities start with it.
            self._availability.changes(self.stations, self.clock())

    @callback
    def track_availability(self) -> Callable[[], None]:
        """Apply the rule to every station from now on; returns the way to stop."""
        return async_track_time_interval(
            self.hass, self._check_availability, AVAILABILITY_CHECK_INTERVAL
        )

    @callback
    def track_devices(self) -> Callable[[], None]:
        """Check for stations shown twice whenever a device comes or goes."""

        @callback
        def changed(_event: Event[Any]) -> None:
            self.update_duplicate_issues()

        return self.hass.bus.async_listen(dr.EVENT_DEVICE_REGISTRY_UPDATED, changed)

    async def async_stop(self) -> None:
        await self._store.async_save(self._data())
        await self.statistics.async_save()

    def _data(self) -> dict[str, Any]:
        return {"stations": [state.as_dict() for state in self.stations.values()]}

    def device_identifier(self, device_id: int) -> str:
        """The station's device registry identifier: per entry, by device id."""
        return f"{self.entry_id}_{device_id}"

    def device_id_of(self, identifier: str) -> int | None:
        head, _, device = identifier.rpartition("_")
        if head != self.entry_id or not device.isdigit():
            return None
        return int(device)

    def name(self, device_id: int) -> str:
        """The station's name: the user's, else the one its source reported."""
        given = self.names.get(str(device_id))
        if given:
            return given
        state = self.stations.get(device_id)
        return state.reported_name if state else default_station_name(device_id)

    def available(self, device_id: int) -> bool:
        return self._availability.said(device_id) is True

    def last_seen(self, device_id: int) -> datetime | None:
        state = self.stations.get(device_id)
        if state is None or not state.arrival:
            return None
        return datetime.fromtimestamp(state.arrival).astimezone()

    @callback
    def handle_report(self, report: StationReport) -> None:
        """Take one packet's samples: newest values, new entities, statistics."""
        device_id = report.device_id
        state = self.stations.get(device_id)
        is_new = state is None
        if state is None:
            state = self.stations[device_id] = StationState(device_id, report.station)
        new_keys = [one.key for one in report.fields if one.key not in state.fields]
        # The parser may have changed with the options: its description wins.
        state.fields.update({one.key: one for one in report.fields})
        # A packet that arrives late (a kept packet decoded after newer ones, or a
        # bridge's backlog) adds history but does not turn back the newest state.
        if report.arrival >= state.arrival:
            state.reported_name = report.station
            state.arrival = report.arrival
            state.health = dict(report.health)
            state.wake_every_s = report.wake_every_s
            state.parser = report.parser or state.parser
            if report.samples:
                newest = report.samples[-1]
                state.values = dict(newest.values)
                state.time_ms = newest.time_ms
            async_update_shared_id_issue(
                self.hass,
                self.entry_id,
                device_id,
                self.name(device_id),
                int(report.health["id_clashes"]) if shares_id(report.health) else None,
            )
        self.statistics.add(
            device_id, self.name(device_id), state.fields, report.samples, self.clock()
        )
        self._store.async_delay_save(self._data, SAVE_DELAY)
        # A station the bridge's discovery shows gets no entities here: only its statistics.
        if (is_new or new_keys) and device_id not in self.bridge_shows:
            async_dispatcher_send(
                self.hass, signal_new_entities(self.entry_id), device_id, new_keys, is_new
            )
        self._availability.hear(device_id, state.last_packet)
        if self.applies_rule:
            for change in self._availability.changes([device_id], self.clock()):
                self._log_change(change)
        async_dispatcher_send(self.hass, signal_station_updated(self.entry_id, device_id))
        if is_new:
            self.update_duplicate_issues()

    @callback
    def set_bridge_shows(self, device_id: int, shown: bool, device_key: str) -> None:
        """Say whether the bridge's discovery shows a station (``device_key``, its device).

        Shown: this entry's entities of it go (see :mod:`.handover`). No longer
        shown: the hub shows it again, if it knows it.
        """
        if shown == (device_id in self.bridge_shows):
            return
        if shown:
            self.bridge_shows.add(device_id)
            hand_over(self.hass, self.entry_id, self.device_identifier(device_id), device_key)
        else:
            self.bridge_shows.discard(device_id)
            state = self.stations.get(device_id)
            if state is not None:
                async_dispatcher_send(
                    self.hass,
                    signal_new_entities(self.entry_id),
                    device_id,
                    list(state.fields),
                    True,
                )
        self.update_duplicate_issues()

    @callback
    def update_duplicate_issues(self) -> None:
        """A repair issue for each station this entry shows that a bridge's discovery shows too."""
        twice: dict[int, list[str]] = {}
        for device_id in self.stations:
            if device_id in self.bridge_shows:
                continue
            devices = list(bridge_devices_of(self.hass, device_id))
            if devices:
                twice[device_id] = [d.name_by_user or d.name or "" for d in devices]
        for device_id, names in twice.items():
            async_create_duplicate_station_issue(
                self.hass,
                self.entry_id,
                device_id,
                self.name(device_id),
                ", ".join(sorted(names)),
                following=self.follows_bridge,
            )
        async_delete_duplicate_station_issues(self.hass, self.entry_id, keep=set(twice))

    @callback
    def set_available(self, device_id: int, available: bool) -> None:
        """Take the source's word for a station's availability (following a bridge)."""
        change = self._availability.take_word(device_id, available)
        if change is not None:
            self._log_change(change)
            async_dispatcher_send(self.hass, signal_station_updated(self.entry_id, device_id))

    @callback
    def _check_availability(self, _now: datetime | None = None) -> None:
        for change in self._availability.changes(self.stations, self.clock()):
            self._log_change(change)
            async_dispatcher_send(
                self.hass, signal_station_updated(self.entry_id, change.device_id)
            )

    def _log_change(self, change: AvailabilityChange) -> None:
        """Say in the log that a station shown before changed its availability."""
        device_id = change.device_id
        if change.before is None or device_id not in self.stations:
            return
        name = self.name(device_id)
        if change.available:
            _LOGGER.info("%s (%d) is reporting again", name, device_id)
        elif self.applies_rule:
            _LOGGER.info(
                "%s (%d) has sent nothing since %s: missed wake-ups, shown as unavailable",
                name,
                device_id,
                self.last_seen(device_id),
            )
        else:
            _LOGGER.info(
                "%s (%d) is unavailable: the bridge says it is gone, or the bridge is "
                "(last seen %s)",
                name,
                device_id,
                self.last_seen(device_id),
            )

    @callback
    def forget(self, device_id: int) -> None:
        """Drop a station the user removed; it comes back when it reports again."""
        async_update_shared_id_issue(self.hass, self.entry_id, device_id, "", None)
        self.stations.pop(device_id, None)
        self._availability.forget(device_id)
        self.statistics.forget(device_id)
        self._store.async_delay_save(self._data, SAVE_DELAY)
        self.update_duplicate_issues()

    def diagnostics(self) -> dict[str, Any]:
        return {
            "stations": {
                str(device_id): {
                    **state.as_dict(),
                    "available": self.available(device_id),
                    "shown_by_bridge_discovery": device_id in self.bridge_shows,
                    "hour_samples": self.statistics.hour_samples(device_id),
                }
                for device_id, state in self.stations.items()
            }
        }
