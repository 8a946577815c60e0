"""Manager, operations: every action on every state (the allowed-state matrix), bulk and
batch actions, cancel, pause/resume, delete queue, and bad input that changes nothing --
on both drivers and both runtimes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from queue_core import (
    Broker,
    BrokerUnavailable,
    GroupRequired,
    InvalidJobId,
    InvalidJobState,
    InvalidPagination,
    JobNotFound,
    JobState,
    Manager,
    ManualClock,
    OperationNotAllowed,
    QueueNotEmpty,
    QueueNotFound,
    ResultNotFound,
    Settlement,
    ValidationError,
)
from queue_core.errors import InvalidGroupName, InvalidQueueName
from tests.manager_kit import LEASE, QUEUE, active_lease, job_in, populate, snapshot
from tests.worker_kit import CountingBroker, fresh_broker, manual_clock

S = JobState
# The matrix, written out independently of queue_core.states: which state each action accepts.
ALLOWED: dict[str, set[JobState]] = {
    "run": {S.SCHEDULED, S.RETRY, S.ARCHIVED, S.AGGREGATING, S.WAITING},
    "archive": {S.PENDING, S.SCHEDULED, S.RETRY, S.AGGREGATING, S.WAITING},
    "delete": {S.PENDING, S.SCHEDULED, S.RETRY, S.ARCHIVED, S.COMPLETED, S.AGGREGATING, S.WAITING},
    "cancel": {S.PENDING, S.SCHEDULED, S.RETRY, S.AGGREGATING, S.ACTIVE, S.WAITING},
}
ACTION_METHODS = {"run": "run_job", "archive": "archive_job", "delete": "delete_job", "cancel": "cancel"}
BULK_METHODS = {"run": "run_all", "archive": "archive_all", "delete": "delete_all"}


@pytest.fixture
def clock() -> ManualClock:
    return manual_clock()


@pytest.fixture
async def manager(broker: Broker, clock: ManualClock) -> AsyncIterator[Manager]:
    async with Manager(broker, clock=clock) as opened:
        yield opened


# --------------------------------------------------------------------------- one job: the matrix


@pytest.mark.parametrize("state", list(JobState), ids=[s.value for s in JobState])
@pytest.mark.parametrize("action", list(ALLOWED))
async def test_each_action_on_each_state_follows_the_matrix(
    manager: Manager, broker: Broker, clock: ManualClock, action: str, state: JobState
) -> None:
    job_id = await job_in(broker, clock, state)
    operation = getattr(manager, ACTION_METHODS[action])
    if state not in ALLOWED[action]:
        before = await snapshot(broker, clock)
        with pytest.raises(OperationNotAllowed) as caught:
            await operation(QUEUE, job_id)
        error = caught.value
        assert (error.action, error.state, error.job_id, error.queue) == (action, state.value, job_id, QUEUE)
        assert set(error.allowed) == {s.value for s in ALLOWED[action]}
        assert set(error.allowed_actions) == {a for a, states in ALLOWED.items() if state in states}
        assert state.value in str(error) and all(a in str(error) for a in error.allowed_actions)
        assert await snapshot(broker, clock) == before
        return
    assert await operation(QUEUE, job_id) is state  # the former state
    if action == "delete":
        with pytest.raises(JobNotFound):
            await manager.job_info(QUEUE, job_id)
        return
    info = await manager.job_info(QUEUE, job_id)
    if action == "run":
        assert info.state is JobState.PENDING
        [lease] = await broker.dequeue([QUEUE], clock.now(), LEASE, "w", 1)
        assert lease.job_id == job_id
    elif action == "archive":
        assert (info.state, info.archived_at) == (JobState.ARCHIVED, clock.now())
    elif state is JobState.ACTIVE:  # cancel of a running job: flagged for its worker
        assert info.state is JobState.ACTIVE
    else:
        assert (info.state, info.last_error) == (JobState.ARCHIVED, "cancelled")


async def test_cancelling_a_running_job_reaches_its_worker_at_lease_renewal(
    manager: Manager, broker: Broker, clock: ManualClock
) -> None:
    lease = await active_lease(broker, clock)
    other = await active_lease(broker, clock)
    assert await manager.cancel(QUEUE, lease.job_id) is JobState.ACTIVE
    renewal = await broker.extend_leases([lease, other], clock.now(), LEASE)
    assert [c.job_id for c in renewal.cancelled] == [lease.job_id]
    assert renewal.lost == []


# --------------------------------------------------------------------------- all of a state


@pytest.mark.parametrize("state", list(JobState), ids=[s.value for s in JobState])
@pytest.mark.parametrize("action", list(BULK_METHODS))
async def test_each_bulk_action_on_each_state_follows_the_matrix(
    manager: Manager, broker: Broker, clock: ManualClock, action: str, state: JobState
) -> None:
    ids = await populate(broker, clock, dict.fromkeys(JobState, 2))
    group = {"group": "g1"} if state is JobState.AGGREGATING else {}
    operation = getattr(manager, BULK_METHODS[action])
    touched = ids[state][:1] if state is JobState.AGGREGATING else ids[state]  # g1 holds one of the two
    others = [job_id for group_ids in ids.values() for job_id in group_ids if job_id not in touched]
    others_before = [await manager.job_info(QUEUE, job_id) for job_id in others]
    before = await snapshot(broker, clock)
    if state not in ALLOWED[action]:
        with pytest.raises(OperationNotAllowed) as caught:
            await operation(QUEUE, state, **group)
        assert (caught.value.action, caught.value.state) == (action, state.value)
        assert await snapshot(broker, clock) == before
        return
    assert await operation(QUEUE, state.value, **group) == len(touched)
    after = await manager.queue_info(QUEUE)
    assert after.count(state) == 2 - len(touched)
    target = {"run": JobState.PENDING, "archive": JobState.ARCHIVED}.get(action)
    for job_id in touched:
        if target is None:
            with pytest.raises(JobNotFound):
                await manager.job_info(QUEUE, job_id)
        else:
            assert (await manager.job_info(QUEUE, job_id)).state is target
    assert [await manager.job_info(QUEUE, job_id) for job_id in others] == others_before


async def test_aggregating_bulk_actions_take_one_group_and_leave_the_others(
    manager: Manager, broker: Broker, clock: ManualClock
) -> None:
    ids = await populate(broker, clock, {JobState.AGGREGATING: 6})  # g1: 0, 2, 4; g2: 1, 3, 5
    assert await manager.run_all(QUEUE, "aggregating", group="g1") == 3
    assert await manager.list_groups(QUEUE) == {"g2": 3}
    pending = await manager.list_jobs(QUEUE, "pending")
    assert sorted(i.id for i in pending) == sorted(ids[JobState.AGGREGATING][0::2])
    assert await manager.archive_all(QUEUE, "aggregating", group="g2") == 3
    assert await manager.list_groups(QUEUE) == {}
    assert await manager.delete_all(QUEUE, "archived") == 3
    assert (await manager.queue_info(QUEUE)).size == 3


async def test_cancel_active_cancels_every_running_job_and_nothing_else(
    manager: Manager, broker: Broker, clock: ManualClock
) -> None:
    leases = [await active_lease(broker, clock) for _ in range(3)]
    pending = await job_in(broker, clock, JobState.PENDING)
    assert await manager.cancel_active(QUEUE) == 3
    renewal = await broker.extend_leases(leases, clock.now(), LEASE)
    assert sorted(c.job_id for c in renewal.cancelled) == sorted(lease.job_id for lease in leases)
    assert (await manager.job_info(QUEUE, pending)).state is JobState.PENDING
    await job_in(broker, clock, JobState.PENDING, queue="idle")
    assert await manager.cancel_active("idle") == 0


async def test_cancel_active_skips_jobs_that_ended_after_the_listing(clock: ManualClock, broker_url: str) -> None:
    async with fresh_broker(broker_url) as inner:
        leases = [await active_lease(inner, clock) for _ in range(2)]

        class EndsOneFirst(CountingBroker):
            async def request_cancel(self, queue: str, job_id: str, now: float) -> JobState:
                if job_id == leases[0].job_id:  # it completes just before the cancel arrives
                    await inner.settle([Settlement.complete(leases[0])], now)
                return await inner.request_cancel(queue, job_id, now)

        async with Manager(EndsOneFirst(inner), clock=clock) as manager:  # type: ignore[arg-type]
            assert await manager.cancel_active(QUEUE) == 1


# --------------------------------------------------------------------------- batches


async def test_batches_report_each_id_and_go_on_after_a_failure(
    manager: Manager, broker: Broker, clock: ManualClock
) -> None:
    ids = await populate(broker, clock, {S.ARCHIVED: 2, S.ACTIVE: 1, S.PENDING: 2, S.COMPLETED: 1})
    archived, active, pending = ids[S.ARCHIVED], ids[S.ACTIVE][0], ids[S.PENDING]

    ran = await manager.batch_run(QUEUE, [archived[0], active, "missing", archived[1], archived[0]])
    assert ran.succeeded == archived  # the repeated ID is acted on once
    assert [(f.job_id, type(f.error)) for f in ran.failed] == [(active, OperationNotAllowed), ("missing", JobNotFound)]
    assert not ran.ok and "active" in str(ran.failed[0].error)

    archived_now = await manager.batch_archive(QUEUE, [*pending, ids[S.COMPLETED][0]])
    assert archived_now.succeeded == pending
    assert [f.job_id for f in archived_now.failed] == ids[S.COMPLETED]

    cancelled = await manager.batch_cancel(QUEUE, [active, ids[S.COMPLETED][0]])
    assert cancelled.succeeded == [active] and [f.job_id for f in cancelled.failed] == ids[S.COMPLETED]

    deleted = await manager.batch_delete(QUEUE, [*pending, active, ids[S.COMPLETED][0]])
    assert deleted.succeeded == [*pending, ids[S.COMPLETED][0]]
    assert [(f.job_id, type(f.error)) for f in deleted.failed] == [(active, OperationNotAllowed)]
    assert (await manager.batch_delete(QUEUE, [])).ok


async def test_a_batch_stops_when_the_broker_fails_and_reports_the_rest(broker: Broker, clock: ManualClock) -> None:
    ids = (await populate(broker, clock, {S.PENDING: 4}))[S.PENDING]

    class FailsOnThird(CountingBroker):
        async def delete_job(self, queue: str, job_id: str, now: float) -> JobState:
            self.calls["delete_job"] += 1
            if self.calls["delete_job"] == 3:
                raise BrokerUnavailable("connection lost")
            return await broker.delete_job(queue, job_id, now)

    failing = FailsOnThird(broker)
    async with Manager(failing, clock=clock) as manager:  # type: ignore[arg-type]
        result = await manager.batch_delete(QUEUE, ids)
    assert result.succeeded == ids[:2]
    assert [f.job_id for f in result.failed] == ids[2:]
    assert all(isinstance(f.error, BrokerUnavailable) for f in result.failed)
    assert failing.calls["delete_job"] == 3  # nothing tried after the failure


# --------------------------------------------------------------------------- queues


async def test_pause_stops_dequeues_only_and_twice_is_a_no_op(
    manager: Manager, broker: Broker, clock: ManualClock
) -> None:
    await job_in(broker, clock, JobState.PENDING)
    assert await manager.pause(QUEUE) is True
    assert await manager.pause(QUEUE) is False  # already paused: no error, nothing changes
    assert (await manager.queue_info(QUEUE)).paused
    assert await broker.dequeue([QUEUE], clock.now(), LEASE, "w", 10) == []
    await job_in(broker, clock, JobState.PENDING)  # enqueue still works
    assert await manager.resume(QUEUE) is True
    assert await manager.resume(QUEUE) is False
    assert not (await manager.queue_info(QUEUE)).paused
    assert len(await broker.dequeue([QUEUE], clock.now(), LEASE, "w", 10)) == 2


async def test_delete_queue_refuses_a_non_empty_queue_unless_forced_and_always_while_active(
    manager: Manager, broker: Broker, clock: ManualClock
) -> None:
    lease = await active_lease(broker, clock)
    await job_in(broker, clock, JobState.SCHEDULED)
    before = await snapshot(broker, clock)
    for force in (False, True):
        with pytest.raises(OperationNotAllowed, match="active"):
            await manager.delete_queue(QUEUE, force=force)
    assert await snapshot(broker, clock) == before
    await broker.settle([Settlement.complete(lease)], clock.now())
    with pytest.raises(QueueNotEmpty):
        await manager.delete_queue(QUEUE)
    await manager.delete_queue(QUEUE, force=True)
    assert QUEUE not in await manager.queue_names()
    with pytest.raises(QueueNotFound):
        await manager.queue_info(QUEUE)


async def test_an_empty_queue_is_deleted_without_force(manager: Manager, broker: Broker, clock: ManualClock) -> None:
    job_id = await job_in(broker, clock, JobState.PENDING)
    await manager.delete_job(QUEUE, job_id)
    await manager.delete_queue(QUEUE)
    assert await manager.queue_names() == []


# --------------------------------------------------------------------------- bad input


Call = Callable[[Manager, str], Awaitable[Any]]

UNKNOWN_QUEUE: dict[str, Call] = {
    "queue_info": lambda m, j: m.queue_info("nowhere"),
    "history": lambda m, j: m.history("nowhere"),
    "list_jobs": lambda m, j: m.list_jobs("nowhere", "pending"),
    "list_active": lambda m, j: m.list_active("nowhere"),
    "list_groups": lambda m, j: m.list_groups("nowhere"),
    "job_info": lambda m, j: m.job_info("nowhere", j),
    "job_payload": lambda m, j: m.job_payload("nowhere", j),
    "job_result": lambda m, j: m.job_result("nowhere", j),
    "run_job": lambda m, j: m.run_job("nowhere", j),
    "archive_job": lambda m, j: m.archive_job("nowhere", j),
    "delete_job": lambda m, j: m.delete_job("nowhere", j),
    "cancel": lambda m, j: m.cancel("nowhere", j),
    "run_all": lambda m, j: m.run_all("nowhere", "archived"),
    "archive_all": lambda m, j: m.archive_all("nowhere", "pending"),
    "delete_all": lambda m, j: m.delete_all("nowhere", "completed"),
    "cancel_active": lambda m, j: m.cancel_active("nowhere"),
    "batch_run": lambda m, j: m.batch_run("nowhere", [j]),
    "batch_delete": lambda m, j: m.batch_delete("nowhere", [j]),
    "pause": lambda m, j: m.pause("nowhere"),
    "resume": lambda m, j: m.resume("nowhere"),
    "delete_queue": lambda m, j: m.delete_queue("nowhere", force=True),
}

UNKNOWN_JOB: dict[str, Call] = {
    "job_info": lambda m, j: m.job_info(QUEUE, "no-such-job"),
    "job_payload": lambda m, j: m.job_payload(QUEUE, "no-such-job"),
    "job_result": lambda m, j: m.job_result(QUEUE, "no-such-job"),
    "run_job": lambda m, j: m.run_job(QUEUE, "no-such-job"),
    "archive_job": lambda m, j: m.archive_job(QUEUE, "no-such-job"),
    "delete_job": lambda m, j: m.delete_job(QUEUE, "no-such-job"),
    "cancel": lambda m, j: m.cancel(QUEUE, "no-such-job"),
}

BAD_INPUT: list[tuple[str, Call, type[Exception]]] = [
    ("state name", lambda m, j: m.list_jobs(QUEUE, "running"), InvalidJobState),
    ("state name in bulk", lambda m, j: m.run_all(QUEUE, "dead"), InvalidJobState),
    ("page 0", lambda m, j: m.list_jobs(QUEUE, "pending", 0), InvalidPagination),
    ("page -1", lambda m, j: m.list_active(QUEUE, -1), InvalidPagination),
    ("page size 0", lambda m, j: m.list_jobs(QUEUE, "pending", 1, 0), InvalidPagination),
    ("page size 1001", lambda m, j: m.list_jobs(QUEUE, "archived", 1, 1001), InvalidPagination),
    ("page as text", lambda m, j: m.list_jobs(QUEUE, "pending", "2"), InvalidPagination),
    ("listing without a group", lambda m, j: m.list_jobs(QUEUE, "aggregating"), GroupRequired),
    ("run without a group", lambda m, j: m.run_all(QUEUE, "aggregating"), GroupRequired),
    ("archive without a group", lambda m, j: m.archive_all(QUEUE, "aggregating", group=""), GroupRequired),
    ("delete without a group", lambda m, j: m.delete_all(QUEUE, "aggregating"), GroupRequired),
    ("group on another state", lambda m, j: m.delete_all(QUEUE, "pending", group="g1"), ValidationError),
    ("bad group name", lambda m, j: m.run_all(QUEUE, "aggregating", group="g{1}"), InvalidGroupName),
    ("bad queue name", lambda m, j: m.pause("no spaces"), InvalidQueueName),
    ("hash tag in queue", lambda m, j: m.delete_queue("ops}{x", force=True), InvalidQueueName),
    ("bad job id", lambda m, j: m.delete_job(QUEUE, "a b"), InvalidJobId),
    ("bad id in a batch", lambda m, j: m.batch_delete(QUEUE, [j, "x}"]), InvalidJobId),
    ("a string as a batch", lambda m, j: m.batch_delete(QUEUE, j), ValidationError),
    ("days 0", lambda m, j: m.history(QUEUE, 0), ValidationError),
    ("days 91", lambda m, j: m.history(QUEUE, 91), ValidationError),
    ("bad schedule id", lambda m, j: m.schedule_history("no spaces"), ValidationError),
    ("history limit", lambda m, j: m.schedule_history("nightly", 0), ValidationError),
]


async def _full_queue(broker: Broker, clock: ManualClock) -> str:
    ids = await populate(broker, clock, dict.fromkeys(JobState, 1))
    return ids[JobState.PENDING][0]


@pytest.mark.parametrize("call", list(UNKNOWN_QUEUE.values()), ids=list(UNKNOWN_QUEUE))
async def test_an_unknown_queue_raises_queue_not_found_and_changes_nothing(
    manager: Manager, broker: Broker, clock: ManualClock, call: Call
) -> None:
    job_id = await _full_queue(broker, clock)
    before = await snapshot(broker, clock)
    with pytest.raises(QueueNotFound) as caught:
        await call(manager, job_id)
    assert caught.value.queue == "nowhere"
    assert await snapshot(broker, clock) == before
    assert "nowhere" not in await broker.list_queues()


@pytest.mark.parametrize("call", list(UNKNOWN_JOB.values()), ids=list(UNKNOWN_JOB))
async def test_an_unknown_job_raises_job_not_found_and_changes_nothing(
    manager: Manager, broker: Broker, clock: ManualClock, call: Call
) -> None:
    job_id = await _full_queue(broker, clock)
    before = await snapshot(broker, clock)
    with pytest.raises(JobNotFound) as caught:
        await call(manager, job_id)
    assert (caught.value.queue, caught.value.job_id) == (QUEUE, "no-such-job")
    assert await snapshot(broker, clock) == before


@pytest.mark.parametrize(("call", "error"), [(c, e) for _, c, e in BAD_INPUT], ids=[n for n, _, _ in BAD_INPUT])
async def test_bad_input_raises_its_own_error_before_the_broker_is_touched(
    broker: Broker, clock: ManualClock, call: Call, error: type[Exception]
) -> None:
    job_id = await _full_queue(broker, clock)
    before = await snapshot(broker, clock)
    counting = CountingBroker(broker)
    async with Manager(counting, clock=clock) as manager:  # type: ignore[arg-type]
        with pytest.raises(error):
            await call(manager, job_id)
    assert sum(counting.calls.values()) == 0
    assert await snapshot(broker, clock) == before


async def test_a_result_that_was_never_written_is_result_not_found(
    manager: Manager, broker: Broker, clock: ManualClock
) -> None:
    job_id = await job_in(broker, clock, JobState.PENDING)
    with pytest.raises(ResultNotFound):
        await manager.job_result(QUEUE, job_id)


@pytest.mark.parametrize("method", list(BULK_METHODS.values()))
async def test_the_driver_ignores_a_group_given_with_another_state(
    broker: Broker, clock: ManualClock, method: str
) -> None:
    # Regression: the bulk scripts dropped the named group from the queue's groups when
    # their (non-group) source emptied, hiding that group's aggregating jobs.
    await populate(broker, clock, {S.AGGREGATING: 1, S.SCHEDULED: 1, S.RETRY: 1})
    state = S.RETRY if method == "archive_all" else S.SCHEDULED
    assert await getattr(broker, method)(QUEUE, state, clock.now(), "g1") == 1
    assert await broker.list_groups(QUEUE) == {"g1": 1}
    assert (await broker.queue_stats(QUEUE, clock.now())).aggregating == 1
