"""One focused example per rule of dependencies (docs/broker-protocol.md, Dependencies),
for drivers that declare the ``dependencies`` feature: a waiting job is never dequeued,
is released exactly once, in the transition that completes its last dependency, and
obeys its policy when a dependency is archived, cancelled or deleted.
"""

from __future__ import annotations

import pytest

from queue_conformance.helpers import DEFAULT, T0, enqueue, ids, info, job, lease, lease_one, require_feature, stats
from queue_core import Broker, EnqueueStatus, JobNotFound, JobState, Settlement

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _dependencies(broker: Broker) -> None:
    require_feature(broker, "dependencies")


async def complete(broker: Broker, job_id: str, result: bytes | None = None, *, now: float = T0) -> None:
    taken = await lease(broker, now=now)
    assert job_id in ids(taken), f"{job_id} should be pending, got {ids(taken)}"
    for held in taken:
        if held.job_id == job_id:
            assert await broker.settle([Settlement.complete(held, result=result)], now) == [True]
        else:
            assert await broker.settle([Settlement.requeue(held)], now) == [True]


async def test_a_job_with_an_unfinished_dependency_waits_and_is_never_dequeued(broker: Broker) -> None:
    """enqueue: "A job still waiting for at least one is stored waiting"."""
    [first, second] = await enqueue(broker, job("a"), job("b", depends_on=("a",)))
    assert (first.state, second.state) == (JobState.PENDING, JobState.WAITING)
    assert ids(await lease(broker)) == ["a"]
    assert await lease(broker) == []
    snapshot = await info(broker, "b")
    assert (snapshot.state, snapshot.depends_on, snapshot.waiting_for) == (JobState.WAITING, ("a",), 1)
    assert (await stats(broker)).waiting == 1
    assert await broker.job_dependents(DEFAULT, "a") == ["b"]


async def test_a_missing_dependency_writes_nothing(broker: Broker) -> None:
    """enqueue: "One that does not exist gives DEPENDENCY_MISSING ... nothing is written"."""
    [outcome] = await enqueue(broker, job("b", depends_on=("nobody",)))
    assert (outcome.status, outcome.missing) == (EnqueueStatus.DEPENDENCY_MISSING, "nobody")
    with pytest.raises(JobNotFound):
        await info(broker, "b")
    assert DEFAULT not in await broker.list_queues()


async def test_the_last_completion_releases_the_dependent_with_the_results(broker: Broker) -> None:
    """Release "is part of the dependency's own transition"; results are copied."""
    await enqueue(broker, job("a"), job("b"), job("fan-in", depends_on=("a", "b")))
    await complete(broker, "a", b"ra")
    assert (await info(broker, "fan-in")).state is JobState.WAITING
    await complete(broker, "b", b"rb")
    assert (await info(broker, "fan-in")).state is JobState.PENDING
    assert await broker.dependency_results(DEFAULT, "fan-in") == {"a": b"ra", "b": b"rb"}
    assert ids(await lease(broker)) == ["fan-in"]


async def test_a_chain_releases_one_link_at_a_time(broker: Broker) -> None:
    await enqueue(broker, job("1"), job("2", depends_on=("1",)), job("3", depends_on=("2",)))
    for link in ("1", "2", "3"):
        await complete(broker, link)
    assert (await stats(broker)).waiting == 0
    assert await lease(broker) == []


async def test_a_released_job_goes_to_scheduled_while_its_time_is_ahead(broker: Broker) -> None:
    await enqueue(broker, job("a"), job("b", depends_on=("a",), schedule_at=T0 + 60))
    await complete(broker, "a")
    snapshot = await info(broker, "b")
    assert (snapshot.state, snapshot.next_process_at) == (JobState.SCHEDULED, T0 + 60)


async def test_a_completed_dependency_is_satisfied_at_enqueue(broker: Broker) -> None:
    await enqueue(broker, job("a", retention=60))
    await complete(broker, "a", b"done")
    [outcome] = await enqueue(broker, job("b", depends_on=("a",)))
    assert outcome.state is JobState.PENDING
    assert await broker.dependency_results(DEFAULT, "b") == {"a": b"done"}


async def test_policy_cancel_archives_the_dependents_in_cascade(broker: Broker) -> None:
    """``cancel``: "archives it as cancelled ... its own dependents apply theirs in turn"."""
    await enqueue(broker, job("a"), job("b", depends_on=("a",)), job("c", depends_on=("b",)))
    held = await lease_one(broker)
    assert await broker.settle([Settlement.archive(held, "boom")], T0) == [True]
    for job_id, dependency in (("b", "a"), ("c", "b")):
        snapshot = await info(broker, job_id)
        assert snapshot.state is JobState.ARCHIVED
        assert snapshot.last_error == f"cancelled: dependency {dependency} did not complete"


@pytest.mark.parametrize("action", ["archive_all", "delete_all"])
async def test_a_bulk_action_on_pending_jobs_follows_the_queue_order(broker: Broker, action: str) -> None:
    """A bulk action settles pending jobs next-to-run first, so a dependent of two of them
    names the one nearer the head as the dependency that did not complete."""
    await enqueue(broker, job("a"), job("b"), job("c", depends_on=("a", "b")))
    assert await getattr(broker, action)(DEFAULT, JobState.PENDING, T0) == 2
    snapshot = await info(broker, "c")
    assert snapshot.state is JobState.ARCHIVED
    assert snapshot.last_error == "cancelled: dependency a did not complete"


async def test_policy_run_counts_a_failed_dependency_as_done(broker: Broker) -> None:
    await enqueue(broker, job("a"), job("b"), job("c", depends_on=("a", "b"), on_dependency_failure="run"))
    await broker.delete_job(DEFAULT, "a", T0)
    assert (await info(broker, "c")).state is JobState.WAITING
    await complete(broker, "b")
    assert (await info(broker, "c")).state is JobState.PENDING


async def test_policy_wait_waits_for_an_archived_dependency_to_be_run_again(broker: Broker) -> None:
    await enqueue(broker, job("a"), job("b", depends_on=("a",), on_dependency_failure="wait"))
    await broker.archive_job(DEFAULT, "a", T0)
    assert (await info(broker, "b")).state is JobState.WAITING
    await broker.run_job(DEFAULT, "a", T0)
    await complete(broker, "a")
    assert (await info(broker, "b")).state is JobState.PENDING


async def test_an_operator_releases_a_waiting_job_once(broker: Broker) -> None:
    """Running a waiting job "releases it and drops its links": completing the
    dependency later does not release it a second time."""
    await enqueue(broker, job("a"), job("b", depends_on=("a",)))
    assert await broker.run_job(DEFAULT, "b", T0) is JobState.WAITING
    assert await broker.job_dependents(DEFAULT, "a") == []
    taken = await lease(broker, limit=10)
    assert sorted(ids(taken)) == ["a", "b"]
    assert await broker.settle([Settlement.complete(held) for held in taken], T0) == [True, True]
    assert await lease(broker) == []


async def test_enqueue_flow_writes_nothing_when_one_job_is_refused(broker: Broker) -> None:
    """enqueue_flow: "nothing of that queue is written; that job gets its status and the
    queue's others FLOW_REJECTED"."""
    outcomes = await broker.enqueue_flow([job("p"), job("q", depends_on=("p", "nobody"))], T0)
    assert [o.status for o in outcomes] == [EnqueueStatus.FLOW_REJECTED, EnqueueStatus.DEPENDENCY_MISSING]
    with pytest.raises(JobNotFound):
        await info(broker, "p")
    outcomes = await broker.enqueue_flow([job("p"), job("q", depends_on=("p",))], T0)
    assert [o.state for o in outcomes] == [JobState.PENDING, JobState.WAITING]


async def test_a_dependency_archived_before_enqueue_applies_the_policy_at_once(broker: Broker) -> None:
    """enqueue: "an archived one applies the job's policy at once (cancel: the job is
    stored archived ...)"; the other dependencies are still counted, never linked."""
    await enqueue(broker, job("a"), job("b"))
    held = await lease_one(broker)
    assert await broker.settle([Settlement.archive(held, "boom")], T0) == [True]
    [outcome] = await enqueue(broker, job("c", depends_on=("a", "b")))
    assert outcome.state is JobState.ARCHIVED
    snapshot = await info(broker, "c")
    assert (snapshot.last_error, snapshot.waiting_for) == ("cancelled: dependency a did not complete", 1)
    assert await broker.job_dependents(DEFAULT, "b") == []


@pytest.mark.parametrize("policy", ["run", "cancel"])
async def test_archive_all_waiting_takes_a_job_an_earlier_one_settled(broker: Broker, policy: str) -> None:
    """archive_all takes every job waiting when it is called: one that archiving an
    earlier job settles (released to pending under ``run``, cancelled under ``cancel``)
    is archived too, and is left in no other container."""
    await enqueue(
        broker,
        job("a"),
        job("b", depends_on=("a",), on_dependency_failure="wait"),
        job("c", depends_on=("b",), on_dependency_failure=policy),
    )
    assert await broker.archive_all(DEFAULT, JobState.WAITING, T0) == 2
    assert [(await info(broker, job_id)).state for job_id in ("b", "c")] == [JobState.ARCHIVED] * 2
    cancelled = "cancelled: dependency b did not complete" if policy == "cancel" else None
    assert (await info(broker, "c")).last_error == cancelled
    counts = await stats(broker)
    assert (counts.pending, counts.waiting, counts.archived) == (1, 0, 2)
    assert ids(await lease(broker, limit=10)) == ["a"]


@pytest.mark.parametrize("policy", ["run", "cancel"])
async def test_delete_all_waiting_takes_a_job_an_earlier_one_settled(broker: Broker, policy: str) -> None:
    """delete_all likewise: the dependent settled by an earlier deletion is deleted,
    and no container keeps its ID."""
    await enqueue(
        broker,
        job("a"),
        job("b", depends_on=("a",), on_dependency_failure="wait"),
        job("c", depends_on=("b",), on_dependency_failure=policy),
    )
    assert await broker.delete_all(DEFAULT, JobState.WAITING, T0) == 2
    for job_id in ("b", "c"):
        with pytest.raises(JobNotFound):
            await info(broker, job_id)
    counts = await stats(broker)
    assert (counts.pending, counts.waiting, counts.archived) == (1, 0, 0)
    assert ids(await lease(broker, limit=10)) == ["a"]


#: more waiting jobs than a driver is likely to take in one step (Redis: batches of 500)
MANY = 520


@pytest.mark.parametrize("policy", ["run", "cancel"])
@pytest.mark.parametrize("action", ["archive_all", "delete_all"])
async def test_a_bulk_action_on_many_waiting_jobs_takes_every_one(broker: Broker, action: str, policy: str) -> None:
    """However a driver splits the work, archive_all / delete_all of waiting jobs ends
    like one atomic call: a chain of MANY links waiting behind a pending job, each
    settled by the link before it (released under ``run``, cancelled under ``cancel``),
    is archived or deleted to its end; none is left pending or archived."""
    chain = [job("root")] + [
        job(f"link{n:04d}", depends_on=("root" if n == 0 else f"link{n - 1:04d}",), on_dependency_failure=policy)
        for n in range(MANY)
    ]
    await enqueue(broker, *chain)
    assert await getattr(broker, action)(DEFAULT, JobState.WAITING, T0) == MANY
    counts = await stats(broker)
    archived = MANY if action == "archive_all" else 0
    assert (counts.pending, counts.waiting, counts.archived) == (1, 0, archived)
    assert ids(await lease(broker, limit=10)) == ["root"]
