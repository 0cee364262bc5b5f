"""What becomes of one packet: decoded into a station's batch, or kept aside.

Pure policy, no I/O: the config says which packets are a station's
(:func:`refusal`), :func:`decode_one` decodes and stamps one with its station's
clock, and :func:`log_result` says in one line what it brought. The bridge's
runtime and the Home Assistant integration both decode through here, so a
packet gives the same samples in either.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from wxstation.config import Config
from wxstation.packets import Conflict, StoredPacket
from wxstation.protocol import PacketError, parse_header
from wxstation.samples import Batch, format_time, make_batch
from wxstation.timing import StationClock

__all__ = [
    "REFUSED",
    "UNDECODABLE",
    "DecodeResult",
    "decode_one",
    "log_result",
    "refusal",
    "routine",
]

log = logging.getLogger(__name__)


#: The kinds of reasons a packet is kept aside (:attr:`DecodeResult.kept_kind`).
UNDECODABLE = "undecodable"
REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class DecodeResult:
    """What became of one packet: a batch, or the reason it is kept aside."""

    packet: StoredPacket
    #: Once stored, with only the samples newly stored.
    batch: Batch | None = None
    kept: str | None = None
    #: What kind of reason ``kept`` is, for counting: ``undecodable`` (the
    #: bytes or the parser), ``refused`` (the config does not take the packet
    #: from its address, or has no station for it).
    kept_kind: str | None = None
    #: The batch's sequence number, once it is stored.
    seq: int | None = None
    #: Samples equal to the one already stored with their station and time (not
    #: stored again), and samples different from it (kept aside as conflicts).
    repeated: int = 0
    conflicts: tuple[Conflict, ...] = ()


def refusal(config: Config, host: str, device_id: int) -> str | None:
    """Why a packet of ``device_id`` from ``host`` must not be decoded into a
    station's data, if it must not: the host is outside listen.allowed_networks,
    the station must send from another address, or the config has no station
    for the device (unknown_stations: keep).

    The receiver asks it too, before anything is stored: such packets get the
    bounded room of traffic that is not a station's (see :mod:`wxstation.noise`).
    """
    if not config.listen.allows(host):
        return f"{host} is not in listen.allowed_networks"
    station = config.stations.get(device_id)
    if station is not None and station.address is not None:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address != station.address:
            return (
                f"device {device_id} ({station.name}) must send from {station.address}, "
                f"this came from {host}: fix stations -> {device_id} -> address if it moved"
            )
    if station is None and config.unknown_stations.action != "decode":
        return (
            f"device {device_id} is not configured (unknown_stations: keep): add it "
            "under stations and run 'wxstation-bridge reprocess'"
        )
    return None


def decode_one(
    config: Config, clocks: dict[int, StationClock], packet: StoredPacket
) -> DecodeResult:
    """Decode and stamp one packet, advancing its station's clock in ``clocks``."""
    try:
        device_id = parse_header(packet.data).device_id
    except PacketError as err:
        return DecodeResult(packet, kept=str(err), kept_kind=UNDECODABLE)
    reason = refusal(config, packet.peer_host, device_id)
    station = config.station(device_id)
    if reason is not None or station is None:
        return DecodeResult(
            packet, kept=reason or f"device {device_id} has no station", kept_kind=REFUSED
        )
    clock = clocks.get(device_id, StationClock())
    try:
        batch, after = make_batch(
            station.name,
            station.parser,
            clock,
            packet.data,
            packet.received_at,
            quality=station.quality,
            send_delay=station.send_delay,
        )
    except PacketError as err:
        return DecodeResult(packet, kept=str(err), kept_kind=UNDECODABLE)
    except Exception as err:  # a user's own parser class may fail in any way
        log.exception("parser of device %s failed on packet %s", device_id, packet.id)
        return DecodeResult(
            packet, kept=f"the {station.parser.kind} parser failed: {err!r}", kept_kind=UNDECODABLE
        )
    clocks[device_id] = after
    return DecodeResult(packet, batch=batch)


def routine(result: DecodeResult) -> bool:
    """Whether a packet's one log line is the ordinary one (at INFO): it was
    decoded, and nothing about it is worth a warning."""
    batch = result.batch
    return batch is not None and not (
        batch.cut
        or batch.problems
        or result.conflicts
        or batch.out_of_range
        or batch.shared_id_news
    )


def log_result(result: DecodeResult, level: int | None = None) -> None:
    """One line per packet: what it brought, or why it is kept aside.

    At INFO, and WARNING for what needs a look; or all at ``level`` when given
    (DEBUG where a command counts the packets instead, see :mod:`bridge.offline`).
    """
    packet = result.packet
    batch = result.batch

    def at(usual: int) -> int:
        return usual if level is None else level

    if batch is None:
        log.log(
            at(logging.WARNING),
            "packet %d from %s kept aside: %s",
            packet.id,
            packet.peer,
            result.kept,
        )
        return
    span = ""
    if batch.samples:
        first, last = batch.samples[0].time_ms, batch.samples[-1].time_ms
        span = f" {format_time(first)[11:19]}..{format_time(last)[11:19]}"
    notes = []
    if batch.cut:
        notes.append(f"cut: {batch.received} of {batch.announced} records arrived")
    if batch.resent:
        notes.append(f"{batch.resent} resent, {batch.duplicates} already stored")
    if result.repeated:
        notes.append(f"{result.repeated} samples equal to ones already stored")
    if result.conflicts:
        notes.append(f"{len(result.conflicts)} samples kept aside as conflicts")
    notes.extend(batch.problems)
    if batch.out_of_range:
        notes.append(f"{len(batch.out_of_range)} values out of range, not stored")
    noted = batch.cut or batch.problems or result.conflicts or batch.out_of_range
    log.log(
        at(logging.WARNING if noted else logging.INFO),
        "%s (%d) from %s: %d samples%s every %.1f s, clock %+.2f %%%s",
        batch.station,
        batch.device_id,
        packet.peer,
        len(batch.samples),
        span,
        batch.spacing,
        (batch.clock_factor - 1) * 100,
        f" ({'; '.join(notes)})" if notes else "",
    )
    for one in batch.out_of_range:
        log.log(
            at(logging.WARNING),
            "%s (%d): %s %g at %s is outside its plausible range %g..%g: not stored as a "
            "value (the packet keeps it; fix the range and 'wxstation-bridge reprocess' if "
            "it was real)",
            batch.station,
            batch.device_id,
            one.key,
            one.value,
            format_time(one.time_ms),
            one.low,
            one.high,
        )
    if batch.shared_id_news:
        # News once a station, not a line a packet: at WARNING whatever ``level``.
        log.warning(
            "%s (%d): %d packets of device id %d in the last day came sooner after the one "
            "before than its wake interval (%d s) allows and resent nothing: two stations "
            "seem to send with this device id. Every sample is kept, but their clocks are "
            "not learnt; give each station its own device id",
            batch.station,
            batch.device_id,
            batch.id_clashes,
            batch.device_id,
            batch.header.wake_every_s,
        )
    for conflict in result.conflicts:
        log.log(
            at(logging.WARNING),
            "two different samples of one station and time, %s: the stored one stays, "
            "the other (from packet %d) is kept aside; 'wxstation-bridge status' lists them",
            conflict,
            packet.id,
        )
