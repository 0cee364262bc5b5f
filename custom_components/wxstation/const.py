"""Names, defaults and limits of the wxstation integration, each in one place."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

DOMAIN: Final = "wxstation"

#: Config entry data: where the stations' packets come from.
CONF_MODE: Final = "mode"
MODE_TCP: Final = "tcp"
MODE_MQTT: Final = "mqtt"
#: The wxstation bridge's MQTT base topic (its ``mqtt.base_topic``).
CONF_TOPIC: Final = "topic"
DEFAULT_TOPIC: Final = "wxstation"
#: Listen on every interface, as the bridge does: stations are on the LAN.
DEFAULT_HOST: Final = "0.0.0.0"

#: Options: a name per device id (a named station is a configured one), what to
#: do with stations that are not configured, and the parser they are decoded with.
CONF_STATIONS: Final = "stations"
CONF_UNKNOWN: Final = "unknown_stations"
CONF_PARSER: Final = "parser"
UNKNOWN_DECODE: Final = "decode"
UNKNOWN_KEEP: Final = "keep"
DEFAULT_UNKNOWN: Final = UNKNOWN_DECODE
DEFAULT_PARSER: Final = "reference"

STORAGE_VERSION: Final = 1
#: What an entry stores, each part by the module that owns it: station states
#: (hub), recent samples by hour (statistics), clocks and kept packets (TCP).
STORAGE_PARTS: Final = ("stations", "hours", "packets")
#: Seconds a change waits before it is written: packets arrive in bursts when
#: stations wake together, and one write covers the burst. Short, because a
#: packet read off the socket is the only copy there is.
SAVE_DELAY: Final = 1.0

#: Undecodable packets kept for a later try. A station sends one an hour, so this
#: is weeks of one misconfigured station, and bounded against a flood.
MAX_KEPT_PACKETS: Final = 500
#: Packets from an unconfigured station (policy ``keep``) before a repair issue
#: asks the user to add it: one stray packet is not worth a notification.
UNKNOWN_ISSUE_AFTER: Final = 3

#: How often direct mode applies the availability rule (library/wxstation/availability.py)
#: to every station: a minute late at most, against hours of a station's silence.
AVAILABILITY_CHECK_INTERVAL: Final = timedelta(minutes=1)

#: Samples of an hour are kept this long after the hour last got a sample, so
#: the next packet, which completes the hour, is averaged with them.
STATISTICS_MEMORY: Final = timedelta(hours=48)


def signal_new_entities(entry_id: str) -> str:
    """Dispatcher signal: a station reported fields that have no entity yet."""
    return f"{DOMAIN}_new_entities_{entry_id}"


def signal_station_updated(entry_id: str, device_id: int) -> str:
    """Dispatcher signal: a station's values or availability changed."""
    return f"{DOMAIN}_station_updated_{entry_id}_{device_id}"


def storage_key(entry_id: str, part: str) -> str:
    """The storage file of one part of an entry's state (see :data:`STORAGE_PARTS`)."""
    return f"{DOMAIN}.{entry_id}.{part}"
