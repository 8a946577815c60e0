"""Fencing: every method that takes a lease refuses a stale one while a newer lease holds
the job.

The protocol's rule: "if the lease's token no longer owns the job ... the write is
refused and reported, never applied". A stale lease whose job was recovered and leased
again finds the job *active*, exactly as its own worker left it, so only the token tells
the two leases apart: each example here sets up that state and lets the stale lease
write. A driver that checks the job's state instead of the token fails every one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from queue_conformance.helpers import DEFAULT, T0, enqueue, info, job, lease_one, stats
from queue_core import Broker, JobState, Lease, ResultNotFound, Settlement

pytestmark = pytest.mark.anyio

#: The old lease runs out at T0 + 10; recovery and the new lease come at T0 + 11.
STALE_AT = T0 + 12


async def stale_and_current(broker: Broker) -> tuple[Lease, Lease]:
    """Job "a" (unique, kept 60 s when completed) leased by w1 until T0 + 10, recovered
    at T0 + 11 and leased again by w2 until T0 + 41: w1's lease is stale, w2's holds."""
    await enqueue(broker, job("a", retention=60, unique_for=3600, unique_key="k"))
    stale = await lease_one(broker, lease_for=10)
    recovery = await broker.recover_expired([DEFAULT], T0 + 11, 5)
    assert recovery.requeued == ["a"]
    [current] = await broker.dequeue([DEFAULT], T0 + 11, 30, "w2", 1)
    assert current.token != stale.token
    return stale, current


async def assert_untouched(broker: Broker, current: Lease) -> None:
    """The job is exactly as w2's lease left it, and w2 can still settle it."""
    snapshot = await info(broker, "a", now=STALE_AT)
    assert (snapshot.state, snapshot.started_at, snapshot.lease_expires_at) == (JobState.ACTIVE, T0 + 11, T0 + 41)
    assert (snapshot.retried, snapshot.crashes, snapshot.bounces, snapshot.has_result) == (0, 1, 0, False)
    counted = await stats(broker, now=STALE_AT)
    # the recovery counted one processed, failed attempt; nothing since
    assert (counted.active, counted.processed_total, counted.failed_total) == (1, 1, 1)
    assert (counted.pending, counted.retry, counted.archived, counted.completed) == (0, 0, 0, 0)
    [duplicate] = await enqueue(broker, job("b", unique_for=3600, unique_key="k"), now=STALE_AT)
    assert duplicate.holder == "a", "a stale lease released the unique lock of the job it no longer holds"
    assert await broker.settle([Settlement.complete(current, b"mine")], STALE_AT) == [True]
    assert await broker.job_result(DEFAULT, "a") == b"mine"


SETTLEMENTS: dict[str, Callable[[Lease], Settlement]] = {
    "complete": lambda stale: Settlement.complete(stale, b"stale"),
    "retry": lambda stale: Settlement.retry(stale, STALE_AT + 5, "boom"),
    "bounce": lambda stale: Settlement.retry(stale, STALE_AT + 5, "busy", counts_as_failure=False),
    "archive": lambda stale: Settlement.archive(stale, "boom", release_unique=True),
    "requeue": Settlement.requeue,
    "revoke": Settlement.revoke,
}


@pytest.mark.parametrize("kind", list(SETTLEMENTS))
async def test_a_stale_lease_cannot_settle_while_a_newer_one_holds(broker: Broker, kind: str) -> None:
    """settle: "False when its lease was lost (fenced)" — the job is active again under a
    newer token, and the stale settlement changes nothing: state, counters, lock, result."""
    stale, current = await stale_and_current(broker)
    assert await broker.settle([SETTLEMENTS[kind](stale)], STALE_AT) == [False]
    await assert_untouched(broker, current)


@pytest.mark.parametrize("kind", list(SETTLEMENTS))
async def test_a_stale_and_a_current_settlement_in_one_batch(broker: Broker, kind: str) -> None:
    """settle: one bool per settlement; the stale one is fenced even beside the current
    lease of the same job in the same call (the stale one first, so it would win)."""
    stale, current = await stale_and_current(broker)
    both = [SETTLEMENTS[kind](stale), Settlement.complete(current, b"mine")]
    assert await broker.settle(both, STALE_AT) == [False, True]
    snapshot = await info(broker, "a", now=STALE_AT)
    assert (snapshot.state, snapshot.completed_at) == (JobState.COMPLETED, STALE_AT)
    assert await broker.job_result(DEFAULT, "a") == b"mine"


async def test_a_stale_lease_cannot_extend_while_a_newer_one_holds(broker: Broker) -> None:
    """extend_leases: "Push each still-held lease ... report lost": the stale lease is
    lost, and the job's lease expiry stays the newer lease's."""
    stale, current = await stale_and_current(broker)
    renewal = await broker.extend_leases([stale], STALE_AT, 100)
    assert (renewal.lost, renewal.cancelled) == ([stale], [])
    await assert_untouched(broker, current)


async def test_extending_a_stale_and_a_current_lease_together(broker: Broker) -> None:
    """extend_leases: in one call the current lease is renewed and the stale one lost."""
    stale, current = await stale_and_current(broker)
    renewal = await broker.extend_leases([stale, current], STALE_AT, 100)
    assert renewal.lost == [stale]
    assert (await info(broker, "a", now=STALE_AT)).lease_expires_at == STALE_AT + 100


async def test_a_stale_lease_cannot_write_a_result_while_a_newer_one_holds(broker: Broker) -> None:
    """write_result: "False when fenced" — nothing is stored, and the newer lease's
    attempt ends without the stale result."""
    stale, current = await stale_and_current(broker)
    assert await broker.write_result(stale, b"stale") is False
    with pytest.raises(ResultNotFound):
        await broker.job_result(DEFAULT, "a")
    await assert_untouched(broker, current)


async def test_a_stale_result_does_not_survive_completion_without_one(broker: Broker) -> None:
    """write_result then COMPLETE without a result: a fenced write must leave no result
    behind for the completed job."""
    stale, current = await stale_and_current(broker)
    assert await broker.write_result(stale, b"stale") is False
    assert await broker.settle([Settlement.complete(current)], STALE_AT) == [True]
    assert (await info(broker, "a", now=STALE_AT)).has_result is False


FENCED_CALLS: dict[str, Callable[[Broker, Lease], Awaitable[object]]] = {
    "settle": lambda broker, stale: broker.settle([Settlement.complete(stale)], STALE_AT),
    "extend_leases": lambda broker, stale: broker.extend_leases([stale], STALE_AT, 30),
    "write_result": lambda broker, stale: broker.write_result(stale, b"stale"),
}


@pytest.mark.parametrize("method", list(FENCED_CALLS))
async def test_a_lease_of_a_deleted_and_re_enqueued_job_is_stale(broker: Broker, method: str) -> None:
    """Fencing is by token, not by job ID: a job deleted (completed without retention) and
    enqueued again under the same ID is another job, and the old lease owns nothing."""
    await enqueue(broker, job("a"))
    first = await lease_one(broker)
    assert await broker.settle([Settlement.complete(first)], T0) == [True]
    await enqueue(broker, job("a", payload=b"again"), now=T0 + 1)
    await lease_one(broker, now=T0 + 1)  # the new job is active under a new token
    await FENCED_CALLS[method](broker, first)
    snapshot = await info(broker, "a", now=STALE_AT)
    assert (snapshot.state, snapshot.has_result) == (JobState.ACTIVE, False)
    assert (await stats(broker, now=STALE_AT)).processed_total == 1
