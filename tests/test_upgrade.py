"""The upgrade from 0.1.0, where the distribution ``wxstation`` was the whole server.

0.1.0 installed the top-level package ``bridge``, the commands
``wxstation-bridge`` and ``wxstation-sim``, and the server's dependencies. Since
then ``wxstation`` is the library alone and the server is ``wxstation-bridge``.
Two upgrades start from 0.1.0 installed:

- Home Assistant's: the manifest now requires the new ``wxstation``, which Home
  Assistant installs as ``homeassistant.util.package.install_package`` does
  (``python -m uv pip install --upgrade --index-strategy unsafe-first-match``).
  The old distribution's files go, ``bridge`` and the commands with them; the
  old dependencies stay, unused.
- A bridge user's: ``pip install wxstation-bridge==<version>`` upgrades
  ``wxstation`` first (its dependency), which removes 0.1.0's ``bridge``, and
  then installs the bridge's own ``bridge``: no file of it may be lost.

The 0.1.0 wheel is made here (the history of a shallow clone lacks 0.1.0): the
distribution ``wxstation`` 0.1.0 with 0.1.0's shape, that is the package
``bridge`` holding today's bridge/ and, beside it, the modules that have since
moved into the library (as they lay in 0.1.0), 0.1.0's two commands and the
server's dependencies. Everything is installed without an index, from one
folder of wheels that pip fills once a session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.release import BRIDGE, LIBRARY, ROOT, project_version, wheel_metadata

OLD_VERSION = "0.1.0"
#: 0.1.0's commands and what they ran (the bridge's are the same two).
OLD_COMMANDS = {"wxstation-bridge": "bridge.cli:main", "wxstation-sim": "bridge.sim:main"}
#: The uv that installs the requirement as Home Assistant does (Home Assistant
#: depends on uv and runs it as ``python -m uv``).
UV = "uv>=0.6,<1"
#: Seconds one pip or uv run may take (a download of the wheels, at most).
INSTALL_TIMEOUT = 600


@dataclass(frozen=True)
class Venv:
    """A plain venv (no pip of its own: the tests' pip is pointed at it)."""

    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        return Path(
            sysconfig.get_path("purelib", vars={"base": str(self.path), "platbase": str(self.path)})
        )

    def run(self, *args: str | Path) -> str:
        """A command in the venv, away from the checkout (no PYTHONPATH, not run from
        the repository, whose folders would shadow what is installed)."""
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
        result = subprocess.run(
            [str(a) for a in args],
            cwd=self.path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=INSTALL_TIMEOUT,
        )
        assert result.returncode == 0, f"{args}:\n{result.stdout}{result.stderr}"
        return result.stdout

    def pip(self, *args: str | Path) -> str:
        return self.run(
            sys.executable, "-m", "pip", "--python", self.python,
            "--disable-pip-version-check", *args,
        )  # fmt: skip

    def distributions(self) -> dict[str, str]:
        """Installed distributions: canonical name -> version."""
        listed = json.loads(self.pip("list", "--format", "json"))
        return {canonicalize_name(d["name"]): d["version"] for d in listed}

    def package_files(self, package: str) -> set[str]:
        """The files of a top-level package in site-packages (without bytecode)."""
        folder = self.site_packages / package
        return {
            p.relative_to(self.site_packages).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }

    def commands(self) -> set[str]:
        return {p.name for p in (self.path / "bin").iterdir()} & set(OLD_COMMANDS)

    def imported_from(self, module: str) -> str | None:
        """Where ``module`` is found in the venv (its first search location), or None."""
        out = self.run(
            self.python, "-c",
            "import importlib.util, sys; s = importlib.util.find_spec(sys.argv[1]); "
            "print(None if s is None else (s.origin or list(s.submodule_search_locations)[0]))",
            module,
        ).strip()  # fmt: skip
        return None if out == "None" else out


@dataclass(frozen=True)
class Wheels:
    """The old 0.1.0 wheel and a folder with everything the upgrades install."""

    old: Path
    folder: Path


def _old_wheel(tmp: Path, bridge_wheel: Path) -> Path:
    """The distribution ``wxstation`` 0.1.0 in 0.1.0's shape (see the module's docstring)."""
    source = tmp / "src"
    package = source / "bridge"
    shutil.copytree(ROOT / "bridge", package, ignore=shutil.ignore_patterns("__pycache__"))
    library = ROOT / "library" / "wxstation"
    for module in library.rglob("*.py"):
        place = package / module.relative_to(library)
        # bridge was a namespace package: the library's own __init__ is new.
        if place != package / "__init__.py" and not place.exists():
            place.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(module, place)
    metadata, _ = wheel_metadata(bridge_wheel)
    # 0.1.0's dependencies were the server's, without the library it now pins.
    dependencies = [
        r
        for r in metadata.get_all("Requires-Dist") or []
        if canonicalize_name(Requirement(r).name) != LIBRARY and "extra ==" not in r
    ]
    scripts = "\n".join(f'{command} = "{target}"' for command, target in OLD_COMMANDS.items())
    (source / "pyproject.toml").write_text(
        f"""[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{LIBRARY}"
version = "{OLD_VERSION}"
requires-python = ">=3.11"
dependencies = {json.dumps(dependencies)}

[project.scripts]
{scripts}

[tool.setuptools.packages.find]
include = ["bridge*"]

[tool.setuptools.package-data]
bridge = ["py.typed"]
"""
    )
    out = tmp / "old"
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
        timeout=INSTALL_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    (wheel,) = out.glob(f"{LIBRARY}-{OLD_VERSION}-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheels(dist: dict[str, dict[str, Path]], tmp_path_factory: pytest.TempPathFactory) -> Wheels:
    """0.1.0's wheel, and one folder with both new wheels and every dependency's wheel
    (and uv's), downloaded once, so that the upgrades themselves need no index."""
    tmp = tmp_path_factory.mktemp("upgrade")
    old = _old_wheel(tmp, dist[BRIDGE]["wheel"])
    folder = tmp / "wheels"
    folder.mkdir()
    for built in dist.values():
        shutil.copy(built["wheel"], folder)
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--quiet",
            "--dest", folder, "--find-links", folder, dist[BRIDGE]["wheel"], UV,
        ],
        capture_output=True, text=True, check=False, timeout=INSTALL_TIMEOUT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return Wheels(old, folder)


@pytest.fixture
def with_old(wheels: Wheels, tmp_path: Path) -> Venv:
    """A venv where 0.1.0 is installed (pip, from the wheels' folder), as it stood."""
    env = Venv(tmp_path / "venv")
    venv.create(env.path, with_pip=False)
    env.pip("install", "--quiet", "--no-index", "--find-links", wheels.folder, wheels.old)
    assert env.distributions()[LIBRARY] == OLD_VERSION
    assert env.imported_from("bridge") == str(env.site_packages / "bridge")
    assert env.imported_from("wxstation") is None
    assert env.commands() == set(OLD_COMMANDS)
    return env


def _show(what: str, before: dict[str, str], after: dict[str, str]) -> None:
    print(f"\n{what}: {len(before)} distributions before, {len(after)} after")
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name, "-"), after.get(name, "-")
        if old != new:
            print(f"  {name}: {old} -> {new}")


def test_home_assistant_moves_to_the_library_cleanly(with_old: Venv, wheels: Wheels) -> None:
    """Home Assistant's install of the new requirement over 0.1.0 replaces the server
    with the library: 0.1.0's bridge/ and commands are gone, wxstation comes from the
    new wheel, and the environment is consistent. 0.1.0's dependencies stay, unused."""
    env = with_old
    # Home Assistant brings uv.
    env.pip("install", "--quiet", "--no-index", "--find-links", wheels.folder, UV)
    before = env.distributions()
    old_files = env.package_files("bridge")
    # homeassistant.util.package.install_package's command (upgrade=True), without
    # an index: everything is in the folder.
    env.run(
        env.python, "-m", "uv", "pip", "install", "--quiet", f"{LIBRARY}=={project_version()}",
        "--index-strategy", "unsafe-first-match", "--upgrade",
        "--no-index", "--find-links", wheels.folder,
    )  # fmt: skip
    after = env.distributions()
    _show("Home Assistant's upgrade", before, after)
    print(f"  bridge/: {len(old_files)} files before, 0 after")
    left = sorted(n for n in before.keys() & after.keys() if n not in {LIBRARY, "uv"})
    print(f"  still installed from 0.1.0 (deps and theirs): {len(left)}: {', '.join(left)}")

    assert after[LIBRARY] == project_version()
    assert BRIDGE not in after
    assert not (env.site_packages / "bridge").exists()
    assert env.imported_from("bridge") is None
    assert env.commands() == set()
    assert env.imported_from("wxstation") == str(env.site_packages / "wxstation" / "__init__.py")
    # The old dependencies stay: pip and uv remove a distribution's own files only.
    assert {n: v for n, v in before.items() if n != LIBRARY}.items() <= after.items()
    env.pip("check")


def test_a_bridge_user_moves_to_both_distributions(with_old: Venv, wheels: Wheels) -> None:
    """``pip install wxstation-bridge==<version>`` over 0.1.0 gives both new
    distributions; bridge/ is exactly the new bridge wheel's (nothing of it lost to
    0.1.0's removal, nothing of 0.1.0 left), and its commands are the new ones and run."""
    env = with_old
    before = env.distributions()
    old_files = env.package_files("bridge")
    env.pip(
        "install", "--quiet", "--no-index", "--find-links", wheels.folder,
        f"{BRIDGE}=={project_version()}",
    )  # fmt: skip
    after = env.distributions()
    _show("a bridge user's upgrade", before, after)
    new_files = env.package_files("bridge")
    print(f"  bridge/: {len(old_files)} files before, {len(new_files)} after")

    assert (after[LIBRARY], after[BRIDGE]) == (project_version(), project_version())
    bridge_wheel = next(wheels.folder.glob(f"wxstation_bridge-{project_version()}-*.whl"))
    _, in_wheel = wheel_metadata(bridge_wheel)
    assert new_files == {n for n in in_wheel if n.startswith("bridge/")}
    assert env.imported_from("bridge") == str(env.site_packages / "bridge")
    assert env.imported_from("wxstation") == str(env.site_packages / "wxstation" / "__init__.py")
    assert env.commands() == set(OLD_COMMANDS)
    assert "usage: wxstation-bridge" in env.run(env.path / "bin" / "wxstation-bridge", "--help")
    env.pip("check")
