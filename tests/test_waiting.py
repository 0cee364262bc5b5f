"""The one polling rule of the tests and the benchmark (tests/support/waiting.py)."""

from __future__ import annotations

import time

import pytest

from tests.support import waiting
from tests.support.waiting import eventually, wait_until


def test_wait_until_returns_once_the_check_holds() -> None:
    """Test that the wait ends at the first look that holds, and says when."""
    looks = iter([False, False, True])
    before = time.time()
    assert wait_until(lambda: next(looks), "the third look", 5, step=0.01) >= before
    assert next(looks, None) is None


def test_wait_until_names_what_never_came() -> None:
    """Test that a check that never holds fails after ``within`` with what was awaited."""
    began = time.monotonic()
    with pytest.raises(TimeoutError, match=r"timed out after 0\.2 s waiting for the rain"):
        wait_until(lambda: False, "the rain", 0.2, step=0.01)
    assert 0.2 <= time.monotonic() - began < 5


def test_a_frozen_clock_ends_the_wait_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that the wait ends after as many looks as fit in ``within`` when the
    clock does not move (as under Home Assistant's freezer)."""
    monkeypatch.setattr(waiting.time, "monotonic", lambda: 1000.0)
    looks = 0

    def never() -> bool:
        nonlocal looks
        looks += 1
        return False

    with pytest.raises(TimeoutError):
        wait_until(never, "a frozen clock", 0.1, step=0.01)
    assert looks == 11


async def test_eventually_awaits_the_check_and_settles_first() -> None:
    """Test that in an event loop a coroutine check is awaited, after ``settle``."""
    settled: list[int] = []

    async def settle() -> None:
        settled.append(len(settled))

    async def check() -> bool:
        return len(settled) == 3

    await eventually(check, "three looks", 5, step=0.01, settle=settle)
    assert settled == [0, 1, 2]
    with pytest.raises(TimeoutError, match="waiting for nothing"):
        await eventually(lambda: False, "nothing", 0.05, step=0.01)
