"""Shared fixtures for the bridge's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.release import build_distributions
from tests.support.vectors import load_vectors


@pytest.fixture(scope="session")
def profiles() -> dict[str, Any]:
    return load_vectors("profiles.json")


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """Both distributions' sdists and wheels, built once a session as the release
    workflow builds them (tests.support.release)."""
    return build_distributions(tmp_path_factory)
