"""first_of: whichever wait returns first ends the race; the others are cancelled."""

from __future__ import annotations

import anyio
import pytest

from queue_core._race import first_of


class Flag:
    """An event plus a record of how a wait on it ended."""

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.ended: str | None = None

    async def wait(self) -> None:
        try:
            await self.event.wait()
            self.ended = "returned"
        except anyio.get_cancelled_exc_class():
            self.ended = "cancelled"
            raise


async def test_the_first_wait_to_return_wins_and_the_other_is_cancelled() -> None:
    early, late = Flag(), Flag()
    async with anyio.create_task_group() as tg:
        tg.start_soon(_set_soon, late.event)
        winner = await first_of(early.wait, late.wait)
    assert winner == 1
    assert (early.ended, late.ended) == ("cancelled", "returned")


async def test_a_wait_already_done_wins_at_once() -> None:
    done, never = Flag(), Flag()
    done.event.set()
    assert await first_of(done.wait, never.wait) == 0
    assert (done.ended, never.ended) == ("returned", "cancelled")


async def test_an_error_in_one_wait_cancels_the_other_and_propagates() -> None:
    never = Flag()

    async def broken() -> None:
        raise LookupError("the wait failed")

    with pytest.raises(LookupError, match="the wait failed"):
        try:
            await first_of(never.wait, broken)
        except BaseExceptionGroup as group:  # anyio groups errors of a task group
            [error] = group.exceptions
            raise error from None
    assert never.ended == "cancelled"


async def test_cancelling_the_caller_cancels_every_wait() -> None:
    one, two = Flag(), Flag()
    with anyio.move_on_after(0.01) as scope:
        await first_of(one.wait, two.wait)
    assert scope.cancelled_caught
    assert (one.ended, two.ended) == ("cancelled", "cancelled")


async def _set_soon(event: anyio.Event) -> None:
    await anyio.sleep(0)
    event.set()
