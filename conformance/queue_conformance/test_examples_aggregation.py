"""One focused example per rule of group aggregation (docs/broker-protocol.md,
Aggregation), for drivers that declare the ``aggregation`` feature. Each docstring
quotes the rule it checks.
"""

from __future__ import annotations

from typing import Any

import pytest

from queue_conformance.helpers import DEFAULT, T0, enqueue, ids, info, job, lease, require_feature, stats
from queue_core import Broker, EnqueueStatus, Job, JobNotFound, JobState

pytestmark = pytest.mark.anyio

GRACE, STAGE_FOR = 5.0, 30.0


@pytest.fixture(autouse=True)
def _aggregation(broker: Broker) -> None:
    require_feature(broker, "aggregation")


async def check(
    broker: Broker, now: float, *, grace: float = GRACE, max_delay: float | None = None, max_size: int | None = None
) -> str | None:
    return await broker.aggregation_check(DEFAULT, "g", now, grace, max_delay, max_size, STAGE_FOR)


async def members(broker: Broker, set_id: str) -> list[str]:
    return [record.id for record in await broker.read_staged(DEFAULT, "g", set_id)]


async def spaced(broker: Broker, *job_ids: str, group: str = "g") -> None:
    """One member per second from T0 on, in the order given."""
    for offset, job_id in enumerate(job_ids):
        await enqueue(broker, job(job_id, group=group), now=T0 + offset)


def aggregate(job_id: str = "agg", **options: Any) -> Job:
    """The job an aggregator makes of a staged set."""
    return job(job_id, **options)


# --------------------------------------------------------------------------- readiness


async def test_a_full_group_stages_its_oldest_members(broker: Broker) -> None:
    """aggregation_check: "Ready: size >= max_size (the oldest max_size are staged)";
    read_staged: "The staged members, oldest first"."""
    await spaced(broker, "c", "a", "b")
    assert await check(broker, T0 + 2, max_size=4) is None
    set_id = await check(broker, T0 + 2, max_size=2)
    assert set_id is not None
    assert await members(broker, set_id) == ["c", "a"]
    assert await broker.list_groups(DEFAULT) == {"g": 1}


async def test_a_group_is_ready_once_its_oldest_member_waited_max_delay(broker: Broker) -> None:
    """aggregation_check: "the oldest member waited >= max_delay" (reached at equality)."""
    await spaced(broker, "a", "b", "c")
    assert await check(broker, T0 + 9.875, grace=60, max_delay=10) is None
    set_id = await check(broker, T0 + 10, grace=60, max_delay=10)
    assert set_id is not None and await members(broker, set_id) == ["a", "b", "c"]


async def test_a_group_is_ready_once_its_newest_member_waited_grace(broker: Broker) -> None:
    """aggregation_check: "or the newest waited >= grace (up to max_size staged, oldest first)"."""
    await spaced(broker, "a", "b", "c")
    assert await check(broker, T0 + 2 + GRACE - 0.125, max_size=5) is None
    set_id = await check(broker, T0 + 2 + GRACE, max_size=5)
    assert set_id is not None and await members(broker, set_id) == ["a", "b", "c"]
    assert await check(broker, T0 + 100) is None  # nothing left: not ready
    assert await broker.list_groups(DEFAULT) == {}


async def test_members_of_one_batch_are_ordered_by_id(broker: Broker) -> None:
    """A group orders members that joined at the same time by ID, as a sorted set does."""
    await enqueue(broker, job("m2", group="g"), job("m10", group="g"), job("m1", group="g"))
    set_id = await check(broker, T0, max_size=2)
    assert set_id is not None and await members(broker, set_id) == ["m1", "m10"]


async def test_staged_members_are_out_of_their_group(broker: Broker) -> None:
    """Staged members leave the group: list_groups, list_jobs and queue_stats count only
    those waiting, though job_info still says aggregating."""
    await spaced(broker, "a", "b")
    assert await check(broker, T0 + 1, max_size=1) is not None
    assert await broker.list_groups(DEFAULT) == {"g": 1}
    waiting = await broker.list_jobs(DEFAULT, JobState.AGGREGATING, 1, 10, T0 + 1, "g")
    assert [snapshot.id for snapshot in waiting] == ["b"]
    counted = await stats(broker, now=T0 + 1)
    assert (counted.aggregating, counted.groups, counted.size) == (1, 1, 1)
    assert (await info(broker, "a", now=T0 + 1)).state is JobState.AGGREGATING


# --------------------------------------------------------------------------- commit


async def test_commit_enqueues_the_aggregate_and_deletes_the_members(broker: Broker) -> None:
    """commit_staged: "Atomically enqueue job ... and delete the staged members with their
    records"; the members' unique locks go with them; a second commit is STALE."""
    await enqueue(broker, job("a", group="g", unique_for=600, unique_key="k"), job("b", group="g"))
    set_id = await check(broker, T0 + GRACE)
    assert set_id is not None
    outcome = await broker.commit_staged(DEFAULT, "g", set_id, aggregate(group="g"), T0 + 6)
    assert (outcome.job_id, outcome.queue, outcome.status, outcome.state) == (
        "agg",
        DEFAULT,
        EnqueueStatus.ENQUEUED,
        JobState.PENDING,
    )
    assert (await info(broker, "agg", now=T0 + 6)).group is None  # the aggregate never joins a group
    for member in ("a", "b"):
        with pytest.raises(JobNotFound):
            await info(broker, member)
    assert await broker.read_staged(DEFAULT, "g", set_id) == []
    again = await broker.commit_staged(DEFAULT, "g", set_id, aggregate("agg2"), T0 + 6)
    assert (again.status, again.state) == (EnqueueStatus.STALE, None)
    [free] = await enqueue(broker, job("c", unique_for=600, unique_key="k"), now=T0 + 6)
    assert free.status is EnqueueStatus.ENQUEUED
    assert ids(await lease(broker, now=T0 + 6)) == ["agg", "c"]


async def test_a_set_past_its_deadline_is_stale_and_goes_back_to_its_group(broker: Broker) -> None:
    """A staging set is kept "until now + stage_for": from that time on (reached at
    equality, as reclaim_staged judges it) its commit is STALE and reclaim_staged gives
    its members back, each with the time it first joined."""
    await spaced(broker, "a", "b")
    set_id = await check(broker, T0 + 1, max_size=1)
    assert set_id is not None
    await enqueue(broker, job("c", group="g"), now=T0 + 2)
    deadline = T0 + 1 + STAGE_FOR
    assert await broker.reclaim_staged(DEFAULT, deadline - 0.125) == 0
    stale = await broker.commit_staged(DEFAULT, "g", set_id, aggregate(), deadline)
    assert stale.status is EnqueueStatus.STALE
    with pytest.raises(JobNotFound):
        await info(broker, "agg")
    assert await broker.reclaim_staged(DEFAULT, deadline) == 1
    assert await broker.reclaim_staged(DEFAULT, deadline) == 0
    waiting = await broker.list_jobs(DEFAULT, JobState.AGGREGATING, 1, 10, deadline, "g")
    assert [snapshot.id for snapshot in waiting] == ["a", "b", "c"]
    assert await broker.read_staged(DEFAULT, "g", set_id) == []


async def test_a_rejected_aggregate_makes_the_set_due_for_reclaim_at_once(broker: Broker) -> None:
    """commit_staged: "When job itself is rejected (ID_CONFLICT, DUPLICATE) the set
    becomes due for reclaim_staged at once"; nothing is written, a retry is STALE."""
    await enqueue(broker, job("taken", unique_for=600, unique_key="k"))
    await spaced(broker, "a")
    set_id = await check(broker, T0 + GRACE)
    assert set_id is not None
    conflict = await broker.commit_staged(DEFAULT, "g", set_id, aggregate("a"), T0 + 6)
    assert (conflict.status, conflict.state) == (EnqueueStatus.ID_CONFLICT, None)
    retry = await broker.commit_staged(DEFAULT, "g", set_id, aggregate("agg"), T0 + 6)
    assert retry.status is EnqueueStatus.STALE
    assert await broker.reclaim_staged(DEFAULT, T0 + 6) == 1

    set_id = await check(broker, T0 + 6)
    assert set_id is not None
    duplicate = await broker.commit_staged(DEFAULT, "g", set_id, aggregate(unique_for=60, unique_key="k"), T0 + 7)
    assert (duplicate.status, duplicate.holder) == (EnqueueStatus.DUPLICATE, "taken")
    assert await broker.reclaim_staged(DEFAULT, T0 + 7) == 1
    assert (await stats(broker, now=T0 + 7)).pending == 1  # "taken" only


async def test_a_set_from_another_group_or_unknown_is_stale(broker: Broker) -> None:
    """A set ID is the group's own: read under another group it is empty, committed it
    is STALE; an unknown set likewise."""
    await spaced(broker, "a")
    set_id = await check(broker, T0 + GRACE)
    assert set_id is not None
    assert await broker.read_staged(DEFAULT, "other", set_id) == []
    assert (await broker.commit_staged(DEFAULT, "other", set_id, aggregate(), T0 + 6)).status is EnqueueStatus.STALE
    assert (await broker.commit_staged(DEFAULT, "g", "no-such-set", aggregate(), T0 + 6)).status is EnqueueStatus.STALE
    assert await members(broker, set_id) == ["a"]


# --------------------------------------------------------------------------- operators


@pytest.mark.parametrize("action", ["run_job", "archive_job", "delete_job", "request_cancel"])
async def test_an_operator_taking_a_staged_member_spoils_the_set(broker: Broker, action: str) -> None:
    """commit_staged: a set that "lost a member to an operator action (run, archive,
    delete, cancel) gets STALE": "a member is never both run and aggregated". The rest
    of the set goes back to the group at the next reclaim."""
    require_feature(broker, "admin")
    await spaced(broker, "a", "b")
    set_id = await check(broker, T0 + 1 + GRACE)
    assert set_id is not None
    assert await getattr(broker, action)(DEFAULT, "a", T0 + 7) is JobState.AGGREGATING
    assert await members(broker, set_id) == ["b"]
    stale = await broker.commit_staged(DEFAULT, "g", set_id, aggregate(), T0 + 7)
    assert stale.status is EnqueueStatus.STALE
    assert await broker.reclaim_staged(DEFAULT, T0 + 7) == 1
    assert await broker.list_groups(DEFAULT) == {"g": 1}
    if action == "run_job":
        assert ids(await lease(broker, now=T0 + 7)) == ["a"]


async def test_bulk_actions_leave_staged_members_alone(broker: Broker) -> None:
    """Bulk actions on aggregating jobs take the group, which staged members have left:
    the set stays whole and commits."""
    require_feature(broker, "admin")
    await spaced(broker, "a", "b")
    set_id = await check(broker, T0 + 1, max_size=1)
    assert set_id is not None
    assert await broker.delete_all(DEFAULT, JobState.AGGREGATING, T0 + 1, "g") == 1
    outcome = await broker.commit_staged(DEFAULT, "g", set_id, aggregate(), T0 + 2)
    assert outcome.status is EnqueueStatus.ENQUEUED


async def test_deleting_a_queue_deletes_its_staged_members(broker: Broker) -> None:
    """delete_queue(force=True) removes every job of the queue, staged ones included; a
    staged set does not keep a queue from deletion without force (it is not in
    QueueStats.size), and its commit is then STALE."""
    require_feature(broker, "admin")
    await spaced(broker, "a")
    set_id = await check(broker, T0 + GRACE)
    assert set_id is not None
    await broker.delete_queue(DEFAULT, False)
    with pytest.raises(JobNotFound):
        await info(broker, "a")
    assert await broker.read_staged(DEFAULT, "g", set_id) == []
    stale = await broker.commit_staged(DEFAULT, "g", set_id, aggregate(), T0 + 6)
    assert stale.status is EnqueueStatus.STALE
