"""Waiting for whichever of several things happens first (a sleep or a nudge, a drain or
a hurry), the others cancelled: one task group instead of one hand-built per loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio


async def first_of(first: Callable[[], Awaitable[object]], *others: Callable[[], Awaitable[object]]) -> int:
    """Run every wait side by side until one returns, then cancel the rest; returns the
    index of the one that returned (0 for ``first``). An exception from any of them
    cancels the rest and propagates; cancelling the caller cancels them all."""
    winner: int | None = None
    async with anyio.create_task_group() as tg:

        async def until(index: int, wait: Callable[[], Awaitable[object]]) -> None:
            nonlocal winner
            await wait()
            if winner is None:
                winner = index
            tg.cancel_scope.cancel()

        for index, wait in enumerate((first, *others)):
            tg.start_soon(until, index, wait)
    assert winner is not None  # the group ends only through a wait that returned
    return winner
