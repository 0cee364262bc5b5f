"""The station's wire format: the 9-byte header and the limits of a real packet.

Pure code: bytes in, values or a :class:`PacketError` out. No sockets, clocks or I/O.
See docs/protocol.md for the layout this follows.
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass

from wxstation.errors import WxStationError

__all__ = [
    "BYTES_PER_SAMPLE_AT",
    "BYTES_READY_AT",
    "DEFAULT_MEASURE_EVERY_S",
    "DEFAULT_WAKE_EVERY_S",
    "DEVICE_ID_AT",
    "HEADER",
    "HEADER_SIZE",
    "MAX_INTERVAL_S",
    "MAX_PACKET_SIZE",
    "MAX_PAYLOAD_SIZE",
    "MAX_RECORDS",
    "MEASURE_EVERY_AT",
    "SENSOR_COUNT_AT",
    "WAKE_EVERY_AT",
    "Header",
    "PacketError",
    "announced_size",
    "claimed_device",
    "parse_header",
    "screen",
]

HEADER = struct.Struct("<HHHBBB")
HEADER_SIZE = HEADER.size  # 9: the ESP sends the header without its struct padding
#: Where each of the header's fields starts, in bytes (docs/protocol.md): a
#: :class:`PacketError` points at the field that is wrong.
BYTES_READY_AT = 0
WAKE_EVERY_AT = 2
MEASURE_EVERY_AT = 4
BYTES_PER_SAMPLE_AT = 6
DEVICE_ID_AT = 7
SENSOR_COUNT_AT = 8

#: The firmware's intervals, in seconds, unless it is built with others: a
#: wake-up (and packet) an hour, a sample every two minutes. A station counts as
#: waking this often until its first packet says, and the simulator's stations do.
DEFAULT_WAKE_EVERY_S = 3600
DEFAULT_MEASURE_EVERY_S = 120

# The ATtiny's sample store holds at most 350 bytes; the ESP sends exactly what it
# holds, so no station packet carries more payload than this.
MAX_PAYLOAD_SIZE = 350
MAX_PACKET_SIZE = HEADER_SIZE + MAX_PAYLOAD_SIZE
#: The most records (and so samples) one packet can hold: a record is at least
#: one byte, since ``bytes_per_sample`` is never 0.
MAX_RECORDS = MAX_PAYLOAD_SIZE
#: The longest wake or measure interval a header can announce: both are u16 seconds.
MAX_INTERVAL_S = 0xFFFF


class PacketError(WxStationError, ValueError):
    """A packet the bridge refuses to decode.

    ``reason`` says what is wrong in words a person can act on; ``offset`` is the
    byte the problem starts at, where there is one; ``device_id`` is the station
    the packet claims to come from, once the header could be read.
    """

    def __init__(
        self, reason: str, *, offset: int | None = None, device_id: int | None = None
    ) -> None:
        self.reason = reason
        self.offset = offset
        self.device_id = device_id
        where = f" (byte {offset})" if offset is not None else ""
        who = f"device {device_id}: " if device_id is not None else ""
        super().__init__(f"{who}{reason}{where}")


@dataclass(frozen=True, slots=True)
class Header:
    """The header every station packet starts with."""

    bytes_ready: int
    wake_every_s: int
    measure_every_s: int
    bytes_per_sample: int
    device_id: int
    sensor_count: int

    @property
    def announced_records(self) -> int:
        """Number of sample records the header announces."""
        return self.bytes_ready // self.bytes_per_sample

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def claimed_device(data: bytes) -> int | None:
    """The device id ``data`` claims, once its byte arrived, whether or not the
    rest of the header holds; None when fewer bytes arrived."""
    return data[DEVICE_ID_AT] if len(data) > DEVICE_ID_AT else None


def announced_size(data: bytes | bytearray) -> int | None:
    """The whole packet's size in bytes as its header announces it, once the
    header is in; None before. A connection's packet is complete when this many
    bytes arrived, however the network split them."""
    if len(data) < HEADER_SIZE:
        return None
    return HEADER_SIZE + int(HEADER.unpack_from(data)[0])


def parse_header(data: bytes) -> Header:
    """Read and check the header of everything one connection delivered.

    Checks what holds for every station whatever its sensors: the header is
    complete, its intervals and record size are not zero, the announced payload
    fits the station's store and is a whole number of records, and no more bytes
    arrived than were announced. Fewer bytes than announced is a cut packet, which
    is not an error here: its complete records are real samples.
    """
    if not data:
        raise PacketError("no bytes at all: the connection closed before sending anything")
    if len(data) < HEADER_SIZE:
        raise PacketError(
            f"fewer than {HEADER_SIZE} header bytes: only {len(data)} arrived", offset=len(data)
        )
    header = Header(*HEADER.unpack_from(data))
    device = header.device_id
    if data[:HEADER_SIZE] == b"\xff" * HEADER_SIZE:
        raise PacketError(
            "all-0xFF header (bytes_ready 65535): the ESP read nothing from the ATtiny "
            "(the pattern of a failed I2C read); check the station's wiring and power",
            offset=BYTES_READY_AT,
        )
    if len(data) > MAX_PACKET_SIZE:
        raise PacketError(
            f"{len(data)} bytes; a station sends at most {MAX_PACKET_SIZE}: not a station packet",
            offset=MAX_PACKET_SIZE,
            device_id=device,
        )
    if header.bytes_ready > MAX_PAYLOAD_SIZE:
        raise PacketError(
            f"bytes_ready {header.bytes_ready} is more than a station can store "
            f"({MAX_PAYLOAD_SIZE})",
            offset=BYTES_READY_AT,
            device_id=device,
        )
    for name, offset in (
        ("wake_every_s", WAKE_EVERY_AT),
        ("measure_every_s", MEASURE_EVERY_AT),
        ("bytes_per_sample", BYTES_PER_SAMPLE_AT),
    ):
        if getattr(header, name) == 0:
            raise PacketError(f"{name} is 0", offset=offset, device_id=device)
    if header.bytes_ready % header.bytes_per_sample:
        raise PacketError(
            f"{header.bytes_ready} payload bytes cannot hold "
            f"{header.bytes_per_sample}-byte records",
            offset=BYTES_READY_AT,
            device_id=device,
        )
    payload = len(data) - HEADER_SIZE
    if payload > header.bytes_ready:
        raise PacketError(
            f"more bytes than bytes_ready announces ({payload} > {header.bytes_ready}): "
            "not what a station sends",
            offset=HEADER_SIZE + header.bytes_ready,
            device_id=device,
        )
    return header


def screen(data: bytes | bytearray, *, complete: bool = False) -> str | None:
    """Why these bytes cannot be a station's packet, or None while they can be.

    ``data`` is what a connection has sent so far; with ``complete`` it is all
    it sent. Called as bytes arrive, it answers as early as they allow: once the
    header is in (an impossible header), or once more bytes arrived than the
    header announces or than a station can send. A cut packet whose header is
    in is still a station's: its complete records are real samples. It does not
    look at the device id beyond the header's range (1..255): whether the bridge
    knows the station is the config's question, not the bytes'.
    """
    if len(data) < HEADER_SIZE and not complete:
        return None
    try:
        header = parse_header(bytes(data))
    except PacketError as err:
        return str(err)
    if header.device_id == 0:
        return "device id 0: a station's id is 1..255"
    return None
