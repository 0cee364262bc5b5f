"""Stand-ins for the weather networks: an HTTP server that records each upload's
query, and an APRS-IS server that speaks CWOP's side of the login.

Both run in the test's event loop on free loopback ports, and both can be taken
down (connections refused) and brought back on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace

from aiohttp import web

from tests.support.servers import HOST, free_port
from tests.support.waiting import eventually

__all__ = [
    "AprsIs",
    "AprsLogin",
    "Recorded",
    "UploadServer",
    "aprs_is",
    "taken",
    "upload_server",
]

#: What a handler answers: status, body and headers.
Answer = tuple[int, str, Mapping[str, str]]


@dataclass(frozen=True)
class Recorded:
    """One request the HTTP stand-in received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    #: The query as it came on the wire, percent-encoding and all.
    raw_query: str
    #: The status the server answered, and when (by the server's ``clock``).
    status: int = 0
    at: float = 0.0


def _success(request: Recorded) -> Answer:
    return 200, "success\n", {}


@dataclass
class UploadServer:
    """An HTTP server recording every GET to ``/upload`` with the status it
    answered; ``answer`` says what it replies."""

    port: int = field(default_factory=free_port)
    answer: Callable[[Recorded], Answer] = _success
    #: What the requests' ``at`` is read from: a test's own clock, if it has one.
    clock: Callable[[], float] = time.monotonic
    requests: list[Recorded] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/upload"

    async def _handle(self, request: web.Request) -> web.Response:
        recorded = Recorded(
            request.path,
            dict(request.query),
            dict(request.headers),
            request.raw_path.partition("?")[2],
        )
        status, text, headers = self.answer(recorded)
        self.requests.append(replace(recorded, status=status, at=self.clock()))
        return web.Response(status=status, text=text, headers=headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/upload", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, self.port).start()

    async def stop(self) -> None:
        """Down: connections to the port are refused until :meth:`start`."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@contextlib.asynccontextmanager
async def upload_server() -> AsyncIterator[UploadServer]:
    server = UploadServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@dataclass(frozen=True)
class AprsLogin:
    """One APRS-IS session: the login line and the packets that followed it."""

    login: str
    packets: tuple[str, ...]


@dataclass
class AprsIs:
    """An APRS-IS server as CWOP's look to a station: a banner, ``# logresp``
    (``verified`` only for the passcodes in ``passcodes``), then packets read
    until the station disconnects."""

    port: int = field(default_factory=free_port)
    #: Call sign -> the passcode the server verifies.
    passcodes: dict[str, str] = field(default_factory=dict)
    sessions: list[AprsLogin] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _open: int = 0

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def packets(self) -> list[str]:
        return [packet for session in self.sessions for packet in session.packets]

    async def idle(self) -> None:
        """Wait until every session so far is over and recorded (a station's
        disconnect reaches the server a moment after the station returns)."""
        await eventually(lambda: self._open == 0, within=5, what="APRS-IS sessions over")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open += 1
        try:
            writer.write(b"# aprsc 2.1.19-g730c5c0 (a stand-in)\r\n")
            await writer.drain()
            login = (await reader.readline()).decode().strip()
            words = login.split()
            call = words[1] if len(words) > 1 else "?"
            passcode = words[3] if len(words) > 3 else "-1"
            verified = self.passcodes.get(call) == passcode
            state = "verified" if verified else "unverified"
            writer.write(f"# logresp {call} {state}, server T2STANDIN\r\n".encode())
            await writer.drain()
            packets = []
            while line := await reader.readline():
                packets.append(line.decode().rstrip("\r\n"))
            self.sessions.append(AprsLogin(login, tuple(packets)))
        finally:
            writer.close()
            self._open -= 1

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, HOST, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


@contextlib.asynccontextmanager
async def aprs_is(passcodes: dict[str, str] | None = None) -> AsyncIterator[AprsIs]:
    server = AprsIs(passcodes=passcodes or {})
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def taken(server: UploadServer) -> list[Recorded]:
    """The uploads the server took (answered 2xx)."""
    return [one for one in server.requests if 200 <= one.status < 300]
