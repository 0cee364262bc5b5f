"""What the integration's requirement adds to a plain Home Assistant.

Home Assistant installs the manifest's requirement into its own environment,
under its own constraints (``homeassistant/package_constraints.txt``). Asked
with ``pip install --dry-run --report`` in a venv that holds Home Assistant
alone (scripts/lib.sh: ha_plain_venv, not a test venv whose extras could hide
a dependency), the library's wheel must add exactly one distribution: itself.
The old requirement's shape, the whole server (today's ``wxstation-bridge``,
what ``wxstation==0.1.0`` was), is measured beside it to show what that cost.

Given by the environment (scripts/test sets both):
- ``WXSTATION_PLAIN_VENV``: the plain Home Assistant venv;
- ``WXSTATION_DIST``: the folder with both wheels (scripts/build).
Without them the tests skip, except under CI, where they fail.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.release import BRIDGE, LIBRARY, project_version, wheel_metadata

VERSION = project_version()
#: The wheels' names as setuptools gives them (the name normalised, PEP 427).
LIBRARY_WHEEL = f"wxstation-{VERSION}-py3-none-any.whl"
BRIDGE_WHEEL = f"wxstation_bridge-{VERSION}-py3-none-any.whl"
#: Seconds pip may take to resolve one wheel against the index.
PIP_TIMEOUT = 600


@dataclass(frozen=True)
class PlainHomeAssistant:
    """A venv that holds Home Assistant alone, and its constraints."""

    python: Path
    constraints: Path

    def installed(self) -> dict[str, str]:
        """Its distributions: canonical name -> version."""
        out = subprocess.run(
            [self.python, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
            check=True,
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT,
        ).stdout
        return {canonicalize_name(d["name"]): d["version"] for d in json.loads(out)}

    def would_add(self, wheel: Path, tmp_path: Path) -> dict[str, str]:
        """What ``pip install WHEEL`` under Home Assistant's constraints would install:
        canonical name -> version, from pip's installation report."""
        report = tmp_path / f"{wheel.name}.report.json"
        subprocess.run(
            [
                self.python, "-m", "pip", "install", "--dry-run", "--quiet",
                "--disable-pip-version-check", "--report", report,
                "-c", self.constraints, "--find-links", wheel.parent, wheel,
            ],
            check=True,
            timeout=PIP_TIMEOUT,
        )  # fmt: skip
        install: list[dict[str, Any]] = json.loads(report.read_text())["install"]
        return {
            canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
            for item in install
        }


def _given(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        message = f"{name} is not set: run these tests through ./scripts/test"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return value


@pytest.fixture(scope="module")
def plain() -> PlainHomeAssistant:
    venv = Path(_given("WXSTATION_PLAIN_VENV"))
    python = venv / "bin" / "python"
    assert python.is_file(), f"WXSTATION_PLAIN_VENV={venv} is no venv (see ha_plain_venv)"
    constraints = subprocess.run(
        [python, "-c", "import homeassistant, pathlib; "
         "print(pathlib.Path(homeassistant.__file__).with_name('package_constraints.txt'))"],
        check=True, capture_output=True, text=True, timeout=PIP_TIMEOUT,
    ).stdout.strip()  # fmt: skip
    return PlainHomeAssistant(python, Path(constraints))


@pytest.fixture(scope="module")
def dist() -> Path:
    return Path(_given("WXSTATION_DIST"))


def _show(what: str, added: dict[str, str]) -> None:
    print(f"\n{what}: {len(added)} distribution(s) added")
    for name, version in sorted(added.items()):
        print(f"  {name}=={version}")


def test_the_plain_venv_holds_home_assistant_alone(plain: PlainHomeAssistant) -> None:
    """The venv measured in has Home Assistant and neither of the project's distributions."""
    installed = plain.installed()
    assert "homeassistant" in installed
    assert LIBRARY not in installed
    assert BRIDGE not in installed
    release = installed["homeassistant"]
    print(f"\nplain venv: homeassistant=={release}, {len(installed)} distributions")


def test_the_library_adds_exactly_one_distribution(
    plain: PlainHomeAssistant, dist: Path, tmp_path: Path
) -> None:
    """The manifest's requirement, the library's wheel, adds itself and nothing else:
    its dependencies are all already in Home Assistant, at versions its constraints allow."""
    added = plain.would_add(dist / LIBRARY_WHEEL, tmp_path)
    _show(f"{LIBRARY_WHEEL} (the manifest's requirement)", added)
    assert added == {LIBRARY: VERSION}


def test_the_old_requirement_shape_adds_the_servers_dependencies(
    plain: PlainHomeAssistant, dist: Path, tmp_path: Path
) -> None:
    """The whole server (what ``wxstation==0.1.0`` was, now ``wxstation-bridge``) would add
    itself, the library and every dependency of its own that Home Assistant lacks."""
    wheel = dist / BRIDGE_WHEEL
    added = plain.would_add(wheel, tmp_path)
    _show(f"{BRIDGE_WHEEL} (the old requirement's shape)", added)
    installed = plain.installed()
    direct = {canonicalize_name(Requirement(r).name) for r in _requires_dist(wheel)}
    missing = {name for name in direct if name not in installed}
    assert {LIBRARY, BRIDGE} <= added.keys()
    assert missing <= added.keys()
    assert len(added) > len(missing) >= 1


def _requires_dist(wheel: Path) -> list[str]:
    """The wheel's own Requires-Dist lines (its METADATA), without extras' ones."""
    metadata, _ = wheel_metadata(wheel)
    return [line for line in metadata.get_all("Requires-Dist") or [] if "extra ==" not in line]
