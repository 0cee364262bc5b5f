"""The project's container images, built and run with podman as the tests run them.

``scripts/image`` builds the images and ``scripts/podman`` runs podman the way
this project's machines need it (runc, scripts/containers.conf). Every
container, volume and image made here is removed again by the helper that made
it; the base image the builds start from is a cache that stays (see
scripts/image).

Podman here runs as root. Without it (or without root) the tests skip, with
the reason; under CI (the environment variable ``CI``) they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import in_ci

__all__ = [
    "ADDON_IMAGE",
    "STANDALONE_IMAGE",
    "Container",
    "built_images",
    "podman",
    "require_podman",
    "running_container",
    "volume",
]

ROOT = Path(__file__).resolve().parent.parent.parent
PODMAN = ROOT / "scripts" / "podman"
IMAGE_SCRIPT = ROOT / "scripts" / "image"
ADDON_IMAGE = "localhost/wxstation-addon:test"
STANDALONE_IMAGE = "localhost/wxstation:test"
#: Seconds a podman command other than a build may take: starting, stopping
#: (within the add-on's 30 s stop timeout) or removing a container.
PODMAN_TIMEOUT = 120.0
#: Seconds both images' build may take, the base included when it is not
#: cached yet (a debootstrap: about a minute here).
BUILD_TIMEOUT = 900.0
#: Characters of a build's output kept in a failure's message.
OUTPUT_TAIL = 4000


def require_podman() -> None:
    """Skip the test (fail it under CI) unless podman can run here: installed, as root."""
    reason = None
    if shutil.which("podman") is None:
        reason = (
            "podman not found: install the Debian packages podman and runc (./scripts/test does)"
        )
    elif os.geteuid() != 0:
        reason = "the image tests run podman as root (as ./scripts/test does)"
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"CI is set and {reason}", pytrace=False)
    pytest.skip(reason)


def podman(
    *args: str, check: bool = True, timeout: float = PODMAN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """``podman ARGS`` through scripts/podman; with ``check``, a failure raises with its output."""
    result = subprocess.run(
        [str(PODMAN), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result


def unique_name(what: str) -> str:
    """A container's or volume's name no other test run uses."""
    return f"wxstation-test-{what}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def built_images(*which: str) -> Iterator[None]:
    """Both images built once (``scripts/image addon standalone``), removed at the end."""
    names = {"addon": ADDON_IMAGE, "standalone": STANDALONE_IMAGE}
    result = subprocess.run(
        [str(IMAGE_SCRIPT), *which],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    try:
        assert result.returncode == 0, (result.stdout + result.stderr)[-OUTPUT_TAIL:]
        yield
    finally:
        for what in which:
            podman("rmi", "--force", names[what], check=False)


@dataclass(frozen=True, slots=True)
class Container:
    """A container started by :func:`running_container`."""

    name: str

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def state(self, field: str) -> str:
        """A field of the container's ``.State`` (``Status``, ``ExitCode``, ``Health.Status``)."""
        return podman("inspect", "--format", f"{{{{.State.{field}}}}}", self.name).stdout.strip()

    def stop(self, timeout: int) -> None:
        """SIGTERM, and SIGKILL after ``timeout`` seconds, as Docker and the Supervisor stop it."""
        podman("stop", "--time", str(timeout), self.name)

    def start(self) -> None:
        podman("start", self.name)


@contextlib.contextmanager
def running_container(what: str, image: str, *options: str) -> Iterator[Container]:
    """``podman run -d OPTIONS IMAGE``; the container (and its anonymous
    volumes) removed at the end, its log attached to a failure's report."""
    container = Container(unique_name(what))
    podman("run", "--detach", "--name", container.name, *options, image)
    try:
        yield container
    except BaseException:
        print(f"--- log of {container.name} ---\n{container.logs()[-OUTPUT_TAIL:]}")
        raise
    finally:
        podman("rm", "--force", "--volumes", container.name, check=False)


@contextlib.contextmanager
def volume(what: str) -> Iterator[str]:
    """A named volume, removed at the end."""
    name = unique_name(what)
    podman("volume", "create", name)
    try:
        yield name
    finally:
        podman("volume", "rm", "--force", name, check=False)
