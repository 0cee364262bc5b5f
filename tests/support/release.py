"""The release's files built as the release workflow builds them, for the tests
of what a release ships (test_release.py) and of the upgrade to it (test_upgrade.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

__all__ = [
    "BRIDGE",
    "LIBRARY",
    "PROJECTS",
    "ROOT",
    "build_distributions",
    "project_version",
    "wheel_metadata",
]

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = "wxstation"
BRIDGE = "wxstation-bridge"
#: Each distribution's project folder and the package its wheel holds.
PROJECTS = {LIBRARY: (ROOT / "library", "wxstation"), BRIDGE: (ROOT, "bridge")}


def project_version() -> str:
    """The version of both distributions: library/VERSION, the one source."""
    return (ROOT / "library" / "VERSION").read_text(encoding="utf-8").strip()


def build_distributions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """Each distribution's sdist and the wheel built from it (``python -m build``;
    scripts/build does the same), by distribution name: ``{"sdist": ..., "wheel": ...}``.
    Both wheels lie in one folder, which pip can be given as ``--find-links``."""
    out = tmp_path_factory.mktemp("dist")
    built: dict[str, dict[str, Path]] = {}
    for name, (project, _) in PROJECTS.items():
        # A copy, so that the build's egg-info does not land in the checkout.
        source = tmp_path_factory.mktemp(name) / "src"
        shutil.copytree(
            project,
            source,
            ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "library"),
        )
        if name == BRIDGE:
            # setup.py reads the version from library/VERSION, as the sdist carries it.
            (source / "library").mkdir()
            shutil.copy(ROOT / "library" / "VERSION", source / "library" / "VERSION")
        result = subprocess.run(
            [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        stem = name.replace("-", "_")
        (sdist,) = out.glob(f"{stem}-*.tar.gz")
        (wheel,) = out.glob(f"{stem}-*.whl")
        built[name] = {"sdist": sdist, "wheel": wheel}
    return built


def wheel_metadata(wheel: Path) -> tuple[Message, list[str]]:
    """A wheel's METADATA and the names of its files."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(zf.read(metadata_name).decode()), names
