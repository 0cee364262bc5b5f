"""Shared fixtures for the bridge's tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.vectors import load_vectors


@pytest.fixture(scope="session")
def profiles() -> dict[str, Any]:
    return load_vectors("profiles.json")
