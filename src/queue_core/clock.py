"""Where "now" comes from.

Every time-dependent broker call takes ``now`` as an argument; a ``Clock`` supplies it.
``SystemClock`` reads the wall clock; ``ManualClock`` only moves when told to, so tests
and the conformance kit never sleep to let time pass.
"""

from __future__ import annotations

import math
import time
from typing import Protocol, runtime_checkable

import anyio

from queue_core import errors


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Current time in epoch seconds (sub-second precision)."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once ``now() >= deadline`` (or at once if it already is)."""
        ...


class SystemClock:
    """The machine's wall clock."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep(max(0.0, deadline - time.time()))


class ManualClock:
    """A clock that moves only through ``advance`` and ``set``.

    Tasks waiting in ``sleep_until`` wake when the clock passes their deadline. Use it
    from a single event loop (tests drive it from the same loop as the code under test).
    """

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self._now = float(start)
        self._changed = anyio.Event()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0 or not math.isfinite(seconds):
            raise errors.ValidationError("seconds", seconds, "a finite number >= 0 (a ManualClock moves forward only)")
        self.set(self._now + seconds)

    def set(self, when: float) -> None:
        self._now = float(when)
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def sleep_until(self, deadline: float) -> None:
        while self._now < deadline:
            await self._changed.wait()
