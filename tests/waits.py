"""Waiting in an async test for what another task or process brings about: a condition
looked at every few milliseconds up to a deadline, never a fixed sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

TICK_S = 0.01  # between two looks at the condition


async def until(done: Callable[[], bool], timeout_s: float,
                why: Callable[[], object] = lambda: "condition not reached in time") -> None:
    """Return once ``done()``; AssertionError with ``why()`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, why()
        await asyncio.sleep(TICK_S)
