"""What a release ships: the sdist and wheel, the version they carry, the brand icon.

The integration's manifest pins ``wxstation==<version>``, which Home Assistant
installs from PyPI; these tests build the sdist and the wheel the way the
release workflow does (``python -m build``) and check that the pin is exactly
what the wheel provides, and that the wheel holds every module the integration
imports.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tarfile
import tomllib
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

ROOT = Path(__file__).resolve().parent.parent
INTEGRATION = ROOT / "custom_components" / "wxstation"
PACKAGE = "bridge"


def _pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def _manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((INTEGRATION / "manifest.json").read_text())
    return manifest


def _own_requirement() -> Requirement:
    """The manifest's requirement on this project's distribution (there must be exactly one)."""
    name = canonicalize_name(_pyproject()["project"]["name"])
    own = [
        Requirement(r)
        for r in _manifest()["requirements"]
        if canonicalize_name(Requirement(r).name) == name
    ]
    assert len(own) == 1, f"manifest requirements {_manifest()['requirements']} pin {name} once"
    return own[0]


def _pinned_version(requirement: Requirement) -> Version:
    (spec,) = requirement.specifier
    assert spec.operator == "==", f"{requirement} pins one exact version"
    return Version(spec.version)


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel built from it, as the release workflow builds them."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel}


def _wheel_metadata(wheel: Path) -> tuple[Message, list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(zf.read(metadata_name).decode()), names


def _integration_imports() -> set[str]:
    """Every ``bridge`` module the integration's code imports."""
    modules: set[str] = set()
    for path in INTEGRATION.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == PACKAGE:
                    modules.update(f"{PACKAGE}.{alias.name}" for alias in node.names)
                elif node.module.startswith(PACKAGE + "."):
                    modules.add(node.module)
            elif isinstance(node, ast.Import):
                modules.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
    return modules


def test_manifest_version_and_requirement_are_the_project_version() -> None:
    """pyproject.toml's version is the manifest's version and the version it pins."""
    version = Version(_pyproject()["project"]["version"])
    assert Version(_manifest()["version"]) == version
    assert _manifest()["version"] == _pyproject()["project"]["version"]
    assert _pinned_version(_own_requirement()) == version


def test_addon_version_is_the_project_version() -> None:
    """The add-on's config.yaml carries pyproject.toml's version (the Supervisor
    builds the add-on at it, from the wheel on PyPI)."""
    addon = yaml.safe_load((ROOT / "addon" / "config.yaml").read_text())
    assert addon["version"] == _pyproject()["project"]["version"]
    assert isinstance(addon["version"], str)


def test_set_version_writes_every_place(tmp_path: Path) -> None:
    """scripts/set_version.py sets the version in pyproject.toml, the manifest (version
    and pin) and the add-on's config.yaml, in a copy of the tree."""
    for name in ("pyproject.toml", "scripts/set_version.py", "addon/config.yaml"):
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
    with (tmp_path / "pyproject.toml").open("rb") as f:
        assert tomllib.load(f)["project"]["version"] == "9.8.7"
    written = json.loads(manifest.read_text())
    assert written["version"] == "9.8.7"
    assert "wxstation==9.8.7" in written["requirements"]
    assert yaml.safe_load((tmp_path / "addon" / "config.yaml").read_text())["version"] == "9.8.7"


def test_set_version_script_prints_the_project_version() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "set_version.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == _pyproject()["project"]["version"]


def test_twine_check_passes(dist: dict[str, Path]) -> None:
    """PyPI's own checks of the metadata (what twine upload would be refused for)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "twine",
            "check",
            "--strict",
            str(dist["sdist"]),
            str(dist["wheel"]),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_wheel_is_what_the_manifest_requires(dist: dict[str, Path]) -> None:
    """The wheel's name and version satisfy the manifest's pin, and are the manifest's version."""
    metadata, _ = _wheel_metadata(dist["wheel"])
    requirement = _own_requirement()
    assert canonicalize_name(metadata["Name"]) == canonicalize_name(requirement.name)
    assert Version(metadata["Version"]) == _pinned_version(requirement)
    assert requirement.specifier.contains(metadata["Version"], prereleases=True)
    assert metadata["Version"] == _manifest()["version"]


def test_sdist_carries_the_same_name_and_version(dist: dict[str, Path]) -> None:
    metadata, _ = _wheel_metadata(dist["wheel"])
    with tarfile.open(dist["sdist"]) as tf:
        (pkg_info,) = [
            m for m in tf.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
        ]
        extracted = tf.extractfile(pkg_info)
        assert extracted is not None
        sdist_metadata = Parser().parsestr(extracted.read().decode())
    assert sdist_metadata["Name"] == metadata["Name"]
    assert sdist_metadata["Version"] == metadata["Version"]


def test_wheel_holds_the_bridge_package_and_py_typed(dist: dict[str, Path]) -> None:
    """Every module of bridge/ (so every one the integration imports) and py.typed; nothing else."""
    _, names = _wheel_metadata(dist["wheel"])
    in_wheel = {n for n in names if ".dist-info/" not in n}
    in_tree = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / PACKAGE).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert f"{PACKAGE}/py.typed" in in_wheel
    assert in_wheel == in_tree

    imported = _integration_imports()
    assert imported, "the integration imports nothing from bridge: check _integration_imports"
    for module in sorted(imported):
        path = module.replace(".", "/")
        assert {f"{path}.py", f"{path}/__init__.py"} & in_wheel, f"{module} is not in the wheel"


def test_wheel_entry_points_are_the_projects(dist: dict[str, Path]) -> None:
    """The commands and the parser entry point that pyproject.toml declares."""
    _, names = _wheel_metadata(dist["wheel"])
    (entry_points_name,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(dist["wheel"]) as zf:
        text = zf.read(entry_points_name).decode()
    project = _pyproject()["project"]
    for name, target in project["scripts"].items():
        assert f"{name} = {target}" in text
    for group, points in project["entry-points"].items():
        assert f"[{group}]" in text
        for name, target in points.items():
            assert f"{name} = {target}" in text


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
