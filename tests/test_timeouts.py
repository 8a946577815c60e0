"""Timeouts and deadlines: the earliest of handler timeout, job timeout and job deadline ends
an attempt, on the worker's clock; a deadline already passed at dequeue archives the job."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from queue_core import Broker, Delivery, JobRecord, JobState, JobTimeout
from queue_core.job import DEFAULT_TIMEOUT
from queue_core.worker._deadlines import attempt_deadline, utc
from tests.worker_kit import (
    NOW,
    HookRecorder,
    enqueue,
    info,
    make_worker,
    manual_clock,
    running,
    settle_down,
    state_is,
    wait_until,
)


def record(**fields: Any) -> JobRecord:
    return JobRecord(id="j", type="t", queue="q", payload=b"null", max_retries=3, **fields)


@pytest.mark.parametrize(
    ("handler", "job", "expected"),
    [
        (None, {}, (NOW + DEFAULT_TIMEOUT, "default timeout 1800s")),
        (5.0, {}, (NOW + 5, "handler timeout 5s")),
        (None, {"timeout": 7.0}, (NOW + 7, "job timeout 7s")),
        (5.0, {"timeout": 7.0}, (NOW + 5, "handler timeout 5s")),
        (9.0, {"timeout": 7.0}, (NOW + 7, "job timeout 7s")),
        (9.0, {"timeout": 7.0, "deadline": NOW + 3}, (NOW + 3, f"job deadline {utc(NOW + 3)}")),
        (None, {"deadline": NOW + 3600}, (NOW + 3600, f"job deadline {utc(NOW + 3600)}")),  # no 30-min cap
    ],
)
def test_the_earliest_limit_wins(handler: float | None, job: dict[str, Any], expected: tuple[float, str]) -> None:
    deadline = attempt_deadline(record(**job), NOW, handler)
    assert (deadline.at, deadline.limit) == expected


def hanging(started: list[str]) -> Any:
    async def handler(delivery: Delivery) -> None:
        started.append(delivery.id)
        await anyio.sleep_forever()

    return handler


@pytest.mark.parametrize(
    ("handler_timeout", "job_options", "ends_after", "limit"),
    [
        (5.0, {"timeout": 10}, 5.0, "handler timeout 5s"),
        (20.0, {"timeout": 10}, 10.0, "job timeout 10s"),
        (5.0, {"timeout": 10, "deadline": NOW + 3}, 3.0, f"job deadline {utc(NOW + 3)}"),
        (None, {}, DEFAULT_TIMEOUT, "default timeout 1800s"),
    ],
    ids=["handler", "job", "deadline", "default"],
)
async def test_an_attempt_ends_at_its_earliest_limit_and_fails(
    broker: Broker, hooks: HookRecorder, handler_timeout: float | None, job_options: dict[str, Any],
    ends_after: float, limit: str,
) -> None:  # fmt: skip
    clock = manual_clock()
    worker = make_worker(broker, clock)
    started: list[str] = []
    worker.register("slow", hanging(started), timeout=handler_timeout)
    job_id = await enqueue(broker, clock, "slow", **job_options)
    async with running(worker):
        await hooks.wait_for("started", job_id=job_id)
        clock.advance(ends_after - 0.01)
        await settle_down()
        assert not hooks.of("failed")
        clock.advance(0.01)
        (failed,) = await hooks.wait_for("failed", job_id=job_id)
    assert isinstance(failed["error"], JobTimeout) and failed["error"].limit == limit
    job = await info(broker, clock, job_id)
    assert job.last_error == f"JobTimeout: attempt ran past its {limit}"
    assert job.last_failed_at == pytest.approx(NOW + ends_after)
    assert job.state in (JobState.RETRY, JobState.ARCHIVED)  # ARCHIVED: the deadline case


async def test_a_plain_handler_that_times_out_is_abandoned_and_the_attempt_fails(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    release = threading.Event()
    worker.register("stuck", lambda d: release.wait(10), timeout=2)
    job_id = await enqueue(broker, clock, "stuck")
    try:
        async with running(worker):
            await hooks.wait_for("started", job_id=job_id)
            clock.advance(2)
            (failed,) = await hooks.wait_for("failed", job_id=job_id)
            await wait_until(lambda: state_is(broker, clock, job_id, JobState.RETRY))
    finally:
        release.set()
    assert isinstance(failed["error"], JobTimeout)


async def test_a_job_past_its_deadline_at_dequeue_is_archived_without_running(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    started: list[str] = []
    worker.register("late", hanging(started))
    job_id = await enqueue(broker, clock, "late", deadline=NOW + 5)
    on_time = await enqueue(broker, clock, "late", deadline=NOW + 60)
    clock.advance(5)
    async with running(worker):
        await hooks.wait_for("started", job_id=on_time)
        await wait_until(lambda: state_is(broker, clock, job_id, JobState.ARCHIVED))
    assert started == [on_time]
    job = await info(broker, clock, job_id)
    assert (job.last_error, job.last_failed_at, job.retried) == ("deadline exceeded before start", NOW + 5, 0)
