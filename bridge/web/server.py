"""The bridge's HTTP server: the status page, ``/metrics``, the JSON API and ``/healthz``.

It runs on the bridge's own event loop (aiohttp) and never gets in the way of
receiving packets:

- It reads the database through a connection and a thread of its own, and
  every request within :data:`SNAPSHOT_MAX_AGE` shares one read and one
  rendered page: a storm of requests costs the database one read a second.
- At most :data:`MAX_CONNECTIONS` connections are served at once (more are
  closed at once) and none lives longer than :data:`CONNECTION_LIFETIME`: slow
  or hanging clients take sockets of their own, never the stations'.
- Actions (POST) need ``http.token``, or come from this machine when none is
  set, and never from another site's page (the ``Origin`` must be this one).
- Nothing it sends shows a secret of the config: every response is scrubbed of
  the values :meth:`wxstation.config.Config.secrets` lists.

Endpoints: ``/`` (the page), ``/metrics``, ``/api/stations``,
``/api/stations/<id>/samples?since=&until=`` (the rows ``export`` writes),
``/healthz``, ``/livez`` (for a watchdog that restarts: see
:meth:`bridge.runtime.status.Status.restart_helps`) and ``POST /api/reprocess``.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import html
import ipaddress
import itertools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from bridge.errors import DatabaseError
from bridge.runtime.status import Status
from bridge.spool import Spool
from bridge.web.metrics import CONTENT_TYPE, BridgeMetrics
from bridge.web.page import LiveSink, render_page
from bridge.web.snapshot import Snapshot, read_snapshot
from bridge.worker import Worker
from wxstation.config import Config, local_url_host
from wxstation.samples import export_record, parse_moment

__all__ = [
    "CONNECTION_LIFETIME",
    "MAX_CONNECTIONS",
    "SNAPSHOT_MAX_AGE",
    "StatusServer",
    "ingress_path",
]

log = logging.getLogger(__name__)

#: Seconds one read of the database serves every request: the page refreshes
#: every few seconds, Prometheus scrapes every 15 s or more.
SNAPSHOT_MAX_AGE = 1.0
#: HTTP connections served at once. A browser opens a few, Prometheus one;
#: beyond this a client is closed at once instead of taking more sockets.
MAX_CONNECTIONS = 64
#: Seconds an HTTP connection may stay open, whatever it does: a client that
#: sends its request a byte at a time (or never) is cut here. A page, a scrape
#: or a day of samples takes well under a second; a longer export is the
#: command line's job.
CONNECTION_LIFETIME = 60.0
#: Seconds between looks for connections past their lifetime.
REAP_INTERVAL = 1.0
#: Connections the kernel queues while the server is busy.
BACKLOG = 128
#: Rows of ``/api/stations/<id>/samples`` read and sent at a time.
SAMPLES_CHUNK = 2000
#: Seconds requests under way get to finish when the bridge stops.
SHUTDOWN_GRACE = 1.0
#: What a secret is replaced by in anything served.
REDACTED = "[redacted]"
#: The header Home Assistant's ingress proxy names the path the page is
#: served under with; the page's links and requests start with it.
INGRESS_PATH_HEADER = "X-Ingress-Path"
#: An ingress path the page takes: slash-separated segments of URL-safe
#: characters (the proxy's is /api/hassio_ingress/<token>); any other is ignored.
INGRESS_PATH_RE = re.compile(r"(/[A-Za-z0-9._~-]+)+")


class _Refuse:
    """The protocol of a connection beyond :data:`MAX_CONNECTIONS`: closed at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.Transport):
            transport.abort()
        else:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass


class StatusServer:
    """The HTTP side of a running bridge: it shows ``status`` and the database,
    counts with ``metrics``, and queues kept-aside packets with ``reprocess``
    (of one station, or all; it returns how many)."""

    def __init__(
        self,
        config: Config,
        status: Status,
        metrics: BridgeMetrics,
        reprocess: Callable[[int | None], Awaitable[int]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.http = config.http
        self.status = status
        self.metrics = metrics
        self._reprocess = reprocess
        self.clock = clock
        storage = config.storage
        self._spool = Spool(
            storage.path, max_size_mb=storage.max_size_mb, min_free_mb=storage.min_free_mb
        )
        self._reader = Worker("wxstation-web")
        #: The status's :attr:`~bridge.runtime.status.Status.opened` when the
        #: reader's connection was opened.
        self._opened = status.opened
        self._snapshot: Snapshot | None = None
        self._snapshot_at = 0.0
        self._refreshing: asyncio.Task[Snapshot] | None = None
        #: The newest page: its snapshot, the path it was served under, its body.
        self._page: tuple[Snapshot, str, bytes] | None = None
        metrics.prepare(list(status.sinks))
        self._secrets = config.secrets()
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        #: When each connection's handler was made, until it is closed.
        self._born: dict[RequestHandler, float] = {}
        self._reaper: asyncio.Task[None] | None = None
        self.port = self.http.port

    # --- lifecycle ---------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._page_view)
        app.router.add_get("/metrics", self._metrics_view)
        app.router.add_get("/healthz", functools.partial(_health_view, self.status))
        app.router.add_get("/livez", functools.partial(_live_view, self.status))
        app.router.add_get("/api/stations", self._stations_view)
        app.router.add_get(r"/api/stations/{device_id:\d+}/samples", self._samples_view)
        app.router.add_post("/api/reprocess", self._reprocess_view)
        return app

    async def start(self) -> None:
        """Open the database and listen; raises OSError when the port cannot be bound."""
        await self._reader.call(self._spool.open)
        self._runner = web.AppRunner(
            self._app(), access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE
        )
        await self._runner.setup()
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                self._protocol, self.http.host, self.http.port, backlog=BACKLOG
            )
        except OSError:
            await self.stop()
            raise
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._reaper = asyncio.create_task(self._reap(), name="http reaper")

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._refreshing is not None:
            await asyncio.gather(self._refreshing, return_exceptions=True)
        await self._reader.call(self._spool.close)
        self._reader.close()

    @property
    def url(self) -> str:
        """Where the page is: on every interface, as this machine reaches it."""
        return f"http://{local_url_host(self.http.host)}:{self.port}/"

    def _protocol(self) -> Any:
        """A connection's protocol: aiohttp's handler, or a refusal beyond the limit."""
        assert self._runner is not None
        server = self._runner.server
        assert server is not None
        if len(server.connections) >= MAX_CONNECTIONS:
            return _Refuse()
        handler = server()
        self._born[handler] = asyncio.get_running_loop().time()
        return handler

    async def _reap(self) -> None:
        """Close connections past their lifetime, and forget closed ones."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(REAP_INTERVAL)
            for handler, born in list(self._born.items()):
                transport = handler.transport
                if transport is None or transport.is_closing():
                    if born < loop.time() - REAP_INTERVAL:
                        self._born.pop(handler, None)
                elif loop.time() - born > CONNECTION_LIFETIME:
                    transport.abort()
                    self._born.pop(handler, None)

    # --- what every response goes through ------------------------------------------

    @web.middleware
    async def _guard(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        """Scrub secrets from every response body the server builds whole, and
        answer 503 with the reason when the database cannot be read."""
        try:
            response: web.StreamResponse = await handler(request)
        except DatabaseError as err:
            log.warning("status page: %s", err)
            response = web.Response(status=503, text=f"cannot read the database: {err}\n")
        if isinstance(response, web.Response) and response.body is not None and self._secrets:
            body = response.body
            assert isinstance(body, bytes)
            response.body = self.redact(body)
        if not response.prepared:
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    def redact(self, body: bytes) -> bytes:
        """``body`` with every secret of the config replaced, as it is and as
        HTML and JSON would write it."""
        for secret in self._secrets:
            for form in {secret, html.escape(secret), json.dumps(secret)[1:-1]}:
                body = body.replace(form.encode(), REDACTED.encode())
        return body

    async def snapshot(self) -> Snapshot:
        """The database's state, read at most every :data:`SNAPSHOT_MAX_AGE` seconds."""
        loop = asyncio.get_running_loop()
        if self._snapshot is not None and loop.time() - self._snapshot_at < SNAPSHOT_MAX_AGE:
            return self._snapshot
        if self._refreshing is None:
            self._refreshing = asyncio.create_task(self._read())
        return await asyncio.shield(self._refreshing)

    async def _read(self) -> Snapshot:
        try:
            if self._opened != self.status.opened:
                # The bridge opened its database again (a fresh one after a
                # damaged one, or after its disk failed): read that one.
                self._opened = self.status.opened
                await self._reader.call(_reopen, self._spool)
            snapshot = await self._reader.call(
                read_snapshot, self._spool, self.config, self.clock()
            )
            self._snapshot, self._snapshot_at = snapshot, asyncio.get_running_loop().time()
            return snapshot
        finally:
            self._refreshing = None

    # --- endpoints -------------------------------------------------------------------

    async def _page_view(self, request: web.Request) -> web.Response:
        snapshot = await self.snapshot()
        base = ingress_path(request)
        if self._page is None or self._page[0] is not snapshot or self._page[1] != base:
            page = render_page(
                snapshot,
                self.config,
                {
                    name: LiveSink(sink.state, sink.connected)
                    for name, sink in self.status.sinks.items()
                },
                self.status.health(),
                self.status.port,
                snapshot.taken_at,
                token_required=self.http.token is not None,
                base=base,
                problems=self.status.problems,
            )
            self._page = (snapshot, base, self.redact(page.encode()))
        return web.Response(body=self._page[2], content_type="text/html", charset="utf-8")

    async def _metrics_view(self, request: web.Request) -> web.Response:
        await self.snapshot()
        response = web.Response(body=self.metrics.render(self.status, self._snapshot))
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    async def _stations_view(self, request: web.Request) -> web.Response:
        snapshot = await self.snapshot()
        return _json(
            {
                "generated": snapshot.taken_at,
                "stations": [station.as_dict() for station in snapshot.stations],
            }
        )

    async def _samples_view(self, request: web.Request) -> web.StreamResponse:
        device_id = int(request.match_info["device_id"])
        bounds: dict[str, int | None] = {}
        for key in ("since", "until"):
            text = request.query.get(key)
            try:
                bounds[key] = parse_moment(text) if text else None
            except ValueError:
                return _json(
                    {"error": f"{key}: not an RFC 3339 time or unix seconds: {text!r}"}, 400
                )
        snapshot = await self.snapshot()
        if not any(station.device_id == device_id for station in snapshot.stations):
            return _json({"error": f"no station with device id {device_id}"}, 404)
        reader = self._reader
        rows: Generator[tuple[int, str, int, dict[str, float]]] = await reader.call(
            self._spool.export.samples,
            device_id=device_id,
            since_ms=bounds["since"],
            until_ms=bounds["until"],
        )
        response = web.StreamResponse(
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        )
        response.content_type = "application/json"
        await response.prepare(request)
        try:
            separator = b"["
            while chunk := await reader.call(lambda: list(itertools.islice(rows, SAMPLES_CHUNK))):
                text = ",".join(
                    json.dumps(export_record(*row), ensure_ascii=False) for row in chunk
                )
                await response.write(separator + self.redact(text.encode()))
                separator = b","
            await response.write(b"[]" if separator == b"[" else b"]")
        finally:
            await reader.call(rows.close)
        await response.write_eof()
        return response

    async def _reprocess_view(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused is not None:
            status, reason = refused
            return _json({"error": reason}, status)
        device: int | None = None
        try:
            body = await request.json() if request.can_read_body else {}
            if body.get("device_id") is not None:
                device = int(body["device_id"])
        except (ValueError, TypeError, AttributeError):
            return _json({"error": 'the body is JSON: {} or {"device_id": 1..255}'}, 400)
        queued = await self._reprocess(device)
        log.info(
            "status page: %d kept-aside packets queued for decoding (from %s)",
            queued,
            request.remote,
        )
        return _json({"queued": queued})

    def _refusal(self, request: web.Request) -> tuple[int, str] | None:
        """Why an action is refused, with the HTTP status, or None when it is allowed."""
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            return 403, "actions come from the bridge's own page, not from another site"
        token = self.http.token
        if token is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return 401, "this action needs the bridge's http.token (Authorization: Bearer)"
            return None
        try:
            local = ipaddress.ip_address(request.remote or "").is_loopback
        except ValueError:
            local = False
        if not local:
            return 403, "without http.token, actions are taken from the bridge's machine only"
        return None


async def _health_view(status: Status, request: web.Request) -> web.Response:
    reason = status.health()
    if reason is not None:
        return web.Response(status=503, text=f"unhealthy: {reason}\n")
    return web.Response(
        text=f"ok: listening for stations on port {status.port}, the database takes packets\n"
    )


async def _live_view(status: Status, request: web.Request) -> web.Response:
    # For a watchdog that restarts the bridge: unhealthy only where a restart
    # helps (a failing disk or a full database answer 503 on /healthz only).
    reason = status.restart_helps()
    if reason is not None:
        return web.Response(status=503, text=f"a restart would help: {reason}\n")
    return web.Response(text="alive\n")


def ingress_path(request: web.Request) -> str:
    """The path the page is served under: the ingress proxy's ``X-Ingress-Path``
    when it is one, else "" (served at the root)."""
    path = request.headers.get(INGRESS_PATH_HEADER, "").rstrip("/")
    return path if INGRESS_PATH_RE.fullmatch(path) else ""


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(data, ensure_ascii=False),
        content_type="application/json",
    )


def _reopen(spool: Spool) -> None:
    spool.close()
    spool.open()
