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
from collections import deque
from collections.abc import AsyncIterator, Callable

from bridge.config import ListenConfig
from bridge.noise import MAX_KEPT_BYTES, NoiseTracker, source_of
from bridge.protocol import DEVICE_ID_AT, announced_size, screen
from bridge.spool import Received
from bridge.stages import StageClock

__all__ = ["CONNECTION_DEADLINE", "MAX_CAPTURE", "SLOTS_PER_SOURCE", "Receiver", "format_peer"]

log = logging.getLogger(__name__)

#: Bytes kept of a connection that is not a station's: enough to see what it
#: was, bounded so a flood cannot fill the spool.
MAX_CAPTURE = MAX_KEPT_BYTES
#: Seconds a connection may last in all. A station is done in well under a
#: second; a peer trickling bytes to stay under the read timeout is cut here.
CONNECTION_DEADLINE = 30.0
#: Bytes asked of the socket per read.
READ_CHUNK = 4096
#: Pending connections the kernel queues while all slots are busy (a burst of
#: stations waking together).
BACKLOG = 4096
#: Connections of one source served at once while it is not known as a
#: station's (see :mod:`bridge.noise`): a host holding connections open
#: without sending a packet takes at most these of ``listen.max_connections``,
#: and the rest stay for stations. Once a source sends a station's packet its
#: connections waiting here go ahead, so a burst from a gateway is not held up.
SLOTS_PER_SOURCE = 8


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


class _SourceSlots:
    """At most ``per_source`` connections at once per source, while ``limited``
    says the source is to be held to it; waiters go first come, first served."""

    def __init__(self, per_source: int, limited: Callable[[str], bool]) -> None:
        self.per_source = per_source
        self.limited = limited
        self._held: dict[str, int] = {}
        self._waiting: dict[str, deque[asyncio.Future[None]]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, source: str) -> AsyncIterator[None]:
        while self.limited(source) and self._held.get(source, 0) >= self.per_source:
            waiter = asyncio.get_running_loop().create_future()
            queue = self._waiting.setdefault(source, deque())
            queue.append(waiter)
            try:
                await waiter
            finally:
                if waiter in queue:
                    queue.remove(waiter)
                if not queue and self._waiting.get(source) is queue:
                    del self._waiting[source]
        self._held[source] = self._held.get(source, 0) + 1
        try:
            yield
        finally:
            self._held[source] -= 1
            if not self._held[source]:
                del self._held[source]
            self.wake(source, 1)

    def wake(self, source: str, count: int | None = None) -> None:
        """Let ``count`` waiters of the source look again (all when None): a slot
        came free, or the source is no longer limited, or is now refused."""
        queue = self._waiting.get(source)
        while queue and (count is None or count > 0):
            waiter = queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                count = None if count is None else count - 1


class Receiver:
    """Listens for stations and hands each connection's bytes to ``submit``.

    ``refusal`` says why a plausible packet of a device from a host is not a
    station's to the config, if it is not (:func:`bridge.decoding.refusal`);
    ``noise`` keeps the counts and limits of traffic that is not a station's.
    Without it, every connection that sent anything is handed to ``submit``
    (the Home Assistant integration keeps such bytes in a bounded list of its
    own).
    """

    def __init__(
        self,
        listen: ListenConfig,
        submit: Callable[[Received], None],
        clock: Callable[[], float] = time.time,
        *,
        refusal: Callable[[str, int], str | None] = lambda host, device_id: None,
        noise: NoiseTracker | None = None,
        stages: StageClock | None = None,
    ) -> None:
        self.listen = listen
        #: CPU time of the connections' handlers, counted as ``receive``.
        self.stages = stages or StageClock()
        self.submit = submit
        self.clock = clock
        self.refusal = refusal
        self.noise = noise
        self._slots = asyncio.Semaphore(listen.max_connections)
        # A refused source's waiting connections go ahead too: to be closed.
        self._source_slots = _SourceSlots(
            SLOTS_PER_SOURCE,
            lambda source: (
                noise is not None and not noise.is_station(source) and not noise.refuses(source)
            ),
        )
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.port: int = listen.port
        self.paused: str | None = None
        #: Connections served (read), closed unread (their source is refused),
        #: and closed because they went silent or ran past the deadline.
        self.connections = 0
        self.refused = 0
        self.timed_out = 0

    async def start(self) -> None:
        """Bind and listen; raises OSError when the address cannot be bound."""
        self._server = await asyncio.start_server(
            self._handle,
            self.listen.host,
            self.port,
            backlog=BACKLOG,
            reuse_address=True,
        )
        bound = self._server.sockets[0].getsockname()
        self.port = int(bound[1])

    @property
    def listening(self) -> bool:
        """True while stations can connect."""
        return self._server is not None and self.paused is None

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
        await self._handle(reader, writer)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.stages.measured("receive", self._accept(reader, writer))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        address = writer.get_extra_info("peername")
        host = str(address[0]) if isinstance(address, tuple) else str(address)
        source = source_of(host)
        try:
            if self._refused(source, writer):
                return
            async with self._source_slots.hold(source), self._slots:
                # Refused meanwhile (it went on sending what is not a station's)?
                if not self._refused(source, writer):
                    await self._serve(reader, writer, host, source)
        finally:
            if task is not None:
                self._handlers.discard(task)

    def _refused(self, source: str, writer: asyncio.StreamWriter) -> bool:
        """Close the connection unread (a reset) when its source is refused."""
        if self.noise is None or not self.noise.refuses(source):
            return False
        self.noise.refused(source)
        self.refused += 1
        writer.transport.abort()
        return True

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, source: str
    ) -> None:
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
        if self._screened(source, host, peer, bytes(data), problem):
            if problem:
                log.warning("%s: %s after %d bytes; kept for decoding", peer, problem, len(data))
            self.submit(Received(bytes(data), arrival, peer))

    def _screened(
        self, source: str, host: str, peer: str, data: bytes, problem: str | None
    ) -> bool:
        """Tell the noise tracker what the connection was; True when its bytes are
        to be stored as a packet.

        A plausible packet the config refuses (from outside
        ``listen.allowed_networks``, from an address its station may not send
        from, of a device it does not know) is not a station's to the bridge, but
        it is kept whole within the tracker's limits: a station the config gets
        wrong keeps its samples for ``reprocess``.
        """
        if self.noise is None:
            if not data:
                log.debug("%s closed without sending anything (%s)", peer, problem or "no data")
            return bool(data)
        reason = screen(data, complete=True)
        if reason is None and data:
            doubt = self.refusal(host, data[DEVICE_ID_AT])
            if doubt is None:
                if not self.noise.is_station(source):
                    self.noise.station(source)
                    self._source_slots.wake(source)
                return True
            store = self.noise.not_a_station(source, peer, data, doubt, plausible=True)
        else:
            if not data:
                reason = f"nothing sent ({problem or 'closed at once'})"
            elif problem:
                reason = f"{reason}; {problem}"
            store = self.noise.not_a_station(source, peer, data, reason or "")
            log.debug("%s: not a station's packet (%d bytes): %s", peer, len(data), reason)
        if self.noise.refuses(source):
            self._source_slots.wake(source)  # its waiting connections are closed now
        return store

    async def _read(self, reader: asyncio.StreamReader) -> tuple[bytearray, str | None]:
        """Read one packet: until the announced length, EOF, silence, the deadline, or
        bytes that cannot be a station's."""
        data = bytearray()
        deadline = time.monotonic() + CONNECTION_DEADLINE
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.timed_out += 1
                return data, f"still sending after {CONNECTION_DEADLINE:.0f} s"
            try:
                chunk = await asyncio.wait_for(
                    reader.read(READ_CHUNK), min(self.listen.read_timeout, remaining)
                )
            except TimeoutError:
                self.timed_out += 1
                return data, f"silent for {self.listen.read_timeout:g} s"
            except (ConnectionError, OSError) as err:
                return data, f"connection failed ({err.__class__.__name__})"
            if not chunk:
                return data, None
            data += chunk
            if screen(data) is not None:
                # Not a station's: no need to read on. What came with the
                # chunk is the sample kept of it.
                return data[:MAX_CAPTURE], None
            expected = announced_size(data)
            if expected is not None and len(data) >= expected:
                return data, None
