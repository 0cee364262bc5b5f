"""What a release ships: two distributions at one version, and the brand icon.

``wxstation`` (library/) is the library Home Assistant installs: the
integration's manifest pins ``wxstation==<version>``. ``wxstation-bridge``
(the root) is the server, which pins the library at its own version.
``library/VERSION`` is the one version of both. These tests build the sdists
and wheels the way the release workflow does (``python -m build``: the sdist,
then the wheel from it) and check that the pins are exactly what the wheels
provide, that each wheel holds its own package and nothing else, and that the
library asks only for what Home Assistant ships.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from PIL import Image, ImageChops

from tests.support.release import BRIDGE, LIBRARY, PROJECTS, ROOT, project_version, wheel_metadata

INTEGRATION = ROOT / "custom_components" / "wxstation"
#: What Home Assistant itself installs and the library may ask for: the
#: integration must add the library alone (tests/ha_plain checks it against a
#: real Home Assistant's constraints).
HOME_ASSISTANT_SHIPS = {"orjson", "voluptuous", "pyyaml"}


def _manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((INTEGRATION / "manifest.json").read_text())
    return manifest


def _pinned_version(requirement: Requirement) -> Version:
    (spec,) = requirement.specifier
    assert spec.operator == "==", f"{requirement} pins one exact version"
    return Version(spec.version)


def _requires(metadata: Message) -> list[Requirement]:
    return [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]


def test_manifest_and_addon_carry_the_oneversion() -> None:
    """library/VERSION is the manifest's version, the version its one requirement
    pins (the library), and the add-on's (the Supervisor builds it at that
    version of the bridge)."""
    version = project_version()
    (requirement,) = [Requirement(r) for r in _manifest()["requirements"]]
    assert canonicalize_name(requirement.name) == LIBRARY
    assert _pinned_version(requirement) == Version(version)
    assert _manifest()["version"] == version
    addon = yaml.safe_load((ROOT / "addon" / "config.yaml").read_text())
    assert addon["version"] == version
    assert isinstance(addon["version"], str)


def test_set_version_writes_every_place(tmp_path: Path) -> None:
    """scripts/set_version.py sets library/VERSION, the manifest (version and pin)
    and the add-on's config.yaml, in a copy of the tree."""
    for name in ("library/VERSION", "scripts/set_version.py", "addon/config.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((ROOT / name).read_text())
    manifest = tmp_path / "custom_components" / "wxstation" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text((INTEGRATION / "manifest.json").read_text())
    subprocess.run(
        [sys.executable, str(tmp_path / "scripts" / "set_version.py"), "9.8.7"],
        capture_output=True,
        check=True,
    )
    assert (tmp_path / "library" / "VERSION").read_text() == "9.8.7\n"
    written = json.loads(manifest.read_text())
    assert written["version"] == "9.8.7"
    assert written["requirements"] == ["wxstation==9.8.7"]
    assert yaml.safe_load((tmp_path / "addon" / "config.yaml").read_text())["version"] == "9.8.7"


def test_set_version_script_prints_theversion() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "set_version.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == project_version()


def test_twine_check_passes(dist: dict[str, dict[str, Path]]) -> None:
    """PyPI's own checks of the metadata (what twine upload would be refused for)."""
    files = [str(f) for built in dist.values() for f in built.values()]
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 4, result.stdout


def test_both_distributions_carry_the_one_version(dist: dict[str, dict[str, Path]]) -> None:
    """Both wheels and sdists are at library/VERSION; the bridge pins the library
    at exactly that version; the library is what the manifest requires."""
    version = project_version()
    for name, built in dist.items():
        metadata, _ = wheel_metadata(built["wheel"])
        assert canonicalize_name(metadata["Name"]) == name
        assert metadata["Version"] == version
        with tarfile.open(built["sdist"]) as tf:
            (pkg_info,) = [
                m
                for m in tf.getmembers()
                if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
            ]
            extracted = tf.extractfile(pkg_info)
            assert extracted is not None
            sdist_metadata = Parser().parsestr(extracted.read().decode())
        assert (sdist_metadata["Name"], sdist_metadata["Version"]) == (metadata["Name"], version)
    bridge, _ = wheel_metadata(dist[BRIDGE]["wheel"])
    (pin,) = [r for r in _requires(bridge) if canonicalize_name(r.name) == LIBRARY]
    assert str(pin.specifier) == f"=={version}"
    (requirement,) = [Requirement(r) for r in _manifest()["requirements"]]
    library, _ = wheel_metadata(dist[LIBRARY]["wheel"])
    assert canonicalize_name(requirement.name) == canonicalize_name(library["Name"])
    assert requirement.specifier.contains(library["Version"], prereleases=True)


def test_the_library_asks_only_for_what_home_assistant_ships(
    dist: dict[str, dict[str, Path]],
) -> None:
    """The library's dependencies are among those Home Assistant installs itself
    (no extras, no markers that pull in more)."""
    metadata, _ = wheel_metadata(dist[LIBRARY]["wheel"])
    requires = _requires(metadata)
    assert {canonicalize_name(r.name) for r in requires} <= HOME_ASSISTANT_SHIPS
    assert all(not r.extras and r.marker is None for r in requires), requires


@pytest.mark.parametrize("name", [LIBRARY, BRIDGE])
def test_each_wheel_holds_its_package_and_py_typed(
    dist: dict[str, dict[str, Path]], name: str
) -> None:
    """The library's wheel holds library/wxstation and the bridge's bridge/, each
    whole with its py.typed, and nothing else: neither holds the other's."""
    project, package = PROJECTS[name]
    _, names = wheel_metadata(dist[name]["wheel"])
    in_wheel = {n for n in names if ".dist-info/" not in n}
    in_tree = {
        p.relative_to(project).as_posix()
        for p in (project / package).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert f"{package}/py.typed" in in_wheel
    assert in_wheel == in_tree


def test_wheel_entry_points_are_the_projects(dist: dict[str, dict[str, Path]]) -> None:
    """The bridge's commands, and the library's parser entry point, as each
    project declares them."""
    for name, group_and_points in {
        BRIDGE: ("console_scripts", {"wxstation-bridge": "bridge.cli:main"}),
        LIBRARY: (
            "wxstation.parsers",
            {"reference": "wxstation.parsers.reference:ReferenceParser"},
        ),
    }.items():
        _, names = wheel_metadata(dist[name]["wheel"])
        (entry_points_name,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        with zipfile.ZipFile(dist[name]["wheel"]) as zf:
            text = zf.read(entry_points_name).decode()
        group, points = group_and_points
        assert f"[{group}]" in text
        for point, target in points.items():
            assert f"{point} = {target}" in text


@pytest.mark.parametrize(("name", "size"), [("icon.png", 256), ("icon@2x.png", 512)])
def test_brand_icon(name: str, size: int) -> None:
    """The brand images where Home Assistant 2026.3+ looks for them: square PNGs at its sizes."""
    with Image.open(INTEGRATION / "brand" / name) as image:
        assert image.format == "PNG"
        assert image.size == (size, size)
        assert image.mode == "RGBA"
        image.load()
        colours = image.getcolors(maxcolors=size * size)
        assert colours is not None
        assert len(colours) > 16, "a picture, not a flat fill"


def test_brand_icons_are_one_picture() -> None:
    """icon@2x.png is icon.png at twice the size (within what resampling changes)."""
    with (
        Image.open(INTEGRATION / "brand" / "icon.png") as small,
        Image.open(INTEGRATION / "brand" / "icon@2x.png") as large,
    ):
        halved = large.convert("RGBA").resize(small.size, Image.Resampling.LANCZOS)
        difference = ImageChops.difference(small.convert("RGBA"), halved)
    # Per pixel, the largest difference of any channel; count the pixels that differ visibly.
    channels = difference.split()
    largest = channels[0]
    for channel in channels[1:]:
        largest = ImageChops.lighter(largest, channel)
    histogram = largest.histogram()
    visibly_different = sum(histogram[48:])
    assert visibly_different < small.size[0] * small.size[1] * 0.01
