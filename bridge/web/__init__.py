"""The bridge's HTTP side: a status page, Prometheus metrics, a JSON API and a health check.

- :mod:`bridge.web.server`: the aiohttp server on the bridge's event loop, its
  endpoints, limits and who may act;
- :mod:`bridge.web.snapshot`: what the endpoints show, read from the database;
- :mod:`bridge.web.page`: the page, with inline SVG plots;
- :mod:`bridge.web.metrics`: ``/metrics``.
"""

from bridge.web.server import StatusServer

__all__ = ["StatusServer"]
