"""The bridge's version and dependencies, with the library pinned at that version.

``library/VERSION`` is the one version of both distributions: the library
(``library/pyproject.toml``, which reads the same file) and this bridge, which
depends on exactly that library. Everything else about the bridge's
distribution is in ``pyproject.toml``.
"""

from pathlib import Path

from setuptools import setup

VERSION = (Path(__file__).parent / "library" / "VERSION").read_text().strip()

DEPENDENCIES = [
    # The library: the wire format, parsers, timing, discovery, the listener.
    f"wxstation=={VERSION}",
    "paho-mqtt>=2.1,<3",
    "aiomqtt>=2.3,<3",
    "influxdb-client>=1.40,<2",
    "voluptuous>=0.13",
    "PyYAML>=6.0",
    # The MQTT payloads' JSON: a twentieth of the standard encoder's time.
    # Home Assistant has it already.
    "orjson>=3.9,<4",
    # The status page, /metrics, the JSON API and /healthz (bridge/web/).
    "aiohttp>=3.9,<4",
    "prometheus-client>=0.20",
    # The progress bars of ingest, reprocess and export (bridge/progress.py):
    # pure Python and no dependencies of its own, where rich would bring its
    # whole console for one bar.
    "tqdm>=4.66,<5",
]

setup(version=VERSION, install_requires=DEPENDENCIES)
