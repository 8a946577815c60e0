"""Helpers for the scheduler tests: a fresh broker per test, a broker wrapper that counts
(and can sabotage) calls, a recorder of ``schedule_fired`` notifications and a runner
that never lets a scheduler outlive its test.

Time only moves through a ``ManualClock``; after moving it, tests wait for a count of
calls or notifications (under ``anyio.fail_after`` as a safety net), never for time.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import anyio

from queue_core import Broker, JobInfo, JobState, ManualClock, hookimpl, open_broker
from queue_core.plugins import plugin_manager
from queue_core.scheduling.scheduler import Scheduler

#: a safety net against hangs only; no test asserts on how long anything took.
PATIENCE = 20.0
#: 2025-06-15 12:00:00 UTC, a whole hour, so minute and hour ticks fall on round numbers.
T0 = datetime.fromisoformat("2025-06-15T12:00:00+00:00").timestamp()


def new_prefix() -> str:
    return f"s{secrets.token_hex(5)}"


@asynccontextmanager
async def fresh_broker(url: str, prefix: str | None = None) -> AsyncIterator[Broker]:
    """A broker on ``url`` under ``prefix`` (default: one no other test uses)."""
    broker = await open_broker(url, prefix=prefix or new_prefix())
    try:
        yield broker
    finally:
        await broker.close()


class SpyBroker:
    """Wraps a broker: counts finished calls by method name and lets a test replace a
    method (``sabotage``) to raise or hang."""

    def __init__(self, inner: Broker) -> None:
        self._inner = inner
        self.done: Counter[str] = Counter()
        self.args: dict[str, list[tuple[Any, ...]]] = {}
        self._sabotage: dict[str, Callable[..., Awaitable[Any]]] = {}
        self._changed = anyio.Event()

    def sabotage(self, name: str, replacement: Callable[..., Awaitable[Any]] | None) -> None:
        """``replacement(inner_method, *args)`` runs instead of ``name``; None restores it."""
        if replacement is None:
            self._sabotage.pop(name, None)
        else:
            self._sabotage[name] = replacement

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        async def call(*args: Any) -> Any:
            self.args.setdefault(name, []).append(args)
            try:
                replacement = self._sabotage.get(name)
                if replacement is not None:
                    return await replacement(target, *args)
                return await target(*args)
            finally:
                self.done[name] += 1
                changed, self._changed = self._changed, anyio.Event()
                changed.set()

        return call

    async def wait_for(self, name: str, count: int) -> None:
        """Until ``count`` calls of ``name`` have finished in total."""
        with anyio.fail_after(PATIENCE):
            while self.done[name] < count:
                await self._changed.wait()


class FireRecorder:
    """A pluggy plugin recording ``queue_core_schedule_fired`` calls."""

    def __init__(self) -> None:
        self.fires: list[dict[str, Any]] = []
        self._changed = anyio.Event()

    @hookimpl
    def queue_core_schedule_fired(self, schedule_id: str, fire_time: float, job_id: str | None, error: Any) -> None:
        self.fires.append({"schedule_id": schedule_id, "fire_time": fire_time, "job_id": job_id, "error": error})
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    def of(self, schedule_id: str) -> list[dict[str, Any]]:
        return [fire for fire in self.fires if fire["schedule_id"] == schedule_id]

    def times(self, schedule_id: str) -> list[float]:
        return [fire["fire_time"] for fire in self.of(schedule_id)]

    async def wait_for(self, count: int, schedule_id: str | None = None) -> list[dict[str, Any]]:
        """Until ``count`` fires (of ``schedule_id``, or of any schedule) were announced."""
        with anyio.fail_after(PATIENCE):
            while len(found := self.fires if schedule_id is None else self.of(schedule_id)) < count:
                await self._changed.wait()
        return found


@asynccontextmanager
async def recording() -> AsyncIterator[FireRecorder]:
    recorder = FireRecorder()
    manager = plugin_manager()
    manager.register(recorder)
    try:
        yield recorder
    finally:
        manager.unregister(recorder)


@asynccontextmanager
async def running(*schedulers: Scheduler) -> AsyncIterator[anyio.abc.TaskGroup]:
    """Run the schedulers (started when this enters) and cancel them when it leaves."""
    async with anyio.create_task_group() as tg:
        for scheduler in schedulers:
            await tg.start(scheduler.run)
        yield tg
        tg.cancel_scope.cancel()


async def settle() -> None:
    """Let every ready task run (the ticker after a clock move, fires it spawned...).

    Only for in-process steps; waits on the broker use ``SpyBroker.wait_for``."""
    for _ in range(20):
        await anyio.sleep(0)


async def advance(clock: ManualClock, seconds: float) -> None:
    clock.advance(seconds)
    await settle()


async def pending_jobs(broker: Broker, queue: str = "default") -> list[JobInfo]:
    try:
        return await broker.list_jobs(queue, JobState.PENDING, 1, 1000, 0.0)
    except Exception as exc:  # a queue never written to
        if type(exc).__name__ == "QueueNotFound":
            return []
        raise


async def start_crashable(tg: anyio.abc.TaskGroup, scheduler: Scheduler) -> anyio.CancelScope:
    """Start ``scheduler`` in ``tg``; cancelling the returned scope "crashes" it alone."""
    scope = anyio.CancelScope()

    async def body(*, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        with scope:
            await scheduler.run(task_status=task_status)

    await tg.start(body)
    return scope
