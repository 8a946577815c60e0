"""One focused example per rule of the operator actions (docs/broker-protocol.md, Admin),
for drivers that declare the ``admin`` feature. Each docstring quotes the rule it checks.
"""

from __future__ import annotations

import pytest

from queue_conformance.helpers import (
    DEFAULT,
    T0,
    enqueue,
    ids,
    info,
    job,
    lease,
    lease_one,
    require_feature,
    stats,
)
from queue_conformance.model import CANCELLED
from queue_core import (
    Broker,
    EnqueueStatus,
    GroupRequired,
    JobNotFound,
    JobState,
    OperationNotAllowed,
    QueueNotEmpty,
    QueueNotFound,
    Settlement,
)

pytestmark = pytest.mark.anyio

PENDING, SCHEDULED, ACTIVE, RETRY = JobState.PENDING, JobState.SCHEDULED, JobState.ACTIVE, JobState.RETRY
COMPLETED, ARCHIVED, AGGREGATING = JobState.COMPLETED, JobState.ARCHIVED, JobState.AGGREGATING


@pytest.fixture(autouse=True)
def _admin(broker: Broker) -> None:
    require_feature(broker, "admin")


async def one_job_in_each_state(broker: Broker) -> None:
    """``p`` pending, ``s`` scheduled, ``a`` active, ``r`` retry, ``c`` completed,
    ``x`` archived, ``g`` aggregating (group ``g``)."""
    await enqueue(broker, job("a"), job("r"), job("c", retention=60), job("x"))
    _, r, c, x = await lease(broker, limit=4)
    await broker.settle(
        [Settlement.retry(r, T0 + 50, "boom"), Settlement.complete(c), Settlement.archive(x, "boom")], T0
    )
    await enqueue(broker, job("p"), job("s", delay=40), job("g", group="g"))


# --------------------------------------------------------------------------- one job


async def test_run_job_moves_a_runnable_job_to_the_tail_of_pending(broker: Broker) -> None:
    """run_job: "Move a scheduled/retry/archived/aggregating job to pending; returns its
    former state", at the tail, pending since now; nothing is counted."""
    await one_job_in_each_state(broker)
    now = T0 + 1
    for job_id, former in (("s", SCHEDULED), ("r", RETRY), ("x", ARCHIVED), ("g", AGGREGATING)):
        assert await broker.run_job(DEFAULT, job_id, now) is former
    snapshot = await info(broker, "x", now=now)
    assert (snapshot.state, snapshot.next_process_at, snapshot.archived_at) == (PENDING, now, None)
    assert snapshot.last_error == "boom"  # the history stays
    assert ids(await lease(broker, now=now)) == ["p", "s", "r", "x", "g"]
    counted = await stats(broker, now=now)
    assert (counted.processed_total, counted.groups) == (3, 0)  # r, c and x, before


async def test_an_action_refused_in_a_state_changes_nothing(broker: Broker) -> None:
    """OperationNotAllowed "naming the state": run refuses pending, active and completed
    jobs; archive refuses active, completed and archived ones; delete refuses active."""
    await one_job_in_each_state(broker)
    before = await stats(broker)
    refusals = [
        (broker.run_job, ("p", "a", "c")),
        (broker.archive_job, ("a", "c", "x")),
        (broker.delete_job, ("a",)),
        (broker.request_cancel, ("c", "x")),
    ]
    for action, job_ids in refusals:
        for job_id in job_ids:
            with pytest.raises(OperationNotAllowed) as refused:
                await action(DEFAULT, job_id, T0)
            assert refused.type is OperationNotAllowed
    assert await stats(broker) == before


async def test_unknown_queue_then_unknown_job(broker: Broker) -> None:
    """Operator actions on one job: QueueNotFound for a queue never registered, then
    JobNotFound for an ID not in the queue."""
    await enqueue(broker, job("a"))
    for action in (broker.run_job, broker.archive_job, broker.delete_job, broker.request_cancel):
        with pytest.raises(QueueNotFound):
            await action("nowhere", "a", T0)
        with pytest.raises(JobNotFound):
            await action(DEFAULT, "nobody", T0)


async def test_archive_job_records_no_error_and_counts_nothing(broker: Broker) -> None:
    """archive_job: archived at now; the unique lock is kept; no failure is counted."""
    await enqueue(broker, job("a", unique_for=600, unique_key="k"), job("b", delay=10))
    assert await broker.archive_job(DEFAULT, "a", T0 + 1) is PENDING
    assert await broker.archive_job(DEFAULT, "b", T0 + 1) is SCHEDULED
    snapshot = await info(broker, "a", now=T0 + 1)
    assert (snapshot.state, snapshot.archived_at, snapshot.last_error, snapshot.last_failed_at) == (
        ARCHIVED,
        T0 + 1,
        None,
        None,
    )
    counted = await stats(broker, now=T0 + 1)
    assert (counted.archived, counted.pending, counted.scheduled, counted.failed_total) == (2, 0, 0, 0)
    [again] = await enqueue(broker, job("c", unique_for=600, unique_key="k"), now=T0 + 1)
    assert (again.status, again.holder) == (EnqueueStatus.DUPLICATE, "a")
    assert await broker.next_due([DEFAULT]) is None


async def test_delete_job_takes_any_state_but_active_and_frees_the_lock(broker: Broker) -> None:
    """delete_job: "Delete a job in any state but active; releases its unique lock"."""
    await one_job_in_each_state(broker)
    for job_id, former in (("p", PENDING), ("s", SCHEDULED), ("r", RETRY), ("c", COMPLETED), ("x", ARCHIVED)):
        assert await broker.delete_job(DEFAULT, job_id, T0) is former
        with pytest.raises(JobNotFound):
            await info(broker, job_id)
    assert await broker.delete_job(DEFAULT, "g", T0) is AGGREGATING
    counted = await stats(broker)
    assert (counted.size, counted.completed, counted.groups) == (1, 0, 0)  # the active job
    await enqueue(broker, job("u", unique_for=600, unique_key="k"))
    await broker.delete_job(DEFAULT, "u", T0)
    [again] = await enqueue(broker, job("v", unique_for=600, unique_key="k"))
    assert again.status is EnqueueStatus.ENQUEUED


async def test_cancelling_a_waiting_job_archives_it_as_cancelled(broker: Broker) -> None:
    """request_cancel: "any other non-final one is archived as cancelled" (last_error
    'cancelled', last_failed_at = now), uncounted; returns the state it was in."""
    await one_job_in_each_state(broker)
    now = T0 + 2
    for job_id, former in (("p", PENDING), ("s", SCHEDULED), ("r", RETRY), ("g", AGGREGATING)):
        assert await broker.request_cancel(DEFAULT, job_id, now) is former
        snapshot = await info(broker, job_id, now=now)
        assert (snapshot.state, snapshot.archived_at, snapshot.last_error, snapshot.last_failed_at) == (
            ARCHIVED,
            now,
            CANCELLED,
            now,
        )
    counted = await stats(broker, now=now)
    assert (counted.archived, counted.processed_total, counted.failed_total) == (5, 3, 2)


async def test_cancelling_an_active_job_flags_it_for_its_worker(broker: Broker) -> None:
    """request_cancel: "an active one is flagged (its worker sees the flag at lease
    renewal)"; the lease is still renewed, the job stays active."""
    await enqueue(broker, job("a"), job("b"))
    a, b = await lease(broker, limit=2)
    assert await broker.request_cancel(DEFAULT, "a", T0 + 1) is ACTIVE
    assert await broker.request_cancel(DEFAULT, "a", T0 + 1) is ACTIVE  # asking twice is fine
    assert (await info(broker, "a", now=T0 + 1)).state is ACTIVE
    renewal = await broker.extend_leases([a, b], T0 + 2, 30)
    assert (ids(renewal.cancelled), renewal.lost) == (["a"], [])
    assert (await info(broker, "a", now=T0 + 2)).lease_expires_at == T0 + 32


async def test_a_cancel_request_stays_until_the_job_is_run_again(broker: Broker) -> None:
    """The flag stays with the job: requeued (or recovered, or retried) it is reported at
    the first renewal of its next lease; run_job withdraws it ("it runs normally")."""
    await enqueue(broker, job("a"))
    first = await lease_one(broker)
    await broker.request_cancel(DEFAULT, "a", T0)
    await broker.settle([Settlement.requeue(first)], T0)
    second = await lease_one(broker)
    assert ids((await broker.extend_leases([second], T0 + 1, 30)).cancelled) == ["a"]
    await broker.settle([Settlement.retry(second, T0 + 60, "boom")], T0 + 1)
    assert await broker.run_job(DEFAULT, "a", T0 + 2) is RETRY
    third = await lease_one(broker, now=T0 + 2)
    assert (await broker.extend_leases([third], T0 + 3, 30)).cancelled == []


# --------------------------------------------------------------------------- all of a state


async def test_run_all_takes_a_state_in_its_order(broker: Broker) -> None:
    """run_all: "Move every job of state to pending; returns how many", earliest due
    first (ties by ID), each to the tail."""
    await enqueue(broker, job("late", delay=30), job("b", delay=10), job("a", delay=10), job("p"))
    assert await broker.run_all(DEFAULT, SCHEDULED, T0 + 1) == 3
    assert await broker.run_all(DEFAULT, SCHEDULED, T0 + 1) == 0
    assert ids(await lease(broker, now=T0 + 1)) == ["p", "a", "b", "late"]
    assert await broker.next_due([DEFAULT]) is None


async def test_bulk_actions_check_the_state_then_the_group_then_the_queue(broker: Broker) -> None:
    """run_all / archive_all / delete_all accept the states their single-job actions do
    (OperationNotAllowed otherwise, even for an unknown queue); aggregating jobs are
    taken one group at a time (GroupRequired without one); then QueueNotFound."""
    await enqueue(broker, job("p"))
    for action, refused in (
        (broker.run_all, (PENDING, ACTIVE, COMPLETED)),
        (broker.archive_all, (ACTIVE, COMPLETED, ARCHIVED)),
        (broker.delete_all, (ACTIVE,)),
    ):
        for state in refused:
            for queue in (DEFAULT, "nowhere"):
                with pytest.raises(OperationNotAllowed) as caught:
                    await action(queue, state, T0)
                assert caught.type is OperationNotAllowed
        for group in (None, ""):
            with pytest.raises(GroupRequired):
                await action("nowhere", AGGREGATING, T0, group)
        with pytest.raises(QueueNotFound):
            await action("nowhere", AGGREGATING, T0, "g")
    assert (await stats(broker)).pending == 1


async def test_bulk_actions_on_a_group_leave_other_groups(broker: Broker) -> None:
    """archive_all / delete_all / run_all of aggregating jobs take one group: a group
    emptied leaves list_groups; a group given with another state is ignored."""
    require_feature(broker, "aggregation")
    await enqueue(broker, job("a1", group="a"), job("a2", group="a"), job("b1", group="b"), job("p"))
    assert await broker.list_groups(DEFAULT) == {"a": 2, "b": 1}
    assert await broker.archive_all(DEFAULT, AGGREGATING, T0, "a") == 2
    assert await broker.list_groups(DEFAULT) == {"b": 1}
    assert await broker.archive_all(DEFAULT, PENDING, T0, "b") == 1  # the pending job
    assert await broker.delete_all(DEFAULT, ARCHIVED, T0) == 3
    assert await broker.run_all(DEFAULT, AGGREGATING, T0, "b") == 1
    counted = await stats(broker)
    assert (counted.pending, counted.archived, counted.aggregating, counted.groups) == (1, 0, 0, 0)


# --------------------------------------------------------------------------- queues


async def test_delete_queue_refuses_active_jobs_even_when_forced(broker: Broker) -> None:
    """delete_queue: "always refused while jobs are active"; QueueNotEmpty unless force."""
    await enqueue(broker, job("a"), job("s", delay=10))
    taken = await lease_one(broker)
    for force in (False, True):
        with pytest.raises(OperationNotAllowed) as caught:
            await broker.delete_queue(DEFAULT, force)
        assert caught.type is OperationNotAllowed
    await broker.settle([Settlement.complete(taken)], T0)
    with pytest.raises(QueueNotEmpty):
        await broker.delete_queue(DEFAULT, False)
    await broker.delete_queue(DEFAULT, True)
    assert await broker.list_queues() == []
    with pytest.raises(JobNotFound):
        await info(broker, "s")
    with pytest.raises(QueueNotFound):
        await broker.delete_queue(DEFAULT, True)


async def test_completed_jobs_do_not_keep_a_queue_from_being_deleted(broker: Broker) -> None:
    """delete_queue without force refuses jobs counted in QueueStats.size; completed
    jobs are not, and go with the queue (their locks too)."""
    await enqueue(broker, job("c", retention=600, unique_for=600, unique_key="k"))
    await broker.settle([Settlement.complete(await lease_one(broker))], T0)
    await broker.delete_queue(DEFAULT, False)
    with pytest.raises(JobNotFound):
        await info(broker, "c")
    [again] = await enqueue(broker, job("d", unique_for=600, unique_key="k"))
    assert again.status is EnqueueStatus.ENQUEUED


async def test_a_deleted_queue_starts_again_from_nothing(broker: Broker) -> None:
    """After delete_queue the name is free: enqueue registers it anew, unpaused, with its
    totals at zero (the daily counters stay until they expire)."""
    await enqueue(broker, job("a"))
    await broker.settle([Settlement.archive(await lease_one(broker), "boom")], T0)
    await broker.pause(DEFAULT)
    await broker.delete_queue(DEFAULT, True)
    with pytest.raises(QueueNotFound):
        await stats(broker)
    await enqueue(broker, job("a"))
    counted = await stats(broker)
    assert (counted.paused, counted.processed_total, counted.failed_total, counted.pending) == (False, 0, 0, 1)
    assert (counted.processed_today, counted.failed_today) == (1, 1)
    assert ids(await lease(broker)) == ["a"]
