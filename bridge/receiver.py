"""The TCP side: one connection is one packet.

A station connects, writes its packet and closes. The receiver reads until the
peer closes, goes silent, or sends more than any station could, and hands
whatever it read to the pipeline, which commits it before anything else
happens. A misbehaving connection is closed and logged with its peer and the
reason; it never holds up another.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable

from bridge.config import ListenConfig
from bridge.protocol import HEADER, HEADER_SIZE, MAX_PACKET_SIZE
from bridge.spool import Received

__all__ = ["CONNECTION_DEADLINE", "MAX_CAPTURE", "Receiver", "format_peer"]

log = logging.getLogger(__name__)

#: Bytes kept of a connection that sends more than a station can: enough to
#: see what it was, bounded so a flood cannot fill the spool.
MAX_CAPTURE = 4096
#: Seconds a connection may last in all. A station is done in well under a
#: second; a peer trickling bytes to stay under the read timeout is cut here.
CONNECTION_DEADLINE = 30.0
#: Bytes asked of the socket per read.
READ_CHUNK = 4096
#: Pending connections the kernel queues while all slots are busy (a burst of
#: stations waking together).
BACKLOG = 4096


#: Seconds a listening socket that is about to close gives handshakes under
#: way to finish: a handshake takes milliseconds on a LAN, more over weak WiFi.
HANDSHAKE_GRACE = 0.25

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


def format_peer(address: object) -> str:
    """``host:port`` for IPv4, ``[host]:port`` for IPv6."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


def _expected_size(data: bytes | bytearray) -> int | None:
    """Bytes the header announces, once the header is in."""
    if len(data) < HEADER_SIZE:
        return None
    return HEADER_SIZE + int(HEADER.unpack_from(data)[0])


class Receiver:
    """Listens for stations and hands each connection's bytes to ``submit``."""

    def __init__(
        self,
        listen: ListenConfig,
        submit: Callable[[Received], Awaitable[None]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.listen = listen
        self.submit = submit
        self.clock = clock
        self._slots = asyncio.Semaphore(listen.max_connections)
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.port: int = listen.port
        self.paused: str | None = None
        self.connections = 0

    async def start(self) -> None:
        """Bind and listen; raises OSError when the address cannot be bound."""
        self._server = await asyncio.start_server(
            self._accept,
            self.listen.host,
            self.port,
            backlog=BACKLOG,
            reuse_address=True,
        )
        bound = self._server.sockets[0].getsockname()
        self.port = int(bound[1])

    async def pause(self, reason: str) -> None:
        """Stop accepting: stations then keep their samples and try again later."""
        if self.paused is not None or self._server is None:
            self.paused = reason
            return
        self.paused = reason
        log.error("not accepting packets: %s", reason)
        await self._close_server()

    async def resume(self) -> None:
        if self.paused is None:
            return
        try:
            await self.start()
        except OSError as err:
            log.error("cannot listen again on port %d (%s); will retry", self.port, err)
            return
        log.warning("accepting packets again (was: %s)", self.paused)
        self.paused = None

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting and let connections in progress finish."""
        await self._close_server()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=grace)

    async def _close_server(self) -> None:
        """Stop listening, and serve the connections the kernel had already accepted.

        Closing a listening socket resets the connections waiting in its backlog,
        and a station whose write the kernel had already taken counts its packet
        as delivered: those are taken off the backlog first and served like any
        other. New connections are refused from then on, so stations keep their
        samples.
        """
        server, self._server = self._server, None
        if server is None:
            return
        # The event loop accepts a connection in one step and sets it up in a
        # later one, which fails silently once the server is closed: stop it
        # accepting, then let the connections it has accepted be set up.
        loop = asyncio.get_running_loop()
        for listener in server.sockets:
            loop.remove_reader(listener.fileno())
            # A connection whose handshake the kernel has not finished when the
            # socket closes is reset, though its station has sent its packet:
            # new ones are dropped (their stations try again, find the port
            # closed and keep their samples) while those under way finish.
            with socket.socket(fileno=os.dup(listener.fileno())) as raw:
                refuse_new_connections(raw)
        await asyncio.sleep(HANDSHAKE_GRACE)
        waiting = []
        for listener in server.sockets:
            # A duplicate of the listening socket, for accept(): the server's own
            # is wrapped. It shares the listening socket's non-blocking mode.
            with socket.socket(fileno=os.dup(listener.fileno())) as raw:
                while True:
                    try:
                        connection, _ = raw.accept()
                    except OSError:  # BlockingIOError once the backlog is empty
                        break
                    waiting.append(connection)
        server.close()
        for connection in waiting:
            task = asyncio.create_task(self._adopt(connection))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        await server.wait_closed()

    async def _adopt(self, connection: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=connection)
        except OSError:
            connection.close()
            return
        await self._accept(reader, writer)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            async with self._slots:
                await self._serve(reader, writer)
        finally:
            if task is not None:
                self._handlers.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = format_peer(writer.get_extra_info("peername"))
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections += 1
        data, problem = await self._read(reader)
        arrival = self.clock()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        if not data:
            log.debug("%s closed without sending anything (%s)", peer, problem or "no data")
            return
        if problem:
            log.warning("%s: %s after %d bytes; kept for decoding", peer, problem, len(data))
        await self.submit(Received(bytes(data), arrival, peer))

    async def _read(self, reader: asyncio.StreamReader) -> tuple[bytearray, str | None]:
        """Read one packet: until the announced length, EOF, silence, the deadline, or
        too many bytes."""
        data = bytearray()
        deadline = time.monotonic() + CONNECTION_DEADLINE
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return data, f"still sending after {CONNECTION_DEADLINE:.0f} s"
            try:
                chunk = await asyncio.wait_for(
                    reader.read(READ_CHUNK), min(self.listen.read_timeout, remaining)
                )
            except TimeoutError:
                return data, f"silent for {self.listen.read_timeout:g} s"
            except (ConnectionError, OSError) as err:
                return data, f"connection failed ({err.__class__.__name__})"
            if not chunk:
                return data, None
            data += chunk
            expected = _expected_size(data)
            if expected is not None and len(data) >= expected:
                # The announced packet is in. Anything that came with it beyond
                # the announced length stays in the data for the decoder to refuse.
                return data, None
            if len(data) > MAX_PACKET_SIZE:
                # Not a station; keep a bounded sample of it for inspection.
                with contextlib.suppress(asyncio.TimeoutError, OSError):
                    more = await asyncio.wait_for(reader.read(MAX_CAPTURE), 0.1)
                    data += more
                return data[:MAX_CAPTURE], f"more than {MAX_PACKET_SIZE} bytes, not a station"
