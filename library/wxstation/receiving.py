"""The TCP side: one connection is one packet.

A station connects, writes its packet and closes. The receiver reads until the
peer closes, goes silent, or sends more than any station could, and hands
whatever it read to ``deliver`` (the committer, which keeps it until it is in
the database). A misbehaving connection is closed and logged with its peer and
the reason; it never holds up another.

Built to be a good guest in an event loop it shares (Home Assistant's, through
:class:`wxstation.StationListener`): it accepts on its own non-blocking
listening sockets, at most :data:`ACCEPTS_PER_TURN` connections (and
:data:`ACCEPT_TURN` seconds) per turn of the loop, and each connection is a
small :class:`asyncio.Protocol` that feeds a :class:`~wxstation.framing.Framer`
and times itself with the loop's timers: no stream and no task for the life
of a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from wxstation.config import ListenConfig
from wxstation.framing import Framer
from wxstation.listening import bind, refuse_new_connections
from wxstation.noise import NoiseTracker, source_of
from wxstation.packets import Received
from wxstation.protocol import DEVICE_ID_AT
from wxstation.slots import Slots

__all__ = [
    "ACCEPTS_PER_TURN",
    "ACCEPT_TURN",
    "CONNECTION_DEADLINE",
    "HANDSHAKE_GRACE",
    "SLOTS_PER_SOURCE",
    "CpuTally",
    "Receiver",
    "format_peer",
]

log = logging.getLogger(__name__)

#: Seconds a connection may last in all. A station is done in well under a
#: second; a peer trickling bytes to stay under the read timeout is cut here.
CONNECTION_DEADLINE = 30.0
#: Connections of one source served at once while it is not known as a
#: station's (see :mod:`wxstation.noise`): a host holding connections open
#: without sending a packet takes at most these of ``listen.max_connections``,
#: and the rest stay for stations. Once a source sends a station's packet its
#: connections waiting here go ahead, so a burst from a gateway is not held up.
SLOTS_PER_SOURCE = 8
#: Connections taken from the kernel's backlog per turn of the event loop.
#: Setting one up costs the loop some tens of microseconds; taking a whole
#: backlog of a flood at once (asyncio's servers take up to their backlog)
#: held a shared loop for seconds. 32 keeps a turn to a millisecond or two,
#: and still takes a thousand stations waking together within a few dozen turns.
ACCEPTS_PER_TURN = 32
#: Seconds of one turn spent taking connections, however few were taken: on a
#: loaded machine, or beside another thread of the process that takes the
#: interpreter's lock at each system call the loop makes, one accept (and the
#: close of a refused connection) can take milliseconds. Measured in Home
#: Assistant with a flood from a thread of its own, 32 such took a turn past
#: 250 ms; the rest wait in the backlog for the next turn.
ACCEPT_TURN = 0.005
#: Seconds a listening socket that is about to close gives handshakes under
#: way to finish: a handshake takes milliseconds on a LAN, more over weak WiFi.
HANDSHAKE_GRACE = 0.25
#: Seconds before accepting again after the process ran out of file
#: descriptors or memory: the connections that hold them end meanwhile.
ACCEPT_RETRY = 1.0
#: Seconds a timer may fire before it is due and still count: a loop's timers
#: fire up to a clock tick early (uvloop's tick is a millisecond).
TIMER_SLACK = 0.002
#: Errors of accept() that say the process, not the peer, is short of something.
_SHORT_OF = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def format_peer(address: object) -> str:
    """``host:port`` for IPv4, ``[host]:port`` for IPv6."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


@dataclass(frozen=True, slots=True)
class _Accepted:
    """A connection taken from the backlog, not read yet."""

    sock: socket.socket
    host: str
    peer: str


class CpuTally(Protocol):
    """Where the receiver counts the CPU time it spends (the bridge's
    ``bridge.stages.StageClock``), as stage ``receive``."""

    def add(self, stage: str, seconds: float) -> None: ...


class _Uncounted:
    def add(self, stage: str, seconds: float) -> None:
        """Counts nothing: a receiver that no one times."""


class _Connection(asyncio.Protocol):
    """One connection, read into a framer until its packet is whole or its bytes
    cannot be a station's, it closes, goes silent or runs out of time."""

    def __init__(self, receiver: Receiver, source: str, accepted: _Accepted) -> None:
        self.receiver = receiver
        self.source = source
        self.host = accepted.host
        self.peer = accepted.peer
        self.framer = Framer()
        self.transport: asyncio.BaseTransport | None = None
        self.ended = False
        #: When the connection began, and when its last bytes came (loop time).
        self._began = self._heard = 0.0
        #: One timer a connection: the silence's end or the deadline, whichever
        #: comes first; moved on only when it fires.
        self._timer: asyncio.TimerHandle | None = None

    # The CPU time of the callbacks that do the work (reading, screening,
    # handing over) is counted; setting a timer up is not worth two clock reads.
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        if self.ended:  # cut off while it was being set up
            transport.close()
            return
        self.receiver.connections += 1
        self._began = self._heard = self.receiver.loop.time()
        self._wait()

    def data_received(self, data: bytes) -> None:
        began = time.thread_time()
        self._heard = self.receiver.loop.time()
        if self.framer.feed(data):
            self.end(None)
        self.receiver.stages.add("receive", time.thread_time() - began)

    def eof_received(self) -> bool:
        began = time.thread_time()
        self.end(None)
        self.receiver.stages.add("receive", time.thread_time() - began)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.end(f"connection failed ({exc.__class__.__name__})" if exc else None)

    def _wait(self) -> None:
        """Set the timer for the silence's end or the deadline, whichever is first."""
        due = min(
            self._heard + self.receiver.listen.read_timeout, self._began + CONNECTION_DEADLINE
        )
        self._timer = self.receiver.loop.call_at(due, self._timed_out)

    def _timed_out(self) -> None:
        now = self.receiver.loop.time() + TIMER_SLACK
        if now >= self._began + CONNECTION_DEADLINE:
            problem = f"still sending after {CONNECTION_DEADLINE:.0f} s"
        elif now >= self._heard + self.receiver.listen.read_timeout:
            problem = f"silent for {self.receiver.listen.read_timeout:g} s"
        else:
            self._wait()  # bytes came since it was set
            return
        self.receiver.timed_out += 1
        self.end(problem)

    def end(self, problem: str | None) -> None:
        """Stop reading (once): close the connection, hand over what it sent."""
        if self.ended:
            return
        self.ended = True
        if self._timer is not None:
            self._timer.cancel()
        arrival = self.receiver.clock()
        if self.transport is not None:
            self.transport.close()
        self.receiver.ended(self, problem, arrival)


class Receiver:
    """Listens for stations and hands each connection's bytes to ``deliver``.

    ``deliver`` is called on the event loop and must return at once (it queues
    the packet for the committer). ``refusal`` says why a plausible packet of a
    device from a host is not a station's to the config, if it is not
    (:func:`wxstation.decoding.refusal`); ``noise`` keeps the counts and limits of
    traffic that is not a station's. Without it, every connection that sent
    anything is delivered (the Home Assistant integration keeps such bytes in a
    bounded list of its own).
    """

    def __init__(
        self,
        listen: ListenConfig,
        deliver: Callable[[Received], None],
        clock: Callable[[], float] = time.time,
        *,
        refusal: Callable[[str, int], str | None] = lambda host, device_id: None,
        noise: NoiseTracker | None = None,
        stages: CpuTally | None = None,
    ) -> None:
        self.listen = listen
        #: CPU time of accepting and reading connections, counted as ``receive``.
        self.stages: CpuTally = stages or _Uncounted()
        self.deliver = deliver
        self.clock = clock
        self.refusal = refusal
        self.noise = noise
        # A refused source's waiting connections go ahead too: to be closed.
        self._slots: Slots[_Accepted] = Slots(
            listen.max_connections,
            SLOTS_PER_SOURCE,
            lambda source: (
                noise is not None and not noise.is_station(source) and not noise.refuses(source)
            ),
            self._serve,
        )
        self._sockets: list[socket.socket] = []
        self._retry: asyncio.TimerHandle | None = None
        self._open: set[_Connection] = set()
        self._setting_up: set[asyncio.Task[None]] = set()
        self._idle: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.port: int = listen.port
        self.paused: str | None = None
        #: Connections served (read), closed unread (their source is refused),
        #: and closed because they went silent or ran past the deadline.
        self.connections = 0
        self.refused = 0
        self.timed_out = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the receiver was started on."""
        if self._loop is None:
            raise RuntimeError("the receiver has not been started")
        return self._loop

    async def start(self) -> None:
        """Bind and listen; raises OSError when the address cannot be bound."""
        loop = self._loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(
            self.listen.host or None,
            self.port,
            type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE,
        )
        self._sockets = bind(infos, self.port)
        self.port = int(self._sockets[0].getsockname()[1])
        for sock in self._sockets:
            loop.add_reader(sock.fileno(), self._accept, sock)

    @property
    def listening(self) -> bool:
        """True while stations can connect."""
        return bool(self._sockets) and self.paused is None

    async def pause(self, reason: str) -> None:
        """Stop accepting: stations then keep their samples and try again later."""
        if self.paused is not None or not self._sockets:
            self.paused = reason
            return
        self.paused = reason
        log.error("not accepting packets: %s", reason)
        await self._close_listening()

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
        """Stop accepting and let connections in progress finish within ``grace``
        seconds; those still open then are cut off and what they sent handed over."""
        await self._close_listening()
        if self._open or self._slots.waiting:
            self._idle = self.loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle, grace)
            self._idle = None
        unread = self._slots.drain()
        for accepted in unread:
            accepted.sock.close()
        if unread:
            log.warning("stopping: %d connections closed unread", len(unread))
        for connection in list(self._open):
            connection.end(f"cut off after {grace:g} s: the receiver stopped")

    async def _close_listening(self) -> None:
        """Stop listening, and serve the connections the kernel had already accepted.

        Closing a listening socket resets the connections waiting in its backlog,
        and a station whose write the kernel had already taken counts its packet
        as delivered: those are taken off the backlog first and served like any
        other. New connections are refused from then on, so stations keep their
        samples.
        """
        sockets, self._sockets = self._sockets, []
        if not sockets:
            return
        if self._retry is not None:
            self._retry.cancel()
        for sock in sockets:
            self.loop.remove_reader(sock.fileno())
            # A connection whose handshake the kernel has not finished when the
            # socket closes is reset, though its station has sent its packet:
            # new ones are dropped (their stations try again, find the port
            # closed and keep their samples) while those under way finish.
            refuse_new_connections(sock)
        await asyncio.sleep(HANDSHAKE_GRACE)
        for sock in sockets:
            # A turn's worth at a time, as while listening: nothing to wait for
            # but the loop's other work.
            while self._accept_some(sock):  # noqa: ASYNC110
                await asyncio.sleep(0)
            sock.close()

    def _accept(self, sock: socket.socket) -> None:
        """The listening socket has connections: take a turn's worth."""
        self._accept_some(sock)

    def _accept_some(self, sock: socket.socket) -> bool:
        """Take up to :data:`ACCEPTS_PER_TURN` connections off the backlog, for
        at most :data:`ACCEPT_TURN` seconds; True when it stopped at either
        bound (more may be waiting)."""
        began = time.thread_time()
        until = time.monotonic() + ACCEPT_TURN
        try:
            for _ in range(ACCEPTS_PER_TURN):
                try:
                    connection, address = sock.accept()
                except (BlockingIOError, InterruptedError):
                    return False
                except ConnectionAbortedError:
                    continue  # reset by its peer while it waited
                except OSError as err:
                    self._short_of(sock, err)
                    return False
                connection.setblocking(False)
                self._accepted(connection, address)
                if time.monotonic() >= until:
                    break
            return True
        finally:
            self.stages.add("receive", time.thread_time() - began)

    def _short_of(self, sock: socket.socket, err: OSError) -> None:
        """accept() failed: out of descriptors or memory, stop for a while."""
        if err.errno not in _SHORT_OF:
            log.error("cannot accept a connection on port %d: %s", self.port, err)
            return
        log.error(
            "cannot accept connections on port %d (%s): too many open; trying again in %g s",
            self.port,
            err,
            ACCEPT_RETRY,
        )
        self.loop.remove_reader(sock.fileno())
        self._retry = self.loop.call_later(ACCEPT_RETRY, self._listen_again, sock)

    def _listen_again(self, sock: socket.socket) -> None:
        self._retry = None
        if sock in self._sockets:
            self.loop.add_reader(sock.fileno(), self._accept, sock)

    def _accepted(self, sock: socket.socket, address: object) -> None:
        host = str(address[0]) if isinstance(address, tuple) else str(address)
        source = source_of(host)
        if self._refused(source):
            sock.close()
            return
        self._slots.admit(source, _Accepted(sock, host, format_peer(address)))

    def _refused(self, source: str) -> bool:
        """True when the source is refused: its connection is closed unread (a
        reset, as its bytes are left unread), and counted."""
        if self.noise is None or not self.noise.refuses(source):
            return False
        self.noise.refused(source)
        self.refused += 1
        return True

    def _serve(self, source: str, accepted: _Accepted) -> None:
        """The connection has its slots: read it (or close it, its source refused meanwhile)."""
        if self._refused(source):
            accepted.sock.close()
            self._slots.release(source)
            return
        connection = _Connection(self, source, accepted)
        self._open.add(connection)
        task = self.loop.create_task(self._set_up(connection, accepted.sock))
        self._setting_up.add(task)
        task.add_done_callback(self._setting_up.discard)

    async def _set_up(self, connection: _Connection, sock: socket.socket) -> None:
        """The connection's transport, which then calls the protocol (the task ends there)."""
        try:
            await self.loop.connect_accepted_socket(lambda: connection, sock)
        except OSError as err:
            sock.close()
            connection.end(f"connection failed ({err.__class__.__name__})")

    def ended(self, connection: _Connection, problem: str | None, arrival: float) -> None:
        """A connection stopped being read: hand over what it sent, free its slots."""
        self._open.discard(connection)
        try:
            data = connection.framer.data
            if self._screened(connection, data, problem):
                if problem:
                    log.warning(
                        "%s: %s after %d bytes; kept for decoding",
                        connection.peer,
                        problem,
                        len(data),
                    )
                self.deliver(Received(data, arrival, connection.peer))
        finally:
            self._slots.release(connection.source)
            idle = self._idle
            if idle is not None and not idle.done() and not self._open and not self._slots.waiting:
                idle.set_result(None)

    def _screened(self, connection: _Connection, data: bytes, problem: str | None) -> bool:
        """Tell the noise tracker what the connection was; True when its bytes are
        to be stored as a packet.

        A plausible packet the config refuses (from outside
        ``listen.allowed_networks``, from an address its station may not send
        from, of a device it does not know) is not a station's to the bridge, but
        it is kept whole within the tracker's limits: a station the config gets
        wrong keeps its samples for ``reprocess``.
        """
        peer, source = connection.peer, connection.source
        if self.noise is None:
            if not data:
                log.debug("%s closed without sending anything (%s)", peer, problem or "no data")
            return bool(data)
        reason = connection.framer.verdict()
        if reason is None and data:
            doubt = self.refusal(connection.host, data[DEVICE_ID_AT])
            if doubt is None:
                if not self.noise.is_station(source):
                    self.noise.station(source)
                    self._slots.wake(source)
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
            self._slots.wake(source)  # its waiting connections are closed now
        return store
