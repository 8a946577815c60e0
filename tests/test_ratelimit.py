"""Rate limits: local token buckets, the broker's shared bucket, and the worker applying them.

Time is a ManualClock throughout: the buckets refill as the clock moves, and the tests
count attempt starts against the clock, never against the wall.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from queue_core import Broker, Client, Job, JobState, ManualClock, RateLimit, Worker, open_broker
from queue_core.errors import InvalidQueueName, InvalidWorkerOption
from queue_core.worker.ratelimit import Limiter, TokenBucket, admit
from tests.worker_kit import (
    NOW,
    HookRecorder,
    enqueue,
    info,
    lambda_async,
    make_worker,
    manual_clock,
    running,
    wait_until,
)

# --------------------------------------------------------------------------- buckets


def test_a_bucket_gives_its_burst_then_one_token_per_interval() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.take(NOW) for _ in range(3)] == [0, 0, 0]
    assert bucket.take(NOW) == pytest.approx(0.5)  # the next token comes in 1/rate s
    assert bucket.take(NOW + 0.25) == pytest.approx(0.25)
    assert bucket.take(NOW + 0.5) == 0
    assert bucket.take(NOW + 100) == 0  # refilled, but never beyond the burst
    assert [bucket.take(NOW + 100) for _ in range(3)] == [0, 0, pytest.approx(0.5)]


def test_a_clock_going_backwards_mints_no_tokens() -> None:
    bucket = TokenBucket(rate=1.0, burst=1)
    assert bucket.take(NOW) == 0
    assert bucket.take(NOW - 50) > 0
    assert bucket.take(NOW) > 0


async def test_refusals_are_spread_one_token_apart() -> None:
    limiter = Limiter(RateLimit(4, burst=1), broker=None, scope="worker")  # type: ignore[arg-type]
    assert await limiter.take(NOW) == 0
    delays = [await limiter.take(NOW) for _ in range(4)]
    assert delays == pytest.approx([0.25, 0.5, 0.75, 1.0])  # not four jobs back at NOW + 0.25


async def test_admission_stops_at_the_first_refusal_so_later_limits_keep_their_tokens() -> None:
    worker_limit = Limiter(RateLimit(1, burst=1), broker=None, scope="worker")  # type: ignore[arg-type]
    handler_limit = Limiter(RateLimit(1, burst=1), broker=None, scope="handler")  # type: ignore[arg-type]
    assert await admit([worker_limit, handler_limit], NOW) == (0, None)
    delay, refused_by = await admit([worker_limit, handler_limit], NOW + 0.5)
    assert refused_by is worker_limit and delay == pytest.approx(0.5)
    # the handler bucket still holds the token it refilled: only the worker's was short
    assert await handler_limit.take(NOW + 1.0) == 0


@pytest.mark.parametrize(
    ("options", "field"),
    [({"rate": 0}, "rate_limit.rate"), ({"rate": float("inf")}, "rate_limit.rate"),
     ({"rate": 1, "burst": 0}, "rate_limit.burst"), ({"rate": 1, "burst": 1.5}, "rate_limit.burst")],
)  # fmt: skip
def test_bad_rate_limits_are_rejected_naming_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidWorkerOption) as caught:
        RateLimit(**options)
    assert caught.value.field == field


def test_a_shared_key_must_be_a_safe_name() -> None:
    with pytest.raises(InvalidQueueName):
        RateLimit(1, key="bad}key")


def test_a_rate_limit_option_must_be_a_rate_limit() -> None:
    with pytest.raises(InvalidWorkerOption, match="RateLimit"):
        Worker("memory://", rate_limit=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidWorkerOption, match="RateLimit"):
        Worker("memory://").register("t", lambda_async(lambda d: None), rate_limit=(1, 2))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the worker applying limits


async def quiet(broker: Broker, clock: ManualClock, queues: list[str] | None = None) -> bool:
    """Nothing pending or running, and nothing in retry is due: the workers wait for the clock."""
    for queue in queues or ["default"]:
        stats = await broker.queue_stats(queue, clock.now())
        if stats.pending or stats.active:
            return False
    due = await broker.next_due(queues or ["default"])
    return due is None or due > clock.now()


def starts_by(starts: list[float], moment: float) -> int:
    return sum(1 for t in starts if t <= moment)


async def test_a_worker_limit_holds_back_what_exceeds_it_without_using_retries(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, rate_limit=RateLimit(2, burst=2), concurrency=10)
    starts: list[float] = []
    worker.register("call", lambda_async(lambda d: starts.append(clock.now())))
    ids = [await enqueue(broker, clock, "call", retention=60) for _ in range(6)]
    async with running(worker):
        await hooks.wait_for("retrying", 4)
        await wait_until(lambda: quiet(broker, clock))
        assert starts == [NOW, NOW]  # the burst
        back_at = sorted(r["retry_at"] - NOW for r in hooks.of("retrying"))
        assert back_at == pytest.approx([0.5, 1.0, 1.5, 2.0])  # one token apart, not all at once
        assert all(not r["counts_as_failure"] for r in hooks.of("retrying"))
        for _ in range(40):
            if len(hooks.of("succeeded")) == 6:
                break
            clock.advance(0.5)
            await wait_until(lambda: quiet(broker, clock))
            assert starts_by(starts, clock.now()) <= 2 + 2 * (clock.now() - NOW)
    jobs = [await info(broker, clock, job_id) for job_id in ids]
    assert [(job.state, job.retried) for job in jobs] == [(JobState.COMPLETED, 0)] * 6, (jobs, hooks.events)
    assert sum(job.bounces for job in jobs) >= 4
    refusal = hooks.of("retrying")[0]["error"]
    assert "worker limit 2/s (burst 2)" in str(refusal)


async def test_a_handler_limit_applies_to_its_type_only(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    worker.register("sms", lambda_async(lambda d: None), rate_limit=RateLimit(1, burst=1))
    worker.register("mail", lambda_async(lambda d: None))
    sms = [await enqueue(broker, clock, "sms") for _ in range(3)]
    mail = [await enqueue(broker, clock, "mail") for _ in range(3)]
    async with running(worker):
        await hooks.wait_for("succeeded", 4)
        await wait_until(lambda: quiet(broker, clock))
    succeeded = {s["job_id"] for s in hooks.of("succeeded")}
    held = {r["job_id"] for r in hooks.of("retrying")}
    assert set(mail) < succeeded and len(succeeded & set(sms)) == 1  # one sms: the burst
    assert held == set(sms) - succeeded
    job = await info(broker, clock, held.pop())
    assert (job.state, job.retried, job.bounces) == (JobState.RETRY, 0, 1)
    assert "rate limited by the handler 'sms' limit 1/s (burst 1)" in (job.last_error or "")


async def test_a_job_the_worker_limit_refuses_takes_no_token_from_the_handler_limit(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, rate_limit=RateLimit(1, burst=1), concurrency=1)
    # The handler's bucket holds two tokens and practically never refills.
    worker.register("call", lambda_async(lambda d: None), rate_limit=RateLimit(0.0001, burst=2))
    first = await enqueue(broker, clock, "call")
    second = await enqueue(broker, clock, "call")
    async with running(worker):
        await hooks.wait_for("succeeded", job_id=first)
        (refused,) = await hooks.wait_for("retrying", job_id=second)
        assert "worker limit" in str(refused["error"])
        clock.advance(1.0)  # the worker bucket refills; the handler bucket must still hold one
        await hooks.wait_for("succeeded", job_id=second)


async def test_workers_sharing_a_key_together_respect_one_limit(broker_url: str, hooks: HookRecorder) -> None:
    clock = manual_clock()
    prefix = f"t{secrets.token_hex(5)}"
    brokers = [await open_broker(broker_url, prefix=prefix) for _ in range(3)]
    try:
        starts: list[float] = []
        workers = []
        for n, own in enumerate(brokers):
            worker = make_worker(own, clock, id=f"w{n}", concurrency=4)
            worker.register(
                "partner",
                lambda_async(lambda d: starts.append(clock.now())),
                rate_limit=RateLimit(2, burst=2, key="partner"),
            )
            workers.append(worker)
        async with Client(brokers[0], clock=clock) as client:
            await client.enqueue_many([Job.create("partner", i) for i in range(12)])
        async with running(workers[0]), running(workers[1]), running(workers[2]):
            await wait_until(lambda: quiet(brokers[0], clock))
            assert len(starts) == 2  # the shared burst, whichever workers took the jobs
            for _ in range(60):
                if len(hooks.of("succeeded")) == 12:
                    break
                clock.advance(0.5)
                await wait_until(lambda: quiet(brokers[0], clock))
                assert starts_by(starts, clock.now()) <= 2 + 2 * (clock.now() - NOW)
        assert clock.now() - NOW >= 5.0  # 10 jobs beyond the burst at 2/s
    finally:
        for own in brokers:
            await own.close()
