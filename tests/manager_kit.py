"""Helpers for the Manager tests: put jobs in any state, and photograph a queue so a
test can prove that a refused call changed nothing."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from queue_core import Broker, Job, JobState, Lease, ManualClock, Settlement

QUEUE = "ops"
LEASE = 30.0
#: the order populate() builds states in: the ones that pass through a dequeue first,
#: while pending is still empty, so each dequeue takes the job just enqueued.
BUILD_ORDER = (
    JobState.ACTIVE,
    JobState.RETRY,
    JobState.ARCHIVED,
    JobState.COMPLETED,
    JobState.PENDING,
    JobState.SCHEDULED,
    JobState.AGGREGATING,
    JobState.WAITING,
)
_serial = itertools.count()


async def job_in(
    broker: Broker, clock: ManualClock, state: JobState, *, queue: str = QUEUE, group: str = "g1", **options: Any
) -> str:
    """Enqueue one job and bring it to ``state``; returns its ID. For the states that
    pass through a dequeue, the queue's pending list must be empty."""
    now = clock.now()
    if state is JobState.SCHEDULED:
        options.setdefault("delay", 60)
    if state is JobState.AGGREGATING:
        options["group"] = group
    if state is JobState.COMPLETED:
        options.setdefault("retention", 600)
    if state is JobState.WAITING and "depends_on" not in options:
        # something to wait for that stays out of the way: due in an hour
        options["depends_on"] = [await job_in(broker, clock, JobState.SCHEDULED, queue=queue)]
    job = Job.create("task", {"n": next(_serial)}, queue=queue, **options).with_id()
    assert job.job_id is not None
    [outcome] = await broker.enqueue([job], now)
    assert outcome.ok, outcome
    if state in (JobState.PENDING, JobState.SCHEDULED, JobState.AGGREGATING, JobState.WAITING):
        return job.job_id
    [lease] = await broker.dequeue([queue], now, LEASE, "w1", 1)
    assert lease.job_id == job.job_id, "job_in needs an empty pending list for this state"
    if state is JobState.RETRY:
        await broker.settle([Settlement.retry(lease, now + 300, "boom")], now)
    elif state is JobState.ARCHIVED:
        await broker.settle([Settlement.archive(lease, "boom")], now)
    elif state is JobState.COMPLETED:
        await broker.settle([Settlement.complete(lease, b'{"ok":true}')], now)
    return job.job_id


async def active_lease(broker: Broker, clock: ManualClock, *, queue: str = QUEUE, **options: Any) -> Lease:
    """Enqueue one job and lease it (the queue's pending list must be empty)."""
    job = Job.create("task", {"n": next(_serial)}, queue=queue, **options).with_id()
    [outcome] = await broker.enqueue([job], clock.now())
    assert outcome.ok, outcome
    [lease] = await broker.dequeue([queue], clock.now(), LEASE, "w1", 1)
    assert lease.job_id == job.job_id
    return lease


async def populate(
    broker: Broker, clock: ManualClock, counts: Mapping[JobState, int], *, queue: str = QUEUE
) -> dict[JobState, list[str]]:
    """``counts[state]`` jobs in each state (aggregating ones alternate between groups
    g1 and g2; waiting ones wait for the first job not yet finished, which must be asked
    for too); returns their IDs by state."""
    ids: dict[JobState, list[str]] = {state: [] for state in JobState}
    for state in BUILD_ORDER:
        for i in range(counts.get(state, 0)):
            group = "g1" if i % 2 == 0 else "g2"
            options: dict[str, Any] = {}
            if state is JobState.WAITING:
                unfinished = (JobState.ACTIVE, JobState.RETRY, JobState.PENDING, JobState.SCHEDULED)
                options["depends_on"] = [next(job_id for s in unfinished for job_id in ids[s])]
            ids[state].append(await job_in(broker, clock, state, queue=queue, group=group, **options))
    return ids


async def snapshot(broker: Broker, clock: ManualClock, queue: str = QUEUE) -> Any:
    """Everything observable about ``queue``: stats, groups and every job's snapshot."""
    now = clock.now()
    if queue not in await broker.list_queues():
        return None
    groups = await broker.list_groups(queue)
    jobs = {}
    for state in JobState:
        if state is JobState.AGGREGATING:
            for group in groups:
                jobs[(state, group)] = await broker.list_jobs(queue, state, 1, 1000, now, group)
        else:
            jobs[(state, None)] = await broker.list_jobs(queue, state, 1, 1000, now)
    return (await broker.queue_stats(queue, now), groups, jobs)
