"""Transactional enqueue (docs/broker-protocol.md, TransactionalBroker), for drivers that
declare ``Capabilities.transactional``: a job written through the caller's transaction
exists, and wakes workers, exactly when that transaction commits; a rollback leaves
nothing behind. Drivers without it refuse ``connection=`` before writing anything.
"""

from __future__ import annotations

from typing import cast

import anyio
import pytest

from queue_conformance.helpers import DEFAULT, T0, enqueue, ids, info, job, lease
from queue_core import (
    Broker,
    Client,
    EnqueueStatus,
    InvalidConnection,
    JobNotFound,
    JobState,
    ManualClock,
    TransactionalBroker,
)

pytestmark = pytest.mark.anyio

#: A wake-up must come long before a parked waiter's own timeout.
PARKED = 30.0


class Rollback(Exception):
    """Raised inside a transaction block to roll it back."""


def transactional(broker: Broker) -> TransactionalBroker:
    if not broker.capabilities.transactional:
        pytest.skip(f"{broker.capabilities.name} declares transactional=False")
    assert isinstance(broker, TransactionalBroker), "transactional=True needs enqueue_in and transaction"
    return cast(TransactionalBroker, broker)


async def test_a_committed_enqueue_is_invisible_until_the_commit(broker: Broker) -> None:
    """enqueue_in: "Nothing of it is visible to other connections ... until the caller commits"."""
    tx = transactional(broker)
    async with tx.transaction() as conn:
        [outcome] = await tx.enqueue_in(conn, [job("a")], T0)
        assert (outcome.status, outcome.state) == (EnqueueStatus.ENQUEUED, JobState.PENDING)
        with pytest.raises(JobNotFound):
            await info(broker, "a")
        assert await lease(broker) == []
    assert (await info(broker, "a")).state is JobState.PENDING
    assert DEFAULT in await broker.list_queues()
    assert ids(await lease(broker)) == ["a"]


async def test_a_rolled_back_enqueue_leaves_nothing(broker: Broker) -> None:
    """enqueue_in: "When the caller rolls back nothing was written: no job, no unique lock, no
    queue registration"."""
    tx = transactional(broker)
    with pytest.raises(Rollback):
        async with tx.transaction() as conn:
            await tx.enqueue_in(conn, [job("a", unique_for=60.0), job("b", delay=10.0)], T0)
            raise Rollback
    with pytest.raises(JobNotFound):
        await info(broker, "a")
    assert await broker.list_queues() == []
    assert await broker.next_due([DEFAULT]) is None
    # the unique lock was never taken: the same job (another ID) gets it now
    [again] = await enqueue(broker, job("c", unique_for=60.0))
    assert again.status is EnqueueStatus.ENQUEUED


async def test_outcomes_inside_a_transaction_are_those_of_enqueue(broker: Broker) -> None:
    tx = transactional(broker)
    await enqueue(broker, job("taken"), job("holder", unique_for=60.0, unique_key="k"))
    async with tx.transaction() as conn:
        outcomes = await tx.enqueue_in(
            conn, [job("taken"), job("dup", unique_for=60.0, unique_key="k"), job("new", delay=5.0)], T0
        )
    assert [o.status for o in outcomes] == [EnqueueStatus.ID_CONFLICT, EnqueueStatus.DUPLICATE, EnqueueStatus.ENQUEUED]
    assert outcomes[1].holder == "holder"
    assert outcomes[2].state is JobState.SCHEDULED


async def test_the_commit_wakes_a_waiter(broker: Broker) -> None:
    """enqueue_in: "at commit the jobs are there and wait_for_jobs waiters wake"."""
    tx = transactional(broker)
    await broker.wait_for_jobs([DEFAULT], 0)  # subscribed: what arrives from now on is kept
    async with tx.transaction() as conn:
        await tx.enqueue_in(conn, [job("a")], T0)
    with anyio.fail_after(PARKED - 5):
        await broker.wait_for_jobs([DEFAULT], PARKED)
    assert ids(await lease(broker)) == ["a"]


async def test_the_client_writes_through_the_callers_connection(broker: Broker) -> None:
    tx = transactional(broker)
    client = Client(broker, clock=ManualClock(T0))
    with pytest.raises(Rollback):
        async with tx.transaction() as conn:
            await client.enqueue("email", {}, job_id="gone", connection=conn)
            raise Rollback
    async with tx.transaction() as conn:
        await client.enqueue("email", {}, job_id="kept", connection=conn)
        outcomes = await client.enqueue_many([job("many")], connection=conn)
    assert [o.status for o in outcomes] == [EnqueueStatus.ENQUEUED]
    assert sorted(ids(await lease(broker))) == ["kept", "many"]


async def test_an_object_that_is_not_a_connection_is_refused(broker: Broker) -> None:
    """``InvalidConnection`` names ``connection`` and writes nothing, on every driver: one
    without the capability refuses any connection before anything is written."""
    client = Client(broker, clock=ManualClock(T0))
    with pytest.raises(InvalidConnection, match="connection"):
        await client.enqueue("email", {}, job_id="a", connection=object())
    with pytest.raises(InvalidConnection, match="connection"):
        await client.enqueue_many([job("b")], connection=object())
    with pytest.raises(JobNotFound):
        await info(broker, "a")
    assert await broker.list_queues() == []
