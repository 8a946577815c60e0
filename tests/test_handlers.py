"""Handlers: registration rules, plain functions on threads, handler options, unknown types."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from queue_core import Broker, Delivery, JobState
from queue_core.errors import HandlerAlreadyRegistered, InvalidWorkerOption, WorkerAlreadyStarted
from queue_core.worker._runner import UNKNOWN_TYPE_DELAY
from tests.worker_kit import (
    NOW,
    HookRecorder,
    enqueue,
    info,
    lambda_async,
    make_worker,
    manual_clock,
    running,
    state_is,
    wait_until,
)

# --------------------------------------------------------------------------- registration


def test_the_decorator_registers_and_returns_the_function_unchanged() -> None:
    worker = make_worker(None, manual_clock())

    @worker.handler("a", timeout=5)
    async def handle(delivery: Delivery) -> None: ...

    spec = worker.handlers.get("a")
    assert spec is not None and spec.fn is handle and spec.timeout == 5.0 and spec.is_async
    assert worker.handlers.types() == ["a"]


def test_a_type_registered_twice_is_rejected_also_through_a_group() -> None:
    worker = make_worker(None, manual_clock())
    worker.register("a", lambda_async(lambda d: None))
    with pytest.raises(HandlerAlreadyRegistered, match="'a'"):
        worker.group("g").register("a", lambda_async(lambda d: None))


def test_a_handler_queue_must_be_one_the_worker_consumes() -> None:
    worker = make_worker(None, manual_clock(), queues=["default", "mail"])
    worker.register("send", lambda_async(lambda d: None), queue="mail")
    with pytest.raises(InvalidWorkerOption) as caught:
        worker.register("report", lambda_async(lambda d: None), queue="reports")
    assert caught.value.field == "queue"
    assert "'reports'" in str(caught.value) and "'default', 'mail'" in str(caught.value)


@pytest.mark.parametrize(
    ("options", "field"),
    [({"timeout": 0}, "timeout"), ({"timeout": -1}, "timeout"), ({"retry_delay": 3}, "retry_delay"),
     ({"queue": "bad name!"}, "queue")],
)  # fmt: skip
def test_bad_handler_options_are_rejected_naming_them(options: dict[str, Any], field: str) -> None:
    worker = make_worker(None, manual_clock())
    with pytest.raises(Exception) as caught:
        worker.register("t", lambda_async(lambda d: None), **options)
    assert getattr(caught.value, "field", None) == field


async def test_registering_after_run_started_is_rejected_with_a_clear_error(broker: Broker) -> None:
    worker = make_worker(broker, manual_clock())
    worker.stop()
    await worker.run()
    with pytest.raises(WorkerAlreadyStarted, match=r"cannot register a handler for 'late'.*before run\(\)"):
        worker.register("late", lambda_async(lambda d: None))


# --------------------------------------------------------------------------- plain functions


async def test_plain_handlers_run_on_at_most_threads_worker_threads(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, concurrency=4, threads=2)
    release = threading.Event()
    lock = threading.Lock()
    inside = [0]
    most = [0]

    def blocking(delivery: Delivery) -> None:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        release.wait(10)
        with lock:
            inside[0] -= 1

    worker.register("block", blocking)
    for _ in range(4):
        await enqueue(broker, clock, "block")
    async with running(worker):
        await hooks.wait_for("started", 4)  # four attempts are running ...
        await wait_until(lambda: most[0] >= 2)
        with anyio.move_on_after(0.2):  # ... but only two threads ever get in
            await wait_until(lambda: most[0] > 2)
        release.set()
        await hooks.wait_for("succeeded", 4)
    assert most[0] == 2


async def test_a_plain_handler_writes_its_result_through_the_blocking_call(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)

    def report(delivery: Delivery) -> None:
        delivery.progress(1, 2)
        delivery.write_result_blocking({"rows": 12})

    worker.register("report", report)
    job_id = await enqueue(broker, clock, "report", retention=60)
    async with running(worker):
        await hooks.wait_for("succeeded", job_id=job_id)
    assert worker.serializer.loads(await broker.job_result("default", job_id)) == {"rows": 12}


async def test_progress_reaches_the_hook(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)

    @worker.handler("resize")
    async def resize(delivery: Delivery) -> None:
        for done in (1, 2, 3):
            delivery.progress(done, 3, f"image {done}")

    job_id = await enqueue(broker, clock, "resize")
    async with running(worker):
        await hooks.wait_for("succeeded", job_id=job_id)
    assert [(p["done"], p["total"], p["message"]) for p in hooks.of("progress", job_id=job_id)] == [
        (1, 3, "image 1"), (2, 3, "image 2"), (3, 3, "image 3"),
    ]  # fmt: skip


# --------------------------------------------------------------------------- unknown types and queues


async def test_an_unknown_type_goes_back_without_a_retry_then_is_archived_after_the_grace(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, unknown_type_grace=2 * UNKNOWN_TYPE_DELAY)
    worker.register("known", lambda_async(lambda d: None))
    job_id = await enqueue(broker, clock, "report.v2")
    async with running(worker):
        for bounce in (1, 2):
            await hooks.wait_for("retrying", bounce, job_id=job_id)
            await wait_until(lambda: state_is(broker, clock, job_id, JobState.RETRY))
            job = await info(broker, clock, job_id)
            assert (job.retried, job.bounces) == (0, bounce)
            assert job.next_process_at == pytest.approx(clock.now() + UNKNOWN_TYPE_DELAY)
            assert "no handler registered for job type 'report.v2'" in (job.last_error or "")
            assert job.last_failed_at == clock.now()
            clock.advance(UNKNOWN_TYPE_DELAY)
        (archived,) = await hooks.wait_for("archived", job_id=job_id)
    assert not hooks.of("started") and not hooks.of("failed")
    assert all(not r["counts_as_failure"] for r in hooks.of("retrying", job_id=job_id))
    assert "no handler registered for job type 'report.v2' (this worker handles: 'known')" in archived["reason"]
    assert "no worker took it within 30s" in archived["reason"]
    job = await info(broker, clock, job_id)
    assert (job.state, job.retried) == (JobState.ARCHIVED, 0)


async def test_a_newer_worker_in_a_rolling_deploy_runs_a_job_the_old_one_put_back(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    old = make_worker(broker, clock, id="v1")
    old.register("report.v1", lambda_async(lambda d: None))
    job_id = await enqueue(broker, clock, "report.v2")
    async with running(old):
        await hooks.wait_for("retrying", job_id=job_id)
        await wait_until(lambda: state_is(broker, clock, job_id, JobState.RETRY))
    new = make_worker(broker, clock, id="v2")
    attempts: list[int] = []
    new.register("report.v2", lambda_async(lambda d: attempts.append(d.attempt)))
    async with running(new):
        clock.advance(UNKNOWN_TYPE_DELAY)
        await hooks.wait_for("succeeded", job_id=job_id)
    assert attempts == [1]  # the bounce used no retry


async def test_a_handler_bound_to_a_queue_does_not_take_the_type_from_another_queue(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, queues=["default", "mail"], unknown_type_grace=0)
    worker.register("send", lambda_async(lambda d: d.queue), queue="mail")
    right = await enqueue(broker, clock, "send", queue="mail")
    wrong = await enqueue(broker, clock, "send")
    async with running(worker):
        await hooks.wait_for("succeeded", job_id=right)
        (archived,) = await hooks.wait_for("archived", job_id=wrong)
    assert "serves queue 'mail' only" in archived["reason"]


async def test_an_attempt_without_any_limit_gets_the_default_thirty_minutes(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    deadlines: list[float | None] = []
    worker.register("t", lambda_async(lambda d: deadlines.append(d.deadline)))
    job_id = await enqueue(broker, clock, "t")
    async with running(worker):
        await hooks.wait_for("succeeded", job_id=job_id)
    assert deadlines == [NOW + 30 * 60]
