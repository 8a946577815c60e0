"""wait_for_jobs and wait_for_finished: bounded by their timeout, and woken at once (new
work; a job that finished) when the driver declares ``Capabilities.blocking_wait``.

These are the kit's only tests on the real clock: waiting is about wall time. Bounds are
generous (seconds) so a loaded machine does not make them flaky.
"""

from __future__ import annotations

import anyio
import pytest

from queue_conformance.helpers import DEFAULT, T0, enqueue, job, lease, lease_one, require_feature
from queue_core import Broker, JobState, Settlement

pytestmark = pytest.mark.anyio

#: How long a waiter would sleep if nothing woke it; waking must come much sooner.
PARKED = 30.0
#: How long one attempt gives the waiter to wake before trying again, and how many tries.
ATTEMPT = 0.5
ATTEMPTS = 8


def require_blocking_wait(broker: Broker) -> None:
    if not broker.capabilities.blocking_wait:
        pytest.skip(f"{broker.capabilities.name} declares blocking_wait=False (it polls)")


async def test_wait_returns_after_its_timeout(broker: Broker) -> None:
    with anyio.fail_after(5):
        await broker.wait_for_jobs([DEFAULT], 0.05)
        await broker.wait_for_jobs([DEFAULT], 0)


async def test_work_that_arrives_after_a_wait_returned_wakes_the_next_wait(broker: Broker) -> None:
    """A wait that has returned has subscribed (a zero timeout included): work that arrives
    before the next wait is kept for it. Workers rely on this to say they have started."""
    require_blocking_wait(broker)
    await broker.wait_for_jobs([DEFAULT], 0)
    await enqueue(broker, job("kept"), now=T0)
    with anyio.fail_after(PARKED - 5):
        await broker.wait_for_jobs([DEFAULT], PARKED)


async def _attempts_until_woken(broker: Broker) -> int | None:
    """Park a waiter, then make work until it returns; how many attempts that took.

    A waiter may miss work that arrives before it is listening, so rather than sleeping
    a fixed time up front, each attempt empties the queue and enqueues again."""
    woke = anyio.Event()

    async def waiter() -> None:
        await broker.wait_for_jobs([DEFAULT], PARKED)
        woke.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(waiter)
        for attempt in range(1, ATTEMPTS + 1):
            await _enqueue_to_empty_queue(broker, attempt)
            with anyio.move_on_after(ATTEMPT):
                await woke.wait()
            if woke.is_set():
                return attempt
        tasks.cancel_scope.cancel()
    return None


async def _enqueue_to_empty_queue(broker: Broker, attempt: int) -> None:
    now = T0 + attempt
    if attempt > 1:
        await broker.settle([Settlement.complete(await lease_one(broker, now=now))], now)
    await enqueue(broker, job(f"job-{attempt}"), now=now)


async def test_an_enqueue_to_an_empty_queue_wakes_a_waiter(broker: Broker) -> None:
    """With blocking_wait, "an enqueue to an empty queue wakes waiters at once"."""
    require_blocking_wait(broker)
    with anyio.fail_after(PARKED - 5):
        attempts = await _attempts_until_woken(broker)
    assert attempts is not None, f"the waiter slept through {ATTEMPTS} enqueues to an empty queue"


async def test_wait_for_finished_returns_nothing_after_its_timeout(broker: Broker) -> None:
    with anyio.fail_after(5):
        assert await broker.wait_for_finished(DEFAULT, 0.05) == []
        assert await broker.wait_for_finished(DEFAULT, 0) == []


async def test_a_job_that_finishes_after_a_wait_returned_is_kept_for_the_next_wait(broker: Broker) -> None:
    """The subscription outlives the call: a completion between two waits is not lost.
    Clients rely on this to look at a job's state after subscribing, not before."""
    await broker.wait_for_finished(DEFAULT, 0)
    await enqueue(broker, job("kept", retention=60.0), now=T0)
    await broker.settle([Settlement.complete(await lease_one(broker, now=T0))], T0)
    with anyio.fail_after(PARKED - 5):
        announced = await broker.wait_for_finished(DEFAULT, PARKED)
    assert announced == ["kept"]


async def test_every_way_of_finishing_is_announced(broker: Broker) -> None:
    """Completed without retention (deleted), archived by the handler, dropped by Revoke:
    one announcement each, and the jobs of another queue are not announced here."""
    await broker.wait_for_finished(DEFAULT, 0)
    await enqueue(broker, job("done"), job("failed"), job("revoked"), job("elsewhere", queue="other"), now=T0)
    done, failed, revoked = await lease(broker, now=T0, limit=3)
    [other] = await lease(broker, ["other"], now=T0)
    await broker.settle(
        [
            Settlement.complete(done),
            Settlement.archive(failed, "boom"),
            Settlement.revoke(revoked),
            Settlement.complete(other),
        ],
        T0,
    )
    announced: list[str] = []
    with anyio.fail_after(PARKED - 5):
        while len(announced) < 3:
            announced += await broker.wait_for_finished(DEFAULT, PARKED)
    assert sorted(announced) == ["done", "failed", "revoked"]


async def test_a_job_settled_twice_in_one_call_is_announced_twice(broker: Broker) -> None:
    """One call can settle a job twice: deleting the waiting jobs deletes ``w1``, whose
    dependent ``w2`` is cancelled (archived, announced), then deletes ``w2`` (announced
    again). Each settling is announced, as when the two happen in two calls."""
    require_feature(broker, "dependencies")
    await enqueue(broker, job("first"), now=T0)
    await enqueue(broker, job("w1", depends_on=("first",)), job("w2", depends_on=("w1",)), now=T0)
    await broker.wait_for_finished(DEFAULT, 0)
    assert await broker.delete_all(DEFAULT, JobState.WAITING, T0) == 2
    announced: list[str] = []
    with anyio.fail_after(PARKED - 5):
        while len(announced) < 3:
            announced += await broker.wait_for_finished(DEFAULT, PARKED)
    assert sorted(announced) == ["w1", "w2", "w2"]


async def test_a_finishing_job_wakes_a_parked_waiter(broker: Broker) -> None:
    require_blocking_wait(broker)
    await broker.wait_for_finished(DEFAULT, 0)
    await enqueue(broker, job("awaited"), now=T0)
    taken = await lease_one(broker, now=T0)
    announced: list[str] = []

    async def waiter() -> None:
        announced.extend(await broker.wait_for_finished(DEFAULT, PARKED))

    with anyio.fail_after(PARKED - 5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(waiter)
            await anyio.sleep(0.05)  # let it park; an earlier completion is kept for it anyway
            await broker.settle([Settlement.complete(taken)], T0)
    assert announced == ["awaited"]
