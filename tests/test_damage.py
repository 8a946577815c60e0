"""Damaged records and damaged queues never stop the healthy ones: listings, the Manager
and the worker go on, and the damage is shown with its reason -- on both drivers and
both runtimes. The damage is done the way an operator's slip would do it: a job's hash
or a queue's pending list replaced by a string."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from queue_core import (
    Broker,
    Job,
    JobState,
    Manager,
    ManualClock,
    OperationNotAllowed,
    QueueDamaged,
    Settlement,
    Worker,
)
from tests.manager_kit import job_in
from tests.worker_kit import manual_clock, running, wait_until


@pytest.fixture
def clock() -> ManualClock:
    return manual_clock()


@pytest.fixture
async def manager(broker: Broker, clock: ManualClock) -> AsyncIterator[Manager]:
    async with Manager(broker, clock=clock) as opened:
        yield opened


async def clobber(broker: Broker, key: str) -> None:
    """Replace ``key`` by a string, as ``redis-cli del`` + ``set`` would."""
    transport: Any = broker._transport  # type: ignore[attr-defined]
    await transport.execute([("DEL", key), ("SET", key, "garbage")])


def job_key(broker: Broker, queue: str, job_id: str) -> str:
    return str(broker._keys.queue(queue).job(job_id))  # type: ignore[attr-defined]


async def pending_ids(broker: Broker, clock: ManualClock, queue: str, n: int) -> list[str]:
    jobs = [Job.create("task", {"n": i}, queue=queue, job_id=f"job{i + 1}") for i in range(n)]
    outcomes = await broker.enqueue(jobs, clock.now())
    assert all(o.ok for o in outcomes)
    return [o.job_id for o in outcomes]


# --------------------------------------------------------------------------- one damaged record


async def test_a_damaged_pending_record_is_listed_shown_counted_archived_and_deleted(
    broker: Broker, manager: Manager, clock: ManualClock
) -> None:
    """Before: list_jobs, job_info, delete_job (and archive_job) all failed with WRONGTYPE."""
    ids = await pending_ids(broker, clock, "default", 3)
    await clobber(broker, job_key(broker, "default", "job2"))

    listed = await manager.list_jobs("default", JobState.PENDING)
    assert [j.id for j in listed] == ids
    assert [j.malformed for j in listed] == [None, "its key holds a string, not a hash", None]
    assert listed[1].state is JobState.PENDING
    shown = await manager.job_info("default", "job2")
    assert (shown.state, shown.malformed) == (JobState.PENDING, "its key holds a string, not a hash")
    assert (await manager.queue_info("default")).pending == 3

    with pytest.raises(OperationNotAllowed, match="record is damaged"):
        await manager.run_job("default", "job2")
    assert await manager.archive_job("default", "job2") is JobState.PENDING
    [archived] = await manager.list_jobs("default", JobState.ARCHIVED)
    assert archived.id == "job2" and archived.malformed == "its key held a string, not a hash"
    assert archived.last_error == "malformed job record: its key held a string, not a hash"
    with pytest.raises(OperationNotAllowed, match="record is damaged"):
        await manager.run_job("default", "job2")  # archived, but it has no type to run
    assert await manager.delete_job("default", "job2") is JobState.ARCHIVED
    assert [j.id for j in await manager.list_jobs("default", JobState.PENDING)] == ["job1", "job3"]
    info = await manager.queue_info("default")
    assert (info.pending, info.archived) == (2, 0)


@pytest.mark.parametrize("state", [JobState.COMPLETED, JobState.ARCHIVED, JobState.SCHEDULED])
async def test_a_damaged_record_in_another_state_is_listed_and_deleted(
    broker: Broker, manager: Manager, clock: ManualClock, state: JobState
) -> None:
    healthy = await job_in(broker, clock, state, queue="default")
    damaged = await job_in(broker, clock, state, queue="default")
    await clobber(broker, job_key(broker, "default", damaged))
    listed = {j.id: j for j in await manager.list_jobs("default", state)}
    assert listed[healthy].malformed is None and listed[damaged].malformed is not None
    assert listed[damaged].state is state
    assert (await manager.job_info("default", damaged)).state is state
    assert (await manager.queue_info("default")).count(state) == 2
    assert await manager.delete_job("default", damaged) is state
    assert [j.id for j in await manager.list_jobs("default", state)] == [healthy]


async def test_a_record_with_fields_that_do_not_decode_is_flagged_once(
    broker: Broker, manager: Manager, clock: ManualClock
) -> None:
    """Before: the worker archived it as "malformed job record: malformed job record: ..."."""
    [job_id] = await pending_ids(broker, clock, "default", 1)
    transport: Any = broker._transport  # type: ignore[attr-defined]
    await transport.execute([("HSET", job_key(broker, "default", job_id), "retried", "many")])
    assert "int()" in str((await manager.job_info("default", job_id)).malformed)
    [lease] = await broker.dequeue(["default"], clock.now(), 30, "w1", 1)
    assert lease.record.malformed is not None
    worker = Worker(broker, clock=clock, queues=["default"], shutdown_timeout=0)
    worker.handler("task")(lambda delivery: None)
    await broker.settle([Settlement.requeue(lease)], clock.now())
    async with running(worker):
        await wait_until(lambda: _archived(broker, clock, job_id), "archived")
    error = (await manager.job_info("default", job_id)).last_error
    assert error is not None and error.count("malformed job record") == 1, error


async def _archived(broker: Broker, clock: ManualClock, job_id: str) -> bool:
    return (await broker.job_info("default", job_id, clock.now())).state is JobState.ARCHIVED


# --------------------------------------------------------------------------- one damaged queue


async def test_a_damaged_queue_never_stops_the_others(
    broker: Broker, manager: Manager, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: every dequeue naming both queues failed with WRONGTYPE, so no job of
    ``other`` ran; stats failed for every queue."""
    await pending_ids(broker, clock, "default", 2)
    other = [Job.create("task", {"n": i}, queue="other").with_id() for i in range(20)]
    await broker.enqueue(other, clock.now())
    await clobber(broker, broker._keys.queue("default").pending)  # type: ignore[attr-defined]

    with pytest.raises(QueueDamaged, match=r"default.*pending.* holds a string, not a list"):
        await broker.dequeue(["default", "other"], clock.now(), 30, "w1", 5)
    queues = {q.queue: q for q in await manager.list_queues()}
    assert queues["other"].pending == 20 and queues["other"].damaged is None
    assert "holds a string, not a list" in str(queues["default"].damaged)

    done: list[int] = []
    worker = Worker(broker, clock=clock, queues={"default": 1, "other": 1}, concurrency=3, shutdown_timeout=0)
    worker.handler("task")(lambda delivery: done.append(1))
    caplog.set_level(logging.ERROR, logger="queue_core")
    async with running(worker):
        await wait_until(lambda: len(done) == 20, "every job of the healthy queue ran")
        await anyio.sleep(0.2)  # many more polls: still one report
    reports = [r for r in caplog.records if "is damaged" in r.getMessage()]
    assert len(reports) == 1, [r.getMessage() for r in reports]
    assert "'default'" in reports[0].getMessage() and "not a list" in reports[0].getMessage()
