"""Stand-ins for what Home Assistant's Supervisor does around an add-on.

- :class:`SupervisorApi`: the API at ``http://supervisor``, here only
  ``GET /services/mqtt`` (the broker the Mosquitto add-on provides, with its
  credentials), answered to the add-on's ``SUPERVISOR_TOKEN`` only.
- :class:`IngressProxy`: the ingress proxy, which serves an add-on's page under
  ``/api/hassio_ingress/<token>/`` and forwards each request to the add-on
  without that prefix and with the prefix in ``X-Ingress-Path``, its other
  headers (``Host`` and ``Origin`` too) as the browser sent them. It keeps every
  path a browser asked for, so a test sees a link that left the prefix.

Both are threaded HTTP servers on a free port of 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from tests.support.servers import HOST, Mosquitto

__all__ = ["INGRESS_PREFIX", "IngressProxy", "SupervisorApi"]

#: The path Home Assistant serves an add-on's ingress page under (the token is per add-on).
INGRESS_PREFIX = "/api/hassio_ingress/0123456789abcdef-Test_Token"
#: Seconds the proxy waits for the add-on's answer.
FORWARD_TIMEOUT = 30.0


class _Server:
    """A threaded HTTP server on a free port, with ``handle(handler)`` answering."""

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.handle(self)

            def do_POST(self) -> None:
                owner.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _answer(request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    request.send_response(status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)


class SupervisorApi(_Server):
    """``GET /services/mqtt`` with ``broker``'s address and credentials, for ``token``."""

    def __init__(self, token: str, broker: Mosquitto) -> None:
        super().__init__()
        self.token = token
        self.broker = broker
        #: (path, whether the token was right) of every request.
        self.requests: list[tuple[str, bool]] = []

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        authorized = request.headers.get("Authorization") == f"Bearer {self.token}"
        self.requests.append((request.path, authorized))
        if not authorized:
            _answer(request, 401, b"401: Unauthorized", "text/plain")
            return
        if request.path != "/services/mqtt" or self.broker.credentials is None:
            _answer(
                request, 400, b'{"result": "error", "message": "not found"}', "application/json"
            )
            return
        user, password = self.broker.credentials
        data = {
            "host": self.broker.host,
            "port": self.broker.port,
            "ssl": False,
            "protocol": "3.1.1",
            "username": user,
            "password": password,
            "addon": "core_mosquitto",
        }
        body = json.dumps({"result": "ok", "data": data}).encode()
        _answer(request, 200, body, "application/json")


class IngressProxy(_Server):
    """Serves the add-on's page at ``port`` under :data:`INGRESS_PREFIX`, as Home Assistant does."""

    def __init__(self, upstream_port: int) -> None:
        super().__init__()
        self.upstream = f"http://{HOST}:{upstream_port}"
        #: Every path asked for, and those outside the prefix (answered 404).
        self.paths: list[str] = []
        self.strays: list[str] = []

    @property
    def url(self) -> str:
        """The page's address, as the browser opens it."""
        return f"http://{HOST}:{self.port}{INGRESS_PREFIX}/"

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        self.paths.append(request.path)
        if not request.path.startswith(INGRESS_PREFIX + "/"):
            self.strays.append(request.path)
            _answer(request, 404, b"not under the ingress path", "text/plain")
            return
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        forwarded = urllib.request.Request(  # noqa: S310  (http to the add-on, built here)
            self.upstream + request.path[len(INGRESS_PREFIX) :],
            data=body,
            method=request.command,
            headers={
                **{k: v for k, v in request.headers.items() if k.lower() != "content-length"},
                "X-Ingress-Path": INGRESS_PREFIX,
            },
        )
        status, content, content_type = self._forward(forwarded)
        _answer(request, status, content, content_type)

    @staticmethod
    def _forward(request: urllib.request.Request) -> tuple[int, bytes, str]:
        try:
            with urllib.request.urlopen(request, timeout=FORWARD_TIMEOUT) as response:  # noqa: S310
                return response.status, response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            return err.code, err.read(), err.headers.get("Content-Type", "")
