"""A real worker process: SIGKILL (its jobs are recovered by a survivor within lease + one
sweep) and SIGTERM / SIGINT (graceful stop: drain, then requeue at the head).

The child is ``tests/worker_process.py``; it talks to the throwaway Redis of the session.
Times that matter (leases, sweeps) run on ManualClocks; the signal tests use the system
clock only for the drain, and assert on outcomes, never on durations.
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from anyio.streams.text import TextReceiveStream

from queue_core import (
    Broker,
    Client,
    Delivery,
    Job,
    JobNotFound,
    JobState,
    ManualClock,
    SystemClock,
    Worker,
    chain,
    open_broker,
)
from tests.worker_kit import CountingBroker, HookRecorder, running, wait_until

ROOT = Path(__file__).resolve().parent.parent
NOW = 1_750_000_000.0  # the child's ManualClock starts here too
PATIENCE = 30.0

pytestmark = pytest.mark.redis


class Child:
    """A worker process and the lines it printed."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        assert process.stdout is not None
        self._lines = TextReceiveStream(process.stdout)
        self._buffer = ""

    async def line(self) -> str:
        with anyio.fail_after(PATIENCE):
            while "\n" not in self._buffer:
                self._buffer += await self._lines.receive()
        line, self._buffer = self._buffer.split("\n", 1)
        return line

    async def expect(self, text: str) -> None:
        seen = await self.line()
        assert seen == text, f"the worker process printed {seen!r}, expected {text!r}"

    async def exit_code(self) -> int:
        with anyio.fail_after(PATIENCE):
            return await self.process.wait()


@asynccontextmanager
async def child(url: str, prefix: str, mode: str, backend: str, **options: Any) -> AsyncIterator[Child]:
    command = [sys.executable, "-m", "tests.worker_process", url, prefix, mode, backend, json.dumps(options)]
    process = await anyio.open_process(command, cwd=ROOT)
    async with process:
        try:
            yield Child(process)
        finally:
            if process.returncode is None:
                process.kill()
                with anyio.CancelScope(shield=True):
                    await process.wait()


@pytest.fixture
async def shared(redis_url: str) -> AsyncIterator[tuple[Broker, str]]:
    prefix = f"proc{secrets.token_hex(5)}"
    broker = await open_broker(redis_url, prefix=prefix)
    try:
        yield broker, prefix
    finally:
        await broker.close()


async def test_a_killed_workers_job_is_recovered_by_a_survivor_within_lease_plus_one_sweep(
    redis_url: str, shared: tuple[Broker, str], hooks: HookRecorder, anyio_backend: str
) -> None:
    broker, prefix = shared
    lease, sweep = 6.0, 4.0
    clock = ManualClock(NOW)
    async with Client(broker, clock=clock) as client:
        job_id = (await client.enqueue("work", None, max_retries=3)).job_id

    async with child(redis_url, prefix, "hold", anyio_backend, lease_for=lease) as doomed:
        await doomed.expect(f"started {job_id}")
        doomed.process.send_signal(signal.SIGKILL)
        assert await doomed.exit_code() == -signal.SIGKILL
    job = await broker.job_info("default", job_id, clock.now())
    assert job.state is JobState.ACTIVE and job.lease_expires_at == pytest.approx(NOW + lease)

    counting = CountingBroker(broker)
    survivor = Worker(counting, clock=clock, lease_for=lease, sweep_interval=sweep, id="survivor")
    ran: list[int] = []

    @survivor.handler("work")
    async def work(delivery: Delivery) -> str:
        ran.append(delivery.attempt)
        return "recovered"

    async with running(survivor):
        await wait_until(lambda: counting.done["recover_expired"] >= 1)
        clock.advance(lease - 0.001)  # the dead worker's lease has not quite run out
        await wait_until(lambda: counting.done["recover_expired"] >= 2)
        assert (await broker.job_info("default", job_id, clock.now())).state is JobState.ACTIVE
        clock.set(NOW + lease + sweep)
        await hooks.wait_for("succeeded", job_id=job_id)
    assert ran == [1]  # a crash is not a failed attempt
    assert not await broker.list_jobs("default", JobState.ACTIVE, 1, 10, clock.now())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_stops_the_worker_and_its_unfinished_job_goes_back_to_the_head(
    redis_url: str, shared: tuple[Broker, str], anyio_backend: str, signum: signal.Signals
) -> None:
    broker, prefix = shared
    clock = SystemClock()  # the child runs on the system clock
    async with Client(broker, clock=clock) as client:
        stuck = (await client.enqueue("work", None)).job_id
        queued = (await client.enqueue("work", 0, delay=3600)).job_id  # keeps the worker at one job
    async with child(redis_url, prefix, "signals", anyio_backend, shutdown_timeout=0.2) as worker:
        await worker.expect(f"started {stuck}")
        worker.process.send_signal(signum)
        await worker.expect("stopping")
        assert await worker.exit_code() == 0
    job = await broker.job_info("default", stuck, clock.now())
    assert (job.state, job.retried, job.crashes, job.last_error) == (JobState.PENDING, 0, 0, None)
    assert (await broker.job_info("default", queued, clock.now())).state is JobState.SCHEDULED
    assert not await broker.list_heartbeats("worker", clock.now())  # removed on the way out


async def test_a_job_that_finishes_within_the_shutdown_timeout_completes(
    redis_url: str, shared: tuple[Broker, str], anyio_backend: str
) -> None:
    broker, prefix = shared
    clock = SystemClock()  # the child runs on the system clock
    async with Client(broker, clock=clock) as client:
        job_id = (await client.enqueue("work", 0.3, retention=3600)).job_id
    async with child(redis_url, prefix, "signals", anyio_backend, shutdown_timeout=60) as worker:
        await worker.expect(f"started {job_id}")
        worker.process.send_signal(signal.SIGTERM)
        await worker.expect("stopping")
        assert await worker.exit_code() == 0
    assert (await broker.job_info("default", job_id, clock.now())).state is JobState.COMPLETED
    assert await broker.job_result("default", job_id) == b'"done"'


async def test_a_second_signal_interrupts_running_jobs_at_once(
    redis_url: str, shared: tuple[Broker, str], anyio_backend: str
) -> None:
    broker, prefix = shared
    clock = SystemClock()  # the child runs on the system clock
    async with Client(broker, clock=clock) as client:
        job_id = (await client.enqueue("work", None)).job_id
    # A shutdown timeout longer than the test's patience: only the second signal ends it.
    async with child(redis_url, prefix, "signals", anyio_backend, shutdown_timeout=3600) as worker:
        await worker.expect(f"started {job_id}")
        worker.process.send_signal(signal.SIGTERM)
        await worker.expect("stopping")
        worker.process.send_signal(signal.SIGTERM)
        assert await worker.exit_code() == 0
    job = await broker.job_info("default", job_id, clock.now())
    assert (job.state, job.retried) == (JobState.PENDING, 0)


async def test_a_worker_killed_inside_a_chain_link_neither_loses_nor_releases_early_the_next(
    redis_url: str, shared: tuple[Broker, str], anyio_backend: str
) -> None:
    """SIGKILL while the first link of a chain runs: the second link stays waiting (the
    dependency did not complete), and once a survivor recovers and completes the first,
    the second is released in that same step and runs exactly once, after it."""
    broker, prefix = shared
    lease, sweep = 6.0, 4.0
    clock = ManualClock(NOW)
    first, second = chain(Job.create("work", None, max_retries=3), Job.create("next", {"n": 1}), pass_result=True)
    async with Client(broker, clock=clock) as client:
        await client.enqueue_flow([first, second])
    assert first.job_id is not None and second.job_id is not None

    async with child(redis_url, prefix, "hold", anyio_backend, lease_for=lease) as doomed:
        await doomed.expect(f"started {first.job_id}")
        doomed.process.send_signal(signal.SIGKILL)
        assert await doomed.exit_code() == -signal.SIGKILL
    assert (await broker.job_info("default", second.job_id, clock.now())).state is JobState.WAITING

    counting = CountingBroker(broker)
    survivor = Worker(counting, clock=clock, lease_for=lease, sweep_interval=sweep, id="survivor")
    order: list[str] = []

    @survivor.handler("work")
    async def work(delivery: Delivery) -> str:
        order.append("work")
        return "from the first link"

    @survivor.handler("next")
    async def after(delivery: Delivery) -> None:
        order.append(f"next got {delivery.decode(dict)['previous']!r}")

    async with running(survivor):
        await wait_until(lambda: counting.done["recover_expired"] >= 1)
        assert (await broker.job_info("default", second.job_id, clock.now())).state is JobState.WAITING
        clock.set(NOW + lease + sweep)
        await wait_until(lambda: len(order) == 2, "both links ran")
    assert order == ["work", "next got 'from the first link'"]
    with pytest.raises(JobNotFound):  # completed without retention: gone, run once
        await broker.job_info("default", second.job_id, clock.now())
