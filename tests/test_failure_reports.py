"""What a failed attempt leaves behind: one log line, its traceback stored with the job
(bounded) and logged at debug only; a result that cannot be encoded settles at once --
on both drivers and both runtimes."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from queue_core import Broker, Delivery, JobState, Manager
from queue_core.worker._runner import TRACEBACK_LIMIT
from tests.worker_kit import HookRecorder, enqueue, info, make_worker, manual_clock, running


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


async def test_a_failed_attempt_logs_one_line_and_stores_its_traceback(
    broker: Broker, hooks: HookRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the traceback went to the log at WARNING/ERROR and was not kept with the job."""
    clock = manual_clock()
    worker = make_worker(broker, clock)

    @worker.handler("boom")
    async def boom(delivery: Delivery) -> None:
        raise ValueError("the disk is full")

    job_id = await enqueue(broker, clock, "boom", max_retries=0)
    with caplog.at_level(logging.DEBUG, logger="queue_core"):
        async with running(worker):
            await hooks.wait_for("archived", job_id=job_id)
    stored = await info(broker, clock, job_id)
    assert stored.state is JobState.ARCHIVED
    assert stored.last_traceback is not None
    assert stored.last_traceback.startswith("Traceback") and "ValueError: the disk is full" in stored.last_traceback
    async with Manager(broker, clock=clock) as manager:
        assert (await manager.job_info("default", job_id)).last_traceback == stored.last_traceback
    about = [r for r in caplog.records if job_id in r.getMessage() or getattr(r, "job_id", None) == job_id]
    loud = [r for r in about if r.levelno >= logging.WARNING]
    assert len(loud) == 1, [r.getMessage() for r in loud]
    assert loud[0].exc_info is None and "the disk is full" in loud[0].getMessage()
    assert any(r.levelno == logging.DEBUG and "Traceback" in r.getMessage() for r in about)


async def test_a_stored_traceback_is_bounded(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)

    @worker.handler("long")
    async def long(delivery: Delivery) -> None:
        raise RuntimeError("x" * 50_000)

    job_id = await enqueue(broker, clock, "long", max_retries=0)
    async with running(worker):
        await hooks.wait_for("archived", job_id=job_id)
    stored = (await info(broker, clock, job_id)).last_traceback
    assert stored is not None and len(stored) <= TRACEBACK_LIMIT and stored.startswith("...")


async def test_a_result_nested_too_deeply_is_archived_at_once(broker: Broker, hooks: HookRecorder) -> None:
    """Before: RecursionError escaped the runner; the job stayed active until its lease
    ran out, ran again, and was archived as "lease expired 2 times"."""
    clock = manual_clock()
    worker = make_worker(broker, clock)

    @worker.handler("deep")
    async def deep(delivery: Delivery) -> Any:
        return nested(100_000)

    job_id = await enqueue(broker, clock, "deep", retention=60)
    async with running(worker):
        await hooks.wait_for("archived", job_id=job_id)
    stored = await info(broker, clock, job_id)
    assert stored.state is JobState.ARCHIVED and stored.crashes == 0
    assert stored.last_error is not None and "nested too deeply" in stored.last_error


async def test_write_result_nested_too_deeply_fails_the_attempt(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)

    @worker.handler("deep")
    async def deep(delivery: Delivery) -> None:
        await delivery.write_result(nested(100_000))

    job_id = await enqueue(broker, clock, "deep", retention=60)
    async with running(worker):
        await hooks.wait_for("archived", job_id=job_id)
    stored = await info(broker, clock, job_id)
    assert stored.state is JobState.ARCHIVED and "nested too deeply" in str(stored.last_error)
