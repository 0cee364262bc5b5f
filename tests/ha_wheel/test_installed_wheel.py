"""The integration as a user installs it: the wheel in Home Assistant's venv, the folder copied.

Home Assistant installs the manifest's requirement (``wxstation==<version>``)
from PyPI into its own environment; HACS or a user copies
``custom_components/wxstation`` into the config folder. These tests run in a
Home Assistant venv where the project's wheel was installed that way, and
first prove that nothing comes from the repository's checkout.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import sysconfig
import time
from pathlib import Path

import pytest
from common import REFERENCE, send_and_wait, setup_entry, station, tcp_entry
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import package as pkg_util
from packaging.utils import canonicalize_name

import bridge
import custom_components.wxstation
from custom_components.wxstation.const import DOMAIN
from wxstation.samples import make_batch
from wxstation.timing import StationClock

pytestmark = pytest.mark.usefixtures("socket_enabled")

REPO = Path(__file__).resolve().parents[2]
#: The checkout's package and integration, which must not be what runs.
REPO_BRIDGE = REPO / "bridge"
REPO_INTEGRATION = REPO / "custom_components" / "wxstation"
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"]).resolve()
DISTRIBUTION = "wxstation"
MANIFEST = json.loads(
    (Path(custom_components.wxstation.__file__).parent / "manifest.json").read_text()
)


def _is_within(path: str | Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder)


def test_bridge_is_imported_from_the_installed_wheel() -> None:
    """bridge (every module of it loaded so far) is in site-packages, not in the checkout."""
    assert [Path(p).resolve() for p in bridge.__path__] == [SITE_PACKAGES / "bridge"]
    loaded = {name: m for name, m in sys.modules.items() if name.split(".")[0] == "bridge"}
    # The integration imported its share of bridge at collection.
    assert {"wxstation.samples", "wxstation.receiving", "wxstation.decoding"} <= loaded.keys()
    for name, module in loaded.items():
        if getattr(module, "__file__", None):
            assert _is_within(module.__file__, SITE_PACKAGES), f"{name}: {module.__file__}"
            assert not _is_within(module.__file__, REPO_BRIDGE), f"{name}: {module.__file__}"


def test_the_checkout_is_not_on_sys_path() -> None:
    """Neither the repository (whose bridge/ would shadow the wheel) nor an editable finder;
    the integration is the copy in the config folder."""
    for entry in sys.path:
        assert Path(entry or ".").resolve() / "bridge" != REPO_BRIDGE, f"on sys.path: {entry!r}"
    finders = [type(f).__module__ for f in sys.meta_path]
    assert not [f for f in finders if f.startswith("__editable__")], finders
    assert not _is_within(custom_components.wxstation.__file__, REPO_INTEGRATION)


def test_one_wxstation_distribution_installed_from_a_wheel() -> None:
    """Exactly one wxstation distribution is visible, in site-packages, not an editable one."""
    found = [
        d
        for d in importlib.metadata.distributions()
        if canonicalize_name(d.metadata["Name"]) == DISTRIBUTION
    ]
    assert len(found) == 1, [str(d.locate_file("")) for d in found]
    (dist,) = found
    assert Path(str(dist.locate_file(""))).resolve() == SITE_PACKAGES
    direct_url = json.loads(dist.read_text("direct_url.json") or "{}")
    assert not direct_url.get("dir_info", {}).get("editable", False), direct_url
    # An editable install records only its .pth and finder; this one has the modules.
    assert "library/wxstation/samples.py" in {str(f) for f in dist.files or []}


def test_manifest_requirements_are_met() -> None:
    """Home Assistant's own check finds the manifest's requirements installed: no pip needed."""
    requirements = MANIFEST["requirements"]
    assert f"{DISTRIBUTION}=={MANIFEST['version']}" in requirements
    for requirement in requirements:
        assert pkg_util.is_installed(requirement), requirement


async def test_integration_sets_up_from_the_wheel_and_shows_a_station(hass: HomeAssistant) -> None:
    """A direct-mode entry sets up (requirements processed as in production) and a packet
    creates the station's sensors with the values the wheel's decoding gives."""
    # The test harness skips requirement processing; a real Home Assistant does
    # it. Any requirement not already installed would be a pip install here,
    # which the run forbids (PIP_NO_INDEX), so the setup would fail.
    hass.config.skip_pip = False
    entry = tcp_entry()
    await setup_entry(hass, entry)

    wake = station().wake()
    now = float(int(time.time()))
    await send_and_wait(hass, entry, wake.packet, now)

    batch, _ = make_batch("Station 1", REFERENCE, StationClock(), wake.packet, now)
    newest = batch.samples[-1].values
    registry = er.async_get(hass)
    units = {field.key: field.unit for field in REFERENCE.fields}
    assert set(newest) == set(units)
    for key, value in newest.items():
        entity_id = registry.async_get_entity_id("sensor", DOMAIN, f"{entry.entry_id}_1_{key}")
        assert entity_id == f"sensor.station_1_{key}"
        state = hass.states.get(entity_id)
        assert state is not None
        assert float(state.state) == pytest.approx(value)
        assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == units[key]
