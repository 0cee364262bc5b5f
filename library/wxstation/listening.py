"""The listening sockets: bound as asyncio's servers bind them, and closed
without losing a connection the kernel had taken.

The receiver accepts on them itself (:mod:`wxstation.receiving`), so that
it can bound how many connections it takes per turn of the event loop.
"""

from __future__ import annotations

import ctypes
import logging
import socket
from collections.abc import Sequence

__all__ = ["BACKLOG", "AddressInfo", "bind", "refuse_new_connections"]

log = logging.getLogger(__name__)

#: Pending connections the kernel queues while all slots are busy (a burst of
#: stations waking together).
BACKLOG = 4096

# A classic BPF program for a listening TCP socket, which sees each segment from
# its TCP header on: drop a segment whose flags have SYN without ACK (a new
# connection attempt), keep every other one.
_BPF_LOAD_BYTE, _BPF_AND, _BPF_JUMP_IF_EQUAL, _BPF_RETURN = 0x30, 0x54, 0x15, 0x06
_TCP_FLAGS_OFFSET, _SYN, _ACK = 13, 0x02, 0x10
_SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)


class _BpfInstruction(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _BpfProgram(ctypes.Structure):
    _fields_ = (("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_BpfInstruction)))


def refuse_new_connections(sock: socket.socket) -> bool:
    """Make a listening socket drop new connection attempts and keep serving the
    handshakes under way; False where the system cannot (not Linux)."""
    program = (_BpfInstruction * 5)(
        _BpfInstruction(_BPF_LOAD_BYTE, 0, 0, _TCP_FLAGS_OFFSET),
        _BpfInstruction(_BPF_AND, 0, 0, _SYN | _ACK),
        _BpfInstruction(_BPF_JUMP_IF_EQUAL, 0, 1, _SYN),
        _BpfInstruction(_BPF_RETURN, 0, 0, 0),
        _BpfInstruction(_BPF_RETURN, 0, 0, 0xFFFFFFFF),
    )
    header = _BpfProgram(len(program), program)
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, bytes(header))
    except OSError as err:
        log.debug("cannot filter new connections on %s: %s", sock, err)
        return False
    return True


#: What :func:`socket.getaddrinfo` answers: family, type, protocol, name, address.
AddressInfo = tuple[
    socket.AddressFamily,
    socket.SocketKind,
    int,
    str,
    tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes],
]


def bind(infos: Sequence[AddressInfo], port: int) -> list[socket.socket]:
    """Non-blocking TCP sockets listening on every address of ``infos`` (the
    answer of ``getaddrinfo`` for the host, passive), all on ``port`` (for 0,
    the one the system picked for the first); raises OSError when one cannot
    be bound."""
    bound: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            bound.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # As asyncio does: an IPv6 socket beside an IPv4 one on the same port.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(bound) > 1:
                address = (address[0], bound[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in bound:
            sock.close()
        raise
    return bound
