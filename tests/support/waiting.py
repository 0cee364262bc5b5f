"""Waiting for something to become true: the one polling rule of the tests and the benchmark.

:func:`wait_until` blocks, for code outside an event loop (a bridge in a
process of its own, a server, a subscriber on paho's thread).
:func:`eventually` awaits, for code inside one, where blocking would stop the
very bridge being waited on; its check may be a coroutine, and ``settle`` runs
before each look (Home Assistant's ``hass.async_block_till_done``).

The patience ends after ``within`` seconds, or after as many looks as fit in
them, whichever comes first: under a frozen clock (Home Assistant's
``freezer``) a deadline alone could never pass.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import Awaitable, Callable, Iterator

__all__ = ["POLL", "eventually", "wait_until"]

#: Seconds between two looks.
POLL = 0.05


def _looks(within: float, step: float) -> Iterator[None]:
    """One turn a look: until ``within`` seconds have passed or as many looks as
    fit in them were made, whichever comes first, and one more after that."""
    deadline = time.monotonic() + within
    for _ in range(math.ceil(within / step)):
        yield
        if time.monotonic() > deadline:
            break
    yield


def _timed_out(within: float, what: str) -> TimeoutError:
    return TimeoutError(f"timed out after {within:g} s waiting for {what}")


def wait_until(
    check: Callable[[], bool], what: str = "the condition", within: float = 15.0, step: float = POLL
) -> float:
    """Look at ``check`` every ``step`` seconds until it holds; return the moment
    it did (unix time). Raise TimeoutError naming ``what`` after ``within`` seconds."""
    for _ in _looks(within, step):
        if check():
            return time.time()
        time.sleep(step)
    raise _timed_out(within, what)


async def eventually(
    check: Callable[[], bool | Awaitable[bool]],
    what: str = "the condition",
    within: float = 15.0,
    step: float = POLL,
    settle: Callable[[], Awaitable[None]] | None = None,
) -> float:
    """:func:`wait_until` inside an event loop: ``check`` may be a coroutine
    function, and ``settle`` is awaited before each look."""

    async def holds() -> bool:
        if settle is not None:
            await settle()
        result = check()
        if inspect.isawaitable(result):
            result = await result
        return bool(result)

    for _ in _looks(within, step):
        if await holds():
            return time.time()
        await asyncio.sleep(step)
    raise _timed_out(within, what)
