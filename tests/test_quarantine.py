"""A job on its last chance (its crashes reached the worker's ``max_crashes``) runs alone,
so it is archived only for a crash it caused alone, never for the poison job beside it --
on both drivers and both runtimes. The real thing (a job that kills its worker process,
under load) is F03 in tests/fault."""

from __future__ import annotations

import anyio

from queue_core import Broker, Delivery, Job, ManualClock
from tests.worker_kit import HookRecorder, make_worker, manual_clock, running


async def crashed(broker: Broker, clock: ManualClock, job_id: str, times: int, queue: str = "default") -> None:
    """Lease the job as a worker that then dies, and recover it, ``times`` times."""
    for _ in range(times):
        [lease] = await broker.dequeue([queue], clock.now(), 5, "dead-worker", 1)
        assert lease.job_id == job_id
        clock.advance(10)
        assert (await broker.recover_expired([queue], clock.now(), max_crashes=5)).requeued == [job_id]


async def test_jobs_below_their_last_chance_run_side_by_side_at_once(broker: Broker, hooks: HookRecorder) -> None:
    """A worker killed outright (a deploy, the OOM killer) leaves its jobs with one crash
    each: they run again at once, side by side (recovery stays lease + sweep)."""
    clock = manual_clock()
    jobs = [Job("work", job_id=f"orphan{i}") for i in range(4)]
    await broker.enqueue(jobs, clock.now())
    await broker.dequeue(["default"], clock.now(), 5, "dead-worker", 4)
    clock.advance(10)
    assert len((await broker.recover_expired(["default"], clock.now(), max_crashes=5)).requeued) == 4
    together = anyio.Event()
    running_now: set[str] = set()
    worker = make_worker(broker, clock, concurrency=4, max_crashes=2)

    @worker.handler("work")
    async def work(delivery: Delivery) -> None:
        running_now.add(delivery.id)
        if len(running_now) == 4:
            together.set()
        with anyio.fail_after(10):
            await together.wait()

    async with running(worker):
        await hooks.wait_for("succeeded", 4)


async def test_a_job_on_its_last_chance_runs_alone(broker: Broker, hooks: HookRecorder) -> None:
    """Before: it ran beside up to ``concurrency - 1`` others, which would all count a
    crash if it killed the worker again."""
    clock = manual_clock()
    await broker.enqueue([Job("work", b'"suspect"', job_id="suspect")], clock.now())
    await crashed(broker, clock, "suspect", 2)
    others = [Job("work", b'"ok"').with_id() for _ in range(8)]
    await broker.enqueue(others, clock.now())
    running_now: set[str] = set()
    beside_suspect: list[set[str]] = []
    worker = make_worker(broker, clock, concurrency=4, max_crashes=2)

    @worker.handler("work")
    async def work(delivery: Delivery) -> None:
        running_now.add(delivery.id)
        try:
            for _ in range(20):
                if "suspect" in running_now:
                    beside_suspect.append(set(running_now))
                await anyio.sleep(0.002)
        finally:
            running_now.discard(delivery.id)

    async with running(worker):
        await hooks.wait_for("succeeded", 9)
    assert beside_suspect and all(seen == {"suspect"} for seen in beside_suspect), beside_suspect
    assert len(hooks.of("started", job_id="suspect")) == 1


async def test_jobs_running_when_a_recovered_job_arrives_finish_before_it_starts(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    await broker.enqueue([Job("work", queue="side", job_id="suspect")], clock.now())
    await crashed(broker, clock, "suspect", 2, queue="side")
    await broker.pause("side")
    worker = make_worker(broker, clock, concurrency=3, queues=["default", "side"], max_crashes=2)
    release = anyio.Event()
    order: list[str] = []

    @worker.handler("slow")
    async def slow(delivery: Delivery) -> None:
        order.append(f"start {delivery.id}")
        await release.wait()
        order.append(f"end {delivery.id}")

    @worker.handler("work")
    async def work(delivery: Delivery) -> None:
        order.append(f"start {delivery.id}")

    await broker.enqueue([Job("slow", job_id="slow1"), Job("slow", job_id="slow2")], clock.now())
    async with running(worker):
        await hooks.wait_for("started", 2, job_type="slow")
        await broker.resume("side")
        await broker.enqueue([Job("work", queue="side", job_id="wake")], clock.now())  # notifies the worker
        await anyio.sleep(0.1)
        assert "start suspect" not in order, order  # it waits for the running jobs
        release.set()
        await hooks.wait_for("succeeded", 4)
    assert order.index("start suspect") > max(order.index("end slow1"), order.index("end slow2")), order
    assert order.index("start wake") > order.index("start suspect"), order
