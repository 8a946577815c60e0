"""Helpers for the Client and Worker tests: a fresh broker per test, a call-counting
broker wrapper, a hook recorder and a worker runner that never outlives its test."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio

from queue_core import (
    Broker,
    Client,
    Delivery,
    JobInfo,
    JobNotFound,
    JobState,
    ManualClock,
    Worker,
    hookimpl,
    open_broker,
)
from queue_core.plugins import plugin_manager

NOW = 1_750_000_000.0
#: a safety net against hangs only; no test asserts on how long anything took.
PATIENCE = 20.0


@asynccontextmanager
async def fresh_broker(url: str) -> AsyncIterator[Broker]:
    """A broker on ``url`` under a key prefix no other test uses."""
    broker = await open_broker(url, prefix=f"t{secrets.token_hex(5)}")
    try:
        yield broker
    finally:
        await broker.close()


class CountingBroker:
    """Wraps a broker; counts every call by method name and keeps the arguments."""

    def __init__(self, inner: Broker) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()
        #: calls that have returned (or raised), by method name.
        self.done: Counter[str] = Counter()
        self.args: dict[str, list[tuple[Any, ...]]] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            self.args.setdefault(name, []).append(args + tuple(kwargs.values()))
            try:
                return await target(*args, **kwargs)
            finally:
                self.done[name] += 1

        return call


class HookRecorder:
    """A pluggy plugin that records the worker's and client's notifications."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._changed = anyio.Event()

    def _record(self, hook: str, **kwargs: Any) -> None:
        self.events.append((hook, kwargs))
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    def of(self, hook: str, **match: Any) -> list[dict[str, Any]]:
        return [kw for name, kw in self.events if name == hook and all(kw.get(k) == v for k, v in match.items())]

    async def wait_for(self, hook: str, count: int = 1, **match: Any) -> list[dict[str, Any]]:
        """Wait until ``hook`` fired ``count`` times with arguments matching ``match``."""
        with anyio.fail_after(PATIENCE):
            while len(found := self.of(hook, **match)) < count:
                await self._changed.wait()
        return found

    @hookimpl
    def queue_core_job_enqueued(self, queue: str, job_id: str, job_type: str) -> None:
        self._record("enqueued", queue=queue, job_id=job_id, job_type=job_type)

    @hookimpl
    def queue_core_job_started(self, queue: str, job_id: str, job_type: str, attempt: int) -> None:
        self._record("started", queue=queue, job_id=job_id, job_type=job_type, attempt=attempt)

    @hookimpl
    def queue_core_job_succeeded(self, queue: str, job_id: str, job_type: str, duration: float) -> None:
        self._record("succeeded", queue=queue, job_id=job_id, job_type=job_type)

    @hookimpl
    def queue_core_job_failed(
        self, queue: str, job_id: str, job_type: str, error: BaseException, will_retry: bool
    ) -> None:
        self._record("failed", queue=queue, job_id=job_id, job_type=job_type, error=error, will_retry=will_retry)

    @hookimpl
    def queue_core_job_retrying(
        self, queue: str, job_id: str, job_type: str, retry_at: float, error: BaseException, counts_as_failure: bool
    ) -> None:
        self._record(
            "retrying", queue=queue, job_id=job_id, job_type=job_type, retry_at=retry_at, error=error,
            counts_as_failure=counts_as_failure,
        )  # fmt: skip

    @hookimpl
    def queue_core_job_progress(
        self, queue: str, job_id: str, job_type: str, done: float, total: float | None, message: str | None
    ) -> None:
        self._record("progress", queue=queue, job_id=job_id, job_type=job_type, done=done, total=total, message=message)

    @hookimpl
    def queue_core_job_archived(self, queue: str, job_id: str, job_type: str, reason: str) -> None:
        self._record("archived", queue=queue, job_id=job_id, job_type=job_type, reason=reason)

    @hookimpl
    def queue_core_worker_started(self, worker_id: str, queues: list[str]) -> None:
        self._record("worker_started", worker_id=worker_id, queues=queues)

    @hookimpl
    def queue_core_worker_stopping(self, worker_id: str) -> None:
        self._record("worker_stopping", worker_id=worker_id)


@asynccontextmanager
async def recording_hooks() -> AsyncIterator[HookRecorder]:
    recorder = HookRecorder()
    manager = plugin_manager()
    manager.register(recorder)
    try:
        yield recorder
    finally:
        manager.unregister(recorder)


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    """Run ``worker`` in the background for the body; cancel it and wait for it after."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        yield worker
        tg.cancel_scope.cancel()


async def wait_until(condition: Callable[[], Any], what: str = "condition") -> None:
    """Yield to the event loop until ``condition()`` (sync or async) is true."""
    with anyio.fail_after(PATIENCE):
        while True:
            result = condition()
            if hasattr(result, "__await__"):
                result = await result
            if result:
                return
            await anyio.sleep(0.001)


def manual_clock() -> ManualClock:
    return ManualClock(NOW)


# --------------------------------------------------------------------------- worker tests


def make_worker(broker: Any, clock: ManualClock, **options: Any) -> Worker:
    options.setdefault("sweep_interval", 3600.0)  # the tests call recovery themselves
    # A handler still running when the test ends is interrupted at once (real time would
    # otherwise pass); tests of the graceful drain set their own.
    options.setdefault("shutdown_timeout", 0.0)
    return Worker(broker, clock=clock, **options)


async def enqueue(broker: Broker, clock: ManualClock, job_type: str, payload: Any = None, **options: Any) -> str:
    async with Client(broker, clock=clock) as client:
        outcome = await client.enqueue(job_type, payload, **options)
    return outcome.job_id


async def info(broker: Broker, clock: ManualClock, job_id: str, queue: str = "default") -> JobInfo:
    return await broker.job_info(queue, job_id, clock.now())


def lambda_async(fn: Any) -> Any:
    async def handler(delivery: Delivery) -> Any:
        return fn(delivery)

    return handler


def raising(error: BaseException) -> Any:
    async def handler(delivery: Delivery) -> None:
        raise error

    return handler


async def settle_down(rounds: int = 50) -> None:
    """Let every ready task run for a while (to check that something does NOT happen)."""
    for _ in range(rounds):
        await anyio.sleep(0)


async def state_is(broker: Broker, clock: ManualClock, job_id: str, state: JobState, queue: str = "default") -> bool:
    return (await broker.job_info(queue, job_id, clock.now())).state is state


async def gone(broker: Broker, clock: ManualClock, job_id: str, queue: str = "default") -> bool:
    try:
        await broker.job_info(queue, job_id, clock.now())
    except JobNotFound:
        return True
    return False
