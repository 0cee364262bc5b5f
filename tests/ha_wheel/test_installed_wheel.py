"""The integration as a user installs it: the library's wheel in Home Assistant's venv,
the integration's folder copied.

Home Assistant installs the manifest's requirement (``wxstation==<version>``,
the library alone) from PyPI into its own environment; HACS or a user copies
``custom_components/wxstation`` into the config folder. These tests run in a
Home Assistant venv where only that wheel was installed that way (neither the
checkout's library nor the bridge, ``wxstation-bridge``), and first prove that
nothing comes from the repository's checkout and that the bridge is not there
at all. The station is played from the test vectors, since the bridge's
simulator is not installed either.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import importlib.util
import json
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import pytest
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import package as pkg_util
from packaging.utils import canonicalize_name

import custom_components.wxstation
import wxstation
from custom_components.wxstation.const import DOMAIN
from tests.support.home_assistant import SEND_TIMEOUT, setup_entry, tcp_entry, until
from tests.support.vectors import load_vectors
from wxstation.parsers import ReferenceParser

pytestmark = pytest.mark.usefixtures("socket_enabled")

REPO = Path(__file__).resolve().parents[2]
#: The checkout's library and integration, which must not be what runs.
REPO_LIBRARY = REPO / "library"
REPO_INTEGRATION = REPO / "custom_components" / "wxstation"
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"]).resolve()
#: The distribution the manifest requires, and the bridge's, which it must not bring.
LIBRARY = "wxstation"
BRIDGE = "wxstation-bridge"
MANIFEST = json.loads(
    (Path(custom_components.wxstation.__file__).parent / "manifest.json").read_text()
)
#: The vector the station sends: a reference station's hour of samples (device 1).
PACKET_VECTOR = "reference, one hour of samples"


def _is_within(path: str | Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder)


def _distributions(name: str) -> list[importlib.metadata.Distribution]:
    return [
        d
        for d in importlib.metadata.distributions()
        if canonicalize_name(d.metadata["Name"]) == canonicalize_name(name)
    ]


def test_library_is_imported_from_the_installed_wheel() -> None:
    """wxstation (every module of it loaded so far) is in site-packages, not in the
    checkout's library/."""
    assert [Path(p).resolve() for p in wxstation.__path__] == [SITE_PACKAGES / "wxstation"]
    loaded = {name: m for name, m in sys.modules.items() if name.split(".")[0] == "wxstation"}
    # The integration imported its share of the library at collection.
    assert {"wxstation.samples", "wxstation.receiving", "wxstation.decoding"} <= loaded.keys()
    for name, module in loaded.items():
        path = getattr(module, "__file__", None)
        if path:
            assert _is_within(path, SITE_PACKAGES), f"{name}: {path}"
            assert not _is_within(path, REPO_LIBRARY), f"{name}: {path}"


def test_the_checkout_is_not_on_sys_path() -> None:
    """Neither the repository's library/ (whose wxstation would shadow the wheel), nor its
    root (the bridge), nor an editable finder; the integration is the copy in the config folder."""
    for entry in sys.path:
        resolved = Path(entry or ".").resolve()
        assert resolved not in {REPO, REPO_LIBRARY}, f"on sys.path: {entry!r}"
    finders = [type(f).__module__ for f in sys.meta_path]
    assert not [f for f in finders if f.startswith("__editable__")], finders
    assert not _is_within(custom_components.wxstation.__file__, REPO_INTEGRATION)


def test_one_library_distribution_installed_from_a_wheel() -> None:
    """Exactly one wxstation distribution is visible, in site-packages, installed from a
    wheel that holds the modules (not an editable one that points back at a checkout)."""
    found = _distributions(LIBRARY)
    assert len(found) == 1, [str(d.locate_file("")) for d in found]
    (dist,) = found
    assert dist.version == MANIFEST["version"]
    assert Path(str(dist.locate_file(""))).resolve() == SITE_PACKAGES
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    assert not direct_url.get("dir_info", {}).get("editable", False), direct_url
    # An editable install records only its .pth and finder; this one has the modules.
    files = {str(f) for f in dist.files or []}
    assert {"wxstation/__init__.py", "wxstation/samples.py", "wxstation/listener.py"} <= files
    assert not [f for f in files if f.startswith("bridge/")], "the library's wheel holds bridge/"


def test_the_bridge_is_not_installed() -> None:
    """The integration runs on the library alone: no ``bridge`` package can be imported,
    no wxstation-bridge distribution is installed, and the integration loaded none of it."""
    assert importlib.util.find_spec("bridge") is None
    assert _distributions(BRIDGE) == []
    assert not [name for name in sys.modules if name.split(".")[0] == "bridge"]
    assert not pkg_util.is_installed(BRIDGE)


def test_manifest_requirements_are_met() -> None:
    """Home Assistant's own check finds the manifest's requirements installed: no pip needed.
    The manifest requires the library alone."""
    requirements = MANIFEST["requirements"]
    assert requirements == [f"{LIBRARY}=={MANIFEST['version']}"]
    for requirement in requirements:
        assert pkg_util.is_installed(requirement), requirement


async def _send(port: int, data: bytes) -> None:
    """What a station does: connect, write its packet, close (what the bridge's
    ``bridge.sim.send_packet_async`` does elsewhere: the bridge is not installed here)."""
    async with asyncio.timeout(SEND_TIMEOUT):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(data)
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _vector(name: str) -> dict[str, Any]:
    cases: list[dict[str, Any]] = load_vectors("decode.json")
    (case,) = [c for c in cases if c["name"] == name]
    assert case["valid"] is True, case
    assert case["profile"] == "reference", case
    return case


async def test_integration_sets_up_from_the_wheel_and_shows_a_station(hass: HomeAssistant) -> None:
    """A direct-mode entry sets up with requirements processed as in production, and a
    station's packet creates its sensors with the values the library decodes it to (those
    of the test vector)."""
    # The test harness skips requirement processing; a real Home Assistant does
    # it. Any requirement not already installed would be a pip install here,
    # which the run forbids (PIP_NO_INDEX), so the setup would fail.
    hass.config.skip_pip = False
    entry = tcp_entry()
    await setup_entry(hass, entry)

    case = _vector(PACKET_VECTOR)
    device = case["header"]["device_id"]
    source = entry.runtime_data.source
    now = float(int(time.time()))
    source.clock = lambda: now
    await _send(source.port, bytes.fromhex(case["hex"]))
    await until(hass, lambda: source.handled == 1, "the packet handled")

    newest: dict[str, float] = case["samples"][-1]
    units = {field.key: field.unit for field in ReferenceParser().fields}
    assert set(newest) == set(units)
    registry = er.async_get(hass)
    for key, value in newest.items():
        unique_id = f"{entry.entry_id}_{device}_{key}"
        entity_id = registry.async_get_entity_id("sensor", DOMAIN, unique_id)
        assert entity_id == f"sensor.station_{device}_{key}"
        state = hass.states.get(entity_id)
        assert state is not None
        assert float(state.state) == pytest.approx(value, abs=1e-6)
        assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == units[key]
