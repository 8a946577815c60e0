"""A job whose worker died while it ran runs alone next time, so a crash is blamed on the
job that caused it and not on the ones beside it -- on both drivers and both runtimes.
The real thing (a job that kills its worker process, under load) is F03 in tests/fault."""

from __future__ import annotations

import anyio

from queue_core import Broker, Delivery, Job
from tests.worker_kit import HookRecorder, make_worker, manual_clock, running


async def crashed_once(broker: Broker, clock: object, job_id: str) -> None:
    """Lease the job as a worker that then dies, and recover it: pending, crashes 1."""
    [lease] = await broker.dequeue(["default"], clock.now(), 5, "dead-worker", 1)  # type: ignore[attr-defined]
    assert lease.job_id == job_id
    recovery = await broker.recover_expired(["default"], clock.now() + 10, max_crashes=5)  # type: ignore[attr-defined]
    assert recovery.requeued == [job_id]


async def test_a_recovered_job_runs_alone_and_the_others_run_after_it(broker: Broker, hooks: HookRecorder) -> None:
    """Before: it ran beside up to ``concurrency - 1`` others, which would all count a
    crash if it killed the worker again."""
    clock = manual_clock()
    await broker.enqueue([Job("work", b'"suspect"', job_id="suspect")], clock.now())
    await crashed_once(broker, clock, "suspect")
    others = [Job("work", b'"ok"').with_id() for _ in range(8)]
    await broker.enqueue(others, clock.now())
    running_now: set[str] = set()
    beside_suspect: list[set[str]] = []
    worker = make_worker(broker, clock, concurrency=4)

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
    assert len(await broker.dequeue(["side"], clock.now(), 5, "dead-worker", 1)) == 1
    assert (await broker.recover_expired(["side"], clock.now() + 10, max_crashes=5)).requeued == ["suspect"]
    await broker.pause("side")
    worker = make_worker(broker, clock, concurrency=3, queues=["default", "side"])
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
