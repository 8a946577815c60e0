"""Middleware: worker, group and handler levels, composed once at start, in a fixed order."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from queue_core import Broker, CallNext, Delivery, JobState, SkipRetry
from queue_core.errors import InvalidWorkerOption, WorkerAlreadyStarted
from queue_core.worker.middleware import compose
from tests.worker_kit import (
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


def tracing(name: str, trail: list[str]) -> Any:
    async def middleware(delivery: Delivery, call_next: CallNext) -> Any:
        trail.append(f"{name}>")
        try:
            return await call_next(delivery)
        finally:
            trail.append(f"<{name}")

    middleware.__name__ = name
    return middleware


async def test_compose_runs_the_first_middleware_outermost() -> None:
    trail: list[str] = []

    async def endpoint(delivery: Any) -> str:
        trail.append("handler")
        return "done"

    chain = compose([tracing("a", trail), tracing("b", trail)], endpoint)
    assert await chain(None) == "done"  # type: ignore[arg-type]
    assert trail == ["a>", "b>", "handler", "<b", "<a"]


async def test_worker_then_group_then_handler_middleware_first_added_outermost(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    trail: list[str] = []
    worker.use(tracing("w1", trail), tracing("w2", trail))
    billing = worker.group("billing")
    billing.use(tracing("g1", trail))

    @billing.handler("charge", middleware=[tracing("h1", trail), tracing("h2", trail)])
    async def charge(delivery: Delivery) -> None:
        trail.append("handler")

    billing.use(tracing("g2", trail))  # after registration, before run: still applies
    worker.register("plain", lambda_async(lambda d: trail.append("plain")))
    charged = await enqueue(broker, clock, "charge")
    async with running(worker):
        await hooks.wait_for("succeeded", job_id=charged)
        plain = await enqueue(broker, clock, "plain")
        await hooks.wait_for("succeeded", job_id=plain)
    assert trail == [
        "w1>", "w2>", "g1>", "g2>", "h1>", "h2>", "handler", "<h2", "<h1", "<g2", "<g1", "<w2", "<w1",
        "w1>", "w2>", "plain", "<w2", "<w1",
    ]  # fmt: skip
    assert worker.group("billing") is billing


async def test_a_middleware_may_short_circuit_and_its_value_is_the_result(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    ran: list[str] = []

    async def cached(delivery: Delivery, call_next: CallNext) -> Any:
        if delivery.decode() == "known":
            return {"cached": True}
        return await call_next(delivery)

    worker.register("lookup", lambda_async(lambda d: ran.append(d.id) or {"cached": False}), middleware=[cached])
    hit = await enqueue(broker, clock, "lookup", "known", retention=60)
    miss = await enqueue(broker, clock, "lookup", "other", retention=60)
    async with running(worker):
        await hooks.wait_for("succeeded", 2)
    assert ran == [miss]
    assert worker.serializer.loads(await broker.job_result("default", hit)) == {"cached": True}
    assert worker.serializer.loads(await broker.job_result("default", miss)) == {"cached": False}


async def test_a_middleware_may_turn_an_error_into_another_outcome(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)

    async def permanent(delivery: Delivery, call_next: CallNext) -> Any:
        try:
            return await call_next(delivery)
        except KeyError as exc:
            raise SkipRetry(f"bad reference {exc}") from exc

    worker.use(permanent)
    worker.register("lookup", lambda_async(lambda d: {}["missing"]))
    job_id = await enqueue(broker, clock, "lookup", max_retries=25)
    async with running(worker):
        await hooks.wait_for("archived", job_id=job_id)
    job = await info(broker, clock, job_id)
    assert (job.state, job.retried, job.last_error) == (JobState.ARCHIVED, 0, "SkipRetry: bad reference 'missing'")


async def test_a_middleware_may_time_the_attempt_on_the_workers_clock(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    timings: list[float] = []
    release = anyio.Event()

    async def timing(delivery: Delivery, call_next: CallNext) -> Any:
        started = clock.now()
        try:
            return await call_next(delivery)
        finally:
            timings.append(clock.now() - started)

    @worker.handler("work", middleware=[timing])
    async def work(delivery: Delivery) -> None:
        await release.wait()

    job_id = await enqueue(broker, clock, "work")
    async with running(worker):
        await hooks.wait_for("started", job_id=job_id)
        clock.advance(2.5)
        release.set()
        await hooks.wait_for("succeeded", job_id=job_id)
    assert timings == [2.5]


async def test_an_exception_in_a_middleware_is_a_recorded_failure(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    ran: list[str] = []

    async def broken(delivery: Delivery, call_next: CallNext) -> Any:
        raise RuntimeError("middleware bug")

    worker.use(broken)
    worker.register("work", lambda_async(lambda d: ran.append(d.id)))
    job_id = await enqueue(broker, clock, "work")
    async with running(worker):
        (failed,) = await hooks.wait_for("failed", job_id=job_id)
        await wait_until(lambda: state_is(broker, clock, job_id, JobState.RETRY))
    assert ran == []
    assert isinstance(failed["error"], RuntimeError)
    job = await info(broker, clock, job_id)
    assert (job.retried, job.last_error, job.last_failed_at) == (1, "RuntimeError: middleware bug", clock.now())


async def test_middleware_runs_around_a_plain_def_handler_too(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    trail: list[str] = []
    worker.use(tracing("w", trail))
    worker.register("sync", lambda d: trail.append("thread"))
    job_id = await enqueue(broker, clock, "sync")
    async with running(worker):
        await hooks.wait_for("succeeded", job_id=job_id)
    assert trail == ["w>", "thread", "<w"]


async def test_middleware_cannot_be_added_once_the_worker_runs(broker: Broker) -> None:
    worker = make_worker(broker, manual_clock())
    group = worker.group("g")
    worker.stop()
    await worker.run()
    with pytest.raises(WorkerAlreadyStarted, match="before run"):
        worker.use(tracing("late", []))
    with pytest.raises(WorkerAlreadyStarted, match="before run"):
        group.use(tracing("late", []))
    with pytest.raises(WorkerAlreadyStarted, match="before run"):
        worker.group("new")
    with pytest.raises(WorkerAlreadyStarted, match="before run"):
        group.register("late", lambda_async(lambda d: None))


def test_middleware_must_be_async_callables() -> None:
    worker = make_worker(None, manual_clock())
    with pytest.raises(InvalidWorkerOption, match="async"):
        worker.use(lambda delivery, call_next: None)  # type: ignore[arg-type, return-value]
    with pytest.raises(InvalidWorkerOption, match="list of middleware"):
        worker.register("t", lambda_async(lambda d: None), middleware=tracing("x", []))
