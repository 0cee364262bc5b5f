"""A station's decoded packets decoded again, after its config changed.

Calibration, ranges and the parser apply when a packet is decoded; the packet's
bytes are kept, so after a config change the station's stored samples can be
made again. The timing rule is a function of the station's packets in the
order they were decoded (see :mod:`wxstation.timing`): replaying all of them from
the first, with a new clock, gives every sample the time it was given then, so
the new samples replace the old ones at the same times (InfluxDB overwrites its
points) as long as ``send_delay`` is unchanged.

Pure: packets in, batches out; the database work is the spool's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wxstation.config import Config
from wxstation.decoding import decode_one
from wxstation.packets import StoredPacket
from wxstation.samples import Batch
from wxstation.timing import StationClock

__all__ = ["Replay", "replay_station"]


@dataclass(frozen=True, slots=True)
class Replay:
    """What decoding a station's packets again gave."""

    #: The packets that arrived in the range, by id, with their new batches.
    batches: tuple[tuple[int, Batch], ...]
    #: Packets in the range the config no longer decodes (with the reason):
    #: they keep their samples as they are.
    refused: tuple[tuple[int, str], ...]


def replay_station(
    config: Config,
    packets: Iterable[StoredPacket],
    *,
    since: float | None = None,
    until: float | None = None,
) -> Replay:
    """Decode a station's ``packets`` again, in the order they were first decoded,
    and return the batches of those that arrived in [``since``, ``until``)."""
    clocks: dict[int, StationClock] = {}
    batches = []
    refused = []
    for packet in packets:
        result = decode_one(config, clocks, packet)
        in_range = (since is None or packet.received_at >= since) and (
            until is None or packet.received_at < until
        )
        if not in_range:
            continue
        if result.batch is None:
            refused.append((packet.id, result.kept or "not decoded"))
        else:
            batches.append((packet.id, result.batch))
    return Replay(tuple(batches), tuple(refused))
