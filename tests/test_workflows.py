"""Workflows end to end: chain and group built, enqueued as a flow and run by a real
worker on memory:// and Redis, under asyncio and trio; the client's errors; the
Manager's release and cancel_flow; ``queue-core job show``."""

from __future__ import annotations

import pytest

from queue_core import (
    Broker,
    Client,
    Delivery,
    DependencyNotFound,
    FlowRejected,
    InvalidDependency,
    Job,
    JobNotFound,
    JobState,
    Manager,
    OperationNotAllowed,
    Settlement,
    Worker,
    chain,
    group,
)
from queue_core.job import PREVIOUS_HEADER
from tests.worker_kit import running, wait_until


def test_chain_links_each_job_to_the_one_before() -> None:
    a, b, c = chain(Job("a"), Job("b"), Job("c"), pass_result=True)
    assert (a.depends_on, b.depends_on, c.depends_on) == ((), (a.job_id,), (b.job_id,))
    assert PREVIOUS_HEADER not in a.headers and b.headers[PREVIOUS_HEADER] == "1"


def test_group_makes_the_callback_wait_for_every_member() -> None:
    *members, callback = group([Job("m") for _ in range(3)], then=Job("done"))
    assert callback.depends_on == tuple(member.job_id for member in members)


def test_dependencies_stay_in_one_queue_and_are_validated() -> None:
    with pytest.raises(InvalidDependency) as raised:
        chain(Job("a"), Job("b", queue="other"))
    assert raised.value.field == "queue"
    with pytest.raises(InvalidDependency):
        Job("a", job_id="a", depends_on=("a",))
    with pytest.raises(InvalidDependency):
        Job("a", depends_on=("x", "x"))
    with pytest.raises(InvalidDependency):
        Job("a", depends_on="x")  # a string is not a list of IDs
    with pytest.raises(InvalidDependency) as raised:
        Job("a", depends_on=("x",), on_dependency_failure="retry")
    assert raised.value.field == "on_dependency_failure"
    with pytest.raises(InvalidDependency):
        Job("a", depends_on=("x",), group="g")


async def test_a_missing_dependency_raises_and_writes_nothing(broker: Broker) -> None:
    async with Client(broker) as client:
        with pytest.raises(DependencyNotFound) as raised:
            await client.enqueue("b", job_id="b", depends_on=["nobody"])
        assert raised.value.missing == "nobody"
        with pytest.raises(JobNotFound):
            await broker.job_info("default", "b", 0.0)


async def test_a_refused_flow_writes_nothing(broker: Broker) -> None:
    async with Client(broker) as client:
        await client.enqueue("taken", job_id="taken")
        with pytest.raises(FlowRejected) as raised:
            await client.enqueue_flow(chain(Job("a", job_id="a"), Job("b", job_id="taken")))
        assert raised.value.job_id == "taken"
        with pytest.raises(JobNotFound):
            await broker.job_info("default", "a", 0.0)


async def test_a_chain_and_a_fan_in_run_in_order_with_their_results(broker: Broker) -> None:
    order: list[str] = []
    fan_in: dict[str, object] = {}
    worker = Worker(broker, concurrency=4)

    @worker.handler("step")
    async def step(delivery: Delivery) -> int:
        value = delivery.decode(dict)
        order.append(f"step{value['n']}")
        return int(value["n"]) + int(value.get("previous") or 0)

    @worker.handler("square")
    async def square(delivery: Delivery) -> int:
        n = delivery.decode(int)
        return n * n

    @worker.handler("sum")
    async def total(delivery: Delivery) -> None:
        fan_in.update(await delivery.dependency_results())

    async with Client(broker) as client:
        links = chain(*(Job.create("step", {"n": n}, retention=60) for n in (1, 2, 3)), pass_result=True)
        members = [Job.create("square", n) for n in range(5)]
        flow = [*links, *group(members, then=Job.create("sum", job_id="sum"))]
        infos = await client.enqueue_flow(flow)
        assert [info.state for info in infos[:3]] == [JobState.PENDING, JobState.WAITING, JobState.WAITING]
        async with running(worker):
            await wait_until(lambda: len(fan_in) == 5 and len(order) == 3, "the chain and the fan-in")
            last = links[-1].job_id
            assert last is not None
            await wait_until(lambda: broker_state(broker, last, JobState.COMPLETED), "the last link completed")
    assert order == ["step1", "step2", "step3"]
    assert sorted(fan_in.values()) == [0, 1, 4, 9, 16]
    assert await broker.job_result("default", last) == b"6"  # 1, then 2 + 1, then 3 + 3


async def broker_state(broker: Broker, job_id: str, state: JobState) -> bool:
    return (await broker.job_info("default", job_id, 0.0)).state is state


async def test_the_manager_releases_by_hand_and_cancels_a_flow(broker: Broker) -> None:
    async with Client(broker) as client, Manager(broker) as manager:
        await client.enqueue_flow(chain(Job("a", job_id="a"), Job("b", job_id="b"), Job("c", job_id="c")))
        await client.enqueue_flow([Job("d", job_id="d", depends_on=("a",), on_dependency_failure="wait")])
        assert await manager.dependents("default", "a") == ["b", "d"]
        with pytest.raises(OperationNotAllowed):
            await manager.release("default", "a")  # pending, not waiting
        await manager.release("default", "d")
        assert (await manager.job_info("default", "d")).state is JobState.PENDING
        assert await manager.cancel_flow("default", "a") == ["c", "b", "a"]
        states = [(await manager.job_info("default", job_id)).state for job_id in "abc"]
        assert states == [JobState.ARCHIVED] * 3


async def test_a_callback_enqueued_after_thousands_of_completed_dependencies_gets_every_result(broker: Broker) -> None:
    """More results to copy at enqueue than one Lua unpack() can pass."""
    members = [Job("m", job_id=f"m{i}", retention=600) for i in range(5000)]
    async with Client(broker) as client:
        await client.enqueue_many(members)
        done = 0
        while done < len(members):
            leases = await broker.dequeue(["default"], 1.0, 60.0, "w", 1000)
            await broker.settle([Settlement.complete(lease, b"1") for lease in leases], 1.0)
            done += len(leases)
        info = await client.enqueue("callback", depends_on=[m.job_id for m in members])
        assert info.state is JobState.PENDING
    assert len(await broker.dependency_results("default", info.id)) == 5000


#: more waiting jobs than one batch of a Redis bulk script (500)
BEYOND_A_BATCH = 620


def _long_chain(policy: str) -> list[Job]:
    """A pending root and BEYOND_A_BATCH links waiting behind it, IDs in chain order
    (one enqueue_flow call: equal times, so the waiting set orders them by ID)."""
    jobs = [Job("root", job_id="root")]
    for n in range(BEYOND_A_BATCH):
        jobs.append(Job("link", job_id=f"link{n:04d}", depends_on=(jobs[-1].job_id or "",),
                        on_dependency_failure=policy))  # fmt: skip
    return jobs


async def test_archive_all_waiting_archives_every_one_beyond_a_batch(broker: Broker) -> None:
    """Policy run: archiving a link releases the next; on Redis the link just past a
    batch of 500 went pending (and would have run) instead of being archived."""
    async with Client(broker) as client:
        await client.enqueue_flow(_long_chain("run"))
    async with Manager(broker) as manager:
        assert await manager.archive_all("default", JobState.WAITING) == BEYOND_A_BATCH
        stats = await manager.queue_info("default")
    assert (stats.archived, stats.waiting, stats.pending) == (BEYOND_A_BATCH, 0, 1)


async def test_delete_all_waiting_deletes_every_one_beyond_a_batch(broker: Broker) -> None:
    """Policy cancel: deleting a link cancels the rest of the chain; on Redis the links
    past the first batch were left archived as cancelled instead of deleted."""
    async with Client(broker) as client:
        await client.enqueue_flow(_long_chain("cancel"))
    async with Manager(broker) as manager:
        assert await manager.delete_all("default", JobState.WAITING) == BEYOND_A_BATCH
        stats = await manager.queue_info("default")
    assert (stats.archived, stats.waiting, stats.pending) == (0, 0, 1)
