"""What a worker tells operators: log records with job fields, the error handler after the
log for every failure kind, the heartbeat (WorkerInfo with a TTL), and the lifecycle hooks."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import anyio
import pytest

from queue_core import (
    Broker,
    Delivery,
    JobState,
    JobTimeout,
    RateLimit,
    RateLimited,
    Revoke,
    SkipRetry,
    TransientError,
    WorkerInfo,
    WorkerStatus,
)
from queue_core.errors import HandlerNotFound, LeaseLost
from queue_core.info import WORKER_HEARTBEAT
from tests.worker_kit import (
    NOW,
    CountingBroker,
    HookRecorder,
    enqueue,
    lambda_async,
    make_worker,
    manual_clock,
    raising,
    running,
    state_is,
    wait_until,
)


def job_records(caplog: pytest.LogCaptureFixture, job_id: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "job_id", None) == job_id]


async def test_a_failure_is_logged_with_the_jobs_id_type_queue_and_attempt(
    broker: Broker, hooks: HookRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="queue_core")
    clock = manual_clock()
    worker = make_worker(broker, clock)
    worker.register("boom", raising(ValueError("bad input")))
    job_id = await enqueue(broker, clock, "boom", queue="default")
    async with running(worker):
        await hooks.wait_for("retrying", job_id=job_id)
    (record,) = [r for r in job_records(caplog, job_id) if r.levelno == logging.WARNING]
    assert record.name == "queue_core.worker"
    assert (record.job_type, record.queue, record.attempt) == ("boom", "default", 1)  # type: ignore[attr-defined]
    # one line; the traceback is stored with the job and logged at debug only
    assert "ValueError: bad input" in record.getMessage() and record.exc_info is None


async def test_the_error_handler_sees_every_failure_kind_after_it_was_logged(
    broker: Broker, hooks: HookRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="queue_core")
    clock = manual_clock()
    seen: dict[str, tuple[type[BaseException], bool]] = {}

    def error_handler(error: BaseException, delivery: Delivery) -> None:
        already_logged = bool(job_records(caplog, delivery.id))
        seen[delivery.type] = (type(error), already_logged)

    worker = make_worker(broker, clock, error_handler=error_handler, unknown_type_grace=0, concurrency=10)
    worker.register("error", raising(RuntimeError("x")))
    worker.register("skip", raising(SkipRetry("x")))
    worker.register("transient", raising(TransientError("x")))
    worker.register("limited", raising(RateLimited(5)))
    worker.register("revoke", raising(Revoke()))
    worker.register("slow", forever, timeout=1)
    worker.register("throttled", lambda_async(lambda d: None), rate_limit=RateLimit(1, burst=1))
    kinds = ["error", "skip", "transient", "limited", "revoke", "slow", "unknown", "throttled", "throttled"]
    ids = [await enqueue(broker, clock, kind) for kind in kinds]
    async with running(worker):
        await hooks.wait_for("started", job_id=ids[kinds.index("slow")])
        clock.advance(1)
        await wait_until(lambda: len(seen) == 7)
        await wait_until(lambda: state_is(broker, clock, ids[kinds.index("slow")], JobState.RETRY))
    assert seen == {
        "error": (RuntimeError, True),
        "skip": (SkipRetry, True),
        "transient": (TransientError, True),
        "limited": (RateLimited, True),
        "slow": (JobTimeout, True),
        "unknown": (HandlerNotFound, True),
        "throttled": (RateLimited, True),  # a limiter's refusal, too
    }  # and nothing for "revoke": not a failure


async def test_an_error_handler_that_raises_is_logged_and_the_worker_carries_on(
    broker: Broker, hooks: HookRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    clock = manual_clock()

    def broken(error: BaseException, delivery: Delivery) -> None:
        raise OSError("alerting is down")

    worker = make_worker(broker, clock, error_handler=broken)
    worker.register("boom", raising(RuntimeError("x")))
    worker.register("fine", lambda_async(lambda d: None))
    failing = await enqueue(broker, clock, "boom")
    async with running(worker):
        await hooks.wait_for("retrying", job_id=failing)
        fine = await enqueue(broker, clock, "fine")
        await hooks.wait_for("succeeded", job_id=fine)
    (record,) = [r for r in caplog.records if "error_handler raised" in r.getMessage()]
    assert record.exc_info is not None and isinstance(record.exc_info[1], OSError)


async def test_the_error_handler_hears_of_a_lost_lease(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    seen: list[type[BaseException]] = []
    worker = make_worker(broker, clock, error_handler=lambda error, delivery: seen.append(type(error)))
    worker.register("long", forever)
    job_id = await enqueue(broker, clock, "long")
    async with running(worker):
        await hooks.wait_for("started", job_id=job_id)
        await broker.recover_expired(["default"], clock.now() + 31, 5)  # another worker takes it back
        clock.advance(10)  # the next renewal finds the lease lost
        await wait_until(lambda: seen)
    assert seen[0] is LeaseLost


async def test_the_heartbeat_publishes_worker_info_with_a_ttl_and_is_removed_on_stop(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    counting = CountingBroker(broker)
    worker = make_worker(counting, clock, id="w-1", queues={"high": 3, "low": 1}, concurrency=7, heartbeat_interval=5)
    release = anyio.Event()

    @worker.handler("long", timeout=60)
    async def long(delivery: Delivery) -> None:
        await release.wait()

    async def published() -> WorkerInfo | None:
        beats = await broker.list_heartbeats(WORKER_HEARTBEAT, clock.now())
        return WorkerInfo.from_json(beats["w-1"]) if "w-1" in beats else None

    async with running(worker):
        await wait_until(lambda: _status(published, WorkerStatus.RUNNING))
        beat = await published()
        assert beat is not None
        assert (beat.id, beat.host, beat.pid, beat.concurrency) == ("w-1", socket.gethostname(), os.getpid(), 7)
        assert (beat.queues, beat.strict, beat.started_at, beat.active_jobs) == ({"high": 3, "low": 1}, False, NOW, [])
        ttls = {args[4] for args in counting.args["put_heartbeat"]}
        assert ttls == {15.0}  # three intervals

        job_id = await enqueue(broker, clock, "long", queue="low")
        await hooks.wait_for("started", job_id=job_id)
        clock.advance(5)  # the next beat shows the running job
        await wait_until(lambda: _has_job(published, job_id))
        beat = await published()
        assert beat is not None
        (active,) = beat.active_jobs
        assert (active.type, active.queue, active.started_at, active.deadline) == ("long", "low", NOW, NOW + 60)
        assert beat.heartbeat_at == NOW + 5
        release.set()
    assert await published() is None


async def _status(published: Any, status: WorkerStatus) -> bool:
    beat = await published()
    return beat is not None and beat.status == status


async def _has_job(published: Any, job_id: str) -> bool:
    beat = await published()
    return beat is not None and any(job.job_id == job_id for job in beat.active_jobs)


async def test_lifecycle_hooks_of_a_retried_then_archived_job(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, id="w-hooks")
    worker.register("doomed", raising(RuntimeError("no")), retry_delay=lambda n, e: 1.0)
    job_id = await enqueue(broker, clock, "doomed", max_retries=1)
    async with running(worker):
        await hooks.wait_for("retrying", job_id=job_id)
        await wait_until(lambda: state_is(broker, clock, job_id, JobState.RETRY))
        clock.advance(1)
        await hooks.wait_for("archived", job_id=job_id)
    names = [name for name, kw in hooks.events if kw.get("job_id") == job_id or name.startswith("worker")]
    assert names == [
        "enqueued", "worker_started", "started", "failed", "retrying", "started", "failed", "archived",
        "worker_stopping",
    ]  # fmt: skip
    (retrying,) = hooks.of("retrying", job_id=job_id)
    assert retrying["counts_as_failure"] and retrying["retry_at"] == NOW + 1


async def forever(delivery: Delivery) -> None:
    await anyio.sleep_forever()
