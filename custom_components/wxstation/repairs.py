"""Repair issues: a station that keeps sending while it is not configured, a
station shown twice, two stations that send with one device id, and a
followed bridge whose database nears its cap.

With unknown stations kept aside, a new station's packets pile up unseen; after
a few the user is asked to name it, which configures it and decodes its kept
packets.

A station that this integration shows while a wxstation bridge's MQTT discovery
shows it too is two devices for one station; where the integration cannot
hand it over (see :mod:`.handover`), the issue says what to change.

A bridge publishes where its database stands against its cap (retained, on
``<base>/bridge/storage``); while it says that decoded history gives way
within 30 days, or already does, the entry that follows it shows an issue with
the projection and what gives way. Stations that send to Home Assistant
directly have no such cap: their samples are in Home Assistant's own database.

A bridge publishes what is wrong with it that a person must put right
(retained, on ``<base>/bridge/problems``: a weather network refusing its key,
a failing disk); the entry that follows it shows one issue per problem, in
the bridge's words, and removes those the bridge no longer lists. An entry
whose own storage cannot be written (the files under ``.storage`` that hold
the stations' clocks, kept packets and recent samples, see :mod:`.storage`)
shows an issue of that part until a write succeeds again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from homeassistant.components.repairs import RepairsFlow
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from wxstation import Problem, default_station_name

from .compat import vol
from .const import CONF_STATIONS, DOMAIN

if TYPE_CHECKING:
    from .compat import RepairsFlowResult


def _issue_prefix(entry_id: str) -> str:
    return f"unknown_station_{entry_id}_"


def _entry_name(hass: HomeAssistant, entry_id: str) -> str:
    """The entry as its issues name it: its title, or its id once it is gone."""
    entry = hass.config_entries.async_get_entry(entry_id)
    return entry.title if entry else entry_id


@callback
def async_create_unknown_station_issue(
    hass: HomeAssistant, entry_id: str, device_id: int, packets: int
) -> None:
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"{_issue_prefix(entry_id)}{device_id}",
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="unknown_station",
        translation_placeholders={
            "device_id": str(device_id),
            "packets": str(packets),
            "entry": _entry_name(hass, entry_id),
        },
        data={"entry_id": entry_id, "device_id": device_id},
    )


@callback
def async_delete_unknown_station_issues(
    hass: HomeAssistant, entry_id: str, keep: Collection[int] = ()
) -> None:
    """Delete this entry's unknown-station issues but those of ``keep``."""
    _delete_issues(hass, _issue_prefix(entry_id), keep)


def _duplicate_prefix(entry_id: str) -> str:
    return f"duplicate_station_{entry_id}_"


@callback
def async_create_duplicate_station_issue(
    hass: HomeAssistant,
    entry_id: str,
    device_id: int,
    station: str,
    bridge_devices: str,
    *,
    following: bool,
) -> None:
    """The station is shown by this entry and by a bridge's discovery (``bridge_devices``)."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"{_duplicate_prefix(entry_id)}{device_id}",
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="duplicate_station_mqtt" if following else "duplicate_station_tcp",
        translation_placeholders={
            "device_id": str(device_id),
            "station": station,
            "bridge_devices": bridge_devices,
        },
    )


@callback
def async_delete_duplicate_station_issues(
    hass: HomeAssistant, entry_id: str, keep: Collection[int] = ()
) -> None:
    """Delete this entry's shown-twice issues but those of ``keep``."""
    _delete_issues(hass, _duplicate_prefix(entry_id), keep)


def _shared_id_prefix(entry_id: str) -> str:
    return f"shared_id_{entry_id}_"


@callback
def async_update_shared_id_issue(
    hass: HomeAssistant, entry_id: str, device_id: int, station: str, clashes: int | None
) -> None:
    """Say that two stations send with ``device_id`` (``clashes`` packets in a day
    contradicted its wake interval, see ``wxstation.timing``), or, with None, that
    they no longer do."""
    issue_id = f"{_shared_id_prefix(entry_id)}{device_id}"
    if clashes is None:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="shared_id",
        translation_placeholders={
            "device_id": str(device_id),
            "station": station,
            "count": str(clashes),
        },
    )


def _capacity_issue(entry_id: str) -> str:
    return f"bridge_storage_{entry_id}"


@callback
def async_update_capacity_issue(
    hass: HomeAssistant, entry_id: str, report: Mapping[str, Any]
) -> None:
    """Show or clear the issue of the followed bridge's database against its cap,
    by the bridge's report (``wxstation.payloads.capacity_payload``)."""
    if not report.get("warning"):
        ir.async_delete_issue(hass, DOMAIN, _capacity_issue(entry_id))
        return
    placeholders = {
        "used": str(report.get("used_mb")),
        "cap": str(report.get("cap_mb")),
        "oldest": str(report.get("oldest_history") or "-"),
    }
    if report.get("at_cap"):
        key = "bridge_at_cap"
    else:
        key = "bridge_nears_cap"
        placeholders |= {
            "per_day": str(report.get("growth_mb_per_day")),
            "days": str(report.get("days_left")),
            "date": str(report.get("reaches_cap")),
        }
    ir.async_create_issue(
        hass,
        DOMAIN,
        _capacity_issue(entry_id),
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=key,
        translation_placeholders=placeholders,
    )


@callback
def async_delete_shared_id_issues(
    hass: HomeAssistant, entry_id: str, keep: Collection[int] = ()
) -> None:
    """Delete this entry's shared-id issues but those of ``keep``."""
    _delete_issues(hass, _shared_id_prefix(entry_id), keep)


@callback
def async_delete_capacity_issue(hass: HomeAssistant, entry_id: str) -> None:
    ir.async_delete_issue(hass, DOMAIN, _capacity_issue(entry_id))


def _bridge_problem_prefix(entry_id: str) -> str:
    return f"bridge_problem_{entry_id}_"


@callback
def async_update_bridge_problem_issues(
    hass: HomeAssistant, entry_id: str, problems: Iterable[Problem]
) -> None:
    """One issue per problem the followed bridge lists now, in its words; the
    issues of problems it no longer lists go."""
    prefix = _bridge_problem_prefix(entry_id)
    keys = set()
    for problem in problems:
        keys.add(problem.key)
        ir.async_create_issue(
            hass,
            DOMAIN,
            f"{prefix}{problem.key}",
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="bridge_problem",
            translation_placeholders={
                "title": problem.title,
                "message": problem.message,
                "action": problem.action,
                "since": _moment(problem.since),
            },
        )
    _delete_issues(hass, prefix, keys)


@callback
def async_delete_bridge_problem_issues(hass: HomeAssistant, entry_id: str) -> None:
    _delete_issues(hass, _bridge_problem_prefix(entry_id), ())


def _storage_prefix(entry_id: str) -> str:
    return f"storage_failed_{entry_id}_"


@callback
def async_create_storage_issue(
    hass: HomeAssistant, entry_id: str, part: str, path: str, error: str, since: float
) -> None:
    """Say that the entry's storage ``part`` cannot be written to ``path`` (the
    system's ``error``) since ``since`` (unix seconds)."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"{_storage_prefix(entry_id)}{part}",
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key="storage_failed",
        translation_placeholders={
            "entry": _entry_name(hass, entry_id),
            "path": path,
            "error": error,
            "since": _moment(since),
        },
    )


@callback
def async_delete_storage_issue(hass: HomeAssistant, entry_id: str, part: str) -> None:
    """The entry's storage ``part`` is written again, or the entry is gone."""
    ir.async_delete_issue(hass, DOMAIN, f"{_storage_prefix(entry_id)}{part}")


def _moment(unix: float) -> str:
    """A moment as the issues show it: UTC to the second, as the bridge's log does."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _delete_issues(hass: HomeAssistant, prefix: str, keep: Collection[int | str]) -> None:
    """Delete the issues whose ids start with ``prefix`` but those ending in one of ``keep``."""
    kept = {str(one) for one in keep}
    for domain, issue_id in list(ir.async_get(hass).issues):
        if domain != DOMAIN or not issue_id.startswith(prefix):
            continue
        if issue_id.removeprefix(prefix) not in kept:
            ir.async_delete_issue(hass, DOMAIN, issue_id)


class UnknownStationRepairFlow(RepairsFlow):
    """Name the station, which adds it to the entry's configured stations."""

    def __init__(self, entry_id: str, device_id: int) -> None:
        self._entry_id = entry_id
        self._device_id = device_id

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        return await self.async_step_name()

    async def async_step_name(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        if user_input is not None:
            name = user_input[CONF_NAME].strip() or default_station_name(self._device_id)
            stations = {**entry.options.get(CONF_STATIONS, {}), str(self._device_id): name}
            self.hass.config_entries.async_update_entry(
                entry, options={**entry.options, CONF_STATIONS: stations}
            )
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="name",
            data_schema=vol.Schema(
                {vol.Required(CONF_NAME, default=default_station_name(self._device_id)): str}
            ),
            description_placeholders={"device_id": str(self._device_id)},
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    assert data is not None  # every issue of this integration carries its station
    return UnknownStationRepairFlow(str(data["entry_id"]), int(data["device_id"]))
