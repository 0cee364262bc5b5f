"""CPU time by stage: what a stage counts."""

from __future__ import annotations

import asyncio
import time

import pytest

from bridge.stages import StageClock


def burn(seconds: float) -> None:
    """Use ``seconds`` of this thread's CPU time."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


async def test_a_coroutine_counts_only_its_own_steps() -> None:
    """Test that a measured coroutine's stage gets its own steps' CPU time, not
    what another task does while it waits, and that its result comes through."""
    clock = StageClock()

    async def waits() -> int:
        burn(0.02)
        await asyncio.sleep(0.1)
        burn(0.02)
        return 7

    async def other() -> None:
        await asyncio.sleep(0.01)
        burn(0.08)

    neighbour = asyncio.create_task(other())
    assert await clock.measured("mqtt", waits()) == 7
    await neighbour
    assert 0.04 <= clock.cpu["mqtt"] < 0.08
    assert clock.calls["mqtt"] == 1


async def test_an_error_and_a_cancellation_reach_the_coroutine() -> None:
    """Test that an error raised in a measured coroutine comes out of it, and that
    cancelling the task cancels the coroutine inside (its cleanup runs)."""
    clock = StageClock()

    async def fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await clock.measured("influxdb", fails())

    cleaned = asyncio.Event()

    async def waits_forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()

    task = asyncio.create_task(clock.measured("mqtt", waits_forever()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned.is_set()


def test_a_block_counts_its_thread_cpu_time() -> None:
    """Test that measure adds a block's CPU time and one call to its stage."""
    clock = StageClock()
    with clock.measure("decode"):
        burn(0.02)
    with clock.measure("decode"):
        time.sleep(0.05)
    assert 0.02 <= clock.cpu["decode"] < 0.05
    assert clock.calls["decode"] == 2
