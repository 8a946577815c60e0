"""Cancellation: an operator's cancel reaches the running handler through the notice, or at the
latest through the persisted flag at the next lease renewal; the job is archived as cancelled."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest

from queue_core import (
    Broker,
    BrokerError,
    Delivery,
    Job,
    JobCancelled,
    JobState,
    ManualClock,
    OperationNotAllowed,
    Settlement,
)
from queue_core.retry import fixed
from queue_core.worker._cancellation import CancelListener
from queue_core.worker._leases import InFlight, LeaseKeeper
from tests.worker_kit import (
    PATIENCE,
    CountingBroker,
    HookRecorder,
    enqueue,
    info,
    make_worker,
    manual_clock,
    raising,
    running,
    settle_down,
    state_is,
    wait_until,
)


class DeafBroker(CountingBroker):
    """A broker whose cancel notices never arrive (a dropped subscription)."""

    async def wait_for_cancel(self, timeout: float) -> list[str]:
        await anyio.sleep_forever()
        return []


async def cancel_by_notice(broker: Broker, clock: ManualClock, hooks: HookRecorder, job_id: str) -> dict[str, Any]:
    """Cancel a running job with the clock frozen, so only the notice can act, and wait for it
    to be archived. The notice is sent again until then: one sent before the worker's cancel
    subscription is live is lost (Redis pub/sub keeps nothing), as in production, where the
    next lease renewal makes up for it."""
    with anyio.fail_after(PATIENCE):
        while not hooks.of("archived", job_id=job_id):
            try:
                assert await broker.request_cancel("default", job_id, clock.now()) is JobState.ACTIVE
            except OperationNotAllowed:  # archived meanwhile
                break
            with anyio.move_on_after(0.2):
                await hooks.wait_for("archived", job_id=job_id)
    (archived,) = hooks.of("archived", job_id=job_id)
    return archived


def stoppable(stopped: anyio.Event) -> Any:
    async def handler(delivery: Delivery) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            stopped.set()

    return handler


async def test_a_cancel_notice_stops_the_handler_at_once(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()  # never advanced: no lease renewal happens, only the notice can act
    errors: list[BaseException] = []
    worker = make_worker(broker, clock, lease_for=30, error_handler=lambda error, delivery: errors.append(error))
    stopped = anyio.Event()
    worker.register("long", stoppable(stopped))
    job_id = await enqueue(broker, clock, "long", max_retries=25)
    async with running(worker):
        await hooks.wait_for("started", job_id=job_id)
        archived = await cancel_by_notice(broker, clock, hooks, job_id)
    assert stopped.is_set()
    assert archived["reason"] == "cancelled"
    job = await info(broker, clock, job_id)
    assert (job.state, job.retried, job.last_error) == (JobState.ARCHIVED, 0, "cancelled")
    assert [type(e) for e in errors] == [JobCancelled]
    assert not hooks.of("failed")


async def test_a_missed_notice_still_cancels_at_the_next_lease_renewal(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    deaf = DeafBroker(broker)
    worker = make_worker(deaf, clock, lease_for=30)
    stopped = anyio.Event()
    worker.register("long", stoppable(stopped))
    job_id = await enqueue(broker, clock, "long")
    async with running(worker):
        await hooks.wait_for("started", job_id=job_id)
        await broker.request_cancel("default", job_id, clock.now())
        await settle_down()
        assert not stopped.is_set()  # the notice never came
        clock.advance(10)  # lease_for / 3: the renewal reads the persisted flag
        (archived,) = await hooks.wait_for("archived", job_id=job_id)
    assert stopped.is_set() and archived["reason"] == "cancelled"


async def test_a_notice_for_a_job_of_the_same_id_in_another_queue_cancels_nothing_here(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, queues=["a", "b"])
    release = anyio.Event()

    @worker.handler("long")
    async def long(delivery: Delivery) -> None:
        await release.wait()

    running_id = await enqueue(broker, clock, "long", queue="a", job_id="same-id")
    await enqueue(broker, clock, "other", queue="b", job_id="same-id", delay=60)
    async with running(worker):
        await hooks.wait_for("started", job_id=running_id)
        # Cancelling b/same-id archives that scheduled job; a/same-id keeps running.
        assert await broker.request_cancel("b", "same-id", clock.now()) is JobState.SCHEDULED
        await settle_down()
        release.set()
        await hooks.wait_for("succeeded", job_id=running_id)
    assert not hooks.of("archived")


@pytest.mark.parametrize("state", [JobState.PENDING, JobState.SCHEDULED, JobState.RETRY])
async def test_cancelling_a_job_that_is_not_running_archives_it_and_no_worker_runs_it(
    broker: Broker, hooks: HookRecorder, state: JobState
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    ran: list[str] = []
    worker.register("flaky", raising(RuntimeError("once")), retry_delay=fixed(5))
    worker.register("job", _noting(ran))
    if state is JobState.RETRY:
        job_id = await enqueue(broker, clock, "flaky")
        async with running(worker):
            await hooks.wait_for("retrying", job_id=job_id)
            await wait_until(lambda: state_is(broker, clock, job_id, JobState.RETRY))
        worker = make_worker(broker, clock)
        worker.register("flaky", _noting(ran))
    else:
        job_id = await enqueue(broker, clock, "job", delay=5 if state is JobState.SCHEDULED else 0)
    assert await broker.request_cancel("default", job_id, clock.now()) is state
    clock.advance(5)
    async with running(worker):
        await settle_down()
    assert ran == []
    job = await info(broker, clock, job_id)
    assert (job.state, job.last_error) == (JobState.ARCHIVED, "cancelled")


def _noting(ran: list[str]) -> Any:
    async def handler(delivery: Delivery) -> None:
        ran.append(delivery.id)

    return handler


@pytest.mark.parametrize("run_all", [False, True], ids=["run_job", "run_all"])
async def test_a_cancelled_job_run_again_by_an_operator_is_not_cancelled_again(
    broker: Broker, hooks: HookRecorder, run_all: bool
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, lease_for=30)
    first_run = anyio.Event()
    runs: list[int] = []

    @worker.handler("long")
    async def long(delivery: Delivery) -> str:
        runs.append(delivery.attempt)
        if len(runs) == 1:
            first_run.set()
            await anyio.sleep_forever()
        clock.advance(10)  # a lease renewal happens during the second run
        await settle_down()
        return "second run"

    job_id = await enqueue(broker, clock, "long", retention=60)
    async with running(worker):
        await first_run.wait()
        await cancel_by_notice(broker, clock, hooks, job_id)
        if run_all:
            assert await broker.run_all("default", JobState.ARCHIVED, clock.now()) == 1
        else:
            assert await broker.run_job("default", job_id, clock.now()) is JobState.ARCHIVED
        await hooks.wait_for("succeeded", job_id=job_id)
    assert len(runs) == 2
    assert (await info(broker, clock, job_id)).state is JobState.COMPLETED


class FailingCancelWaits:
    """A broker whose cancel wait fails ``failures`` times, then waits quietly."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.done = anyio.Event()

    async def wait_for_cancel(self, timeout: float) -> list[str]:
        if self.failures:
            self.failures -= 1
            raise BrokerError("Redis error: LOADING")
        self.done.set()
        await anyio.sleep_forever()
        return []


async def test_the_cancel_listener_backs_off_jittered_and_at_most_1s(caplog: pytest.LogCaptureFixture) -> None:
    """Before: 0.5, 1, 2, 4, 8 s without jitter (a cancel after a 10 s outage took 8.3 s)."""
    broker = FailingCancelWaits(7)
    log = logging.getLogger("queue_core.test_cancel_backoff")
    caplog.set_level(logging.WARNING, logger=log.name)
    listener = CancelListener(broker, InFlight(1), None, log)  # type: ignore[arg-type]
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.run)
        with anyio.fail_after(30):
            await broker.done.wait()
        tg.cancel_scope.cancel()
    delays = [float(r.getMessage().rsplit(" ", 1)[1].rstrip("s")) for r in caplog.records]
    backoffs = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert len(delays) == 7 and max(delays) <= 1.0, delays
    assert all(b / 2 - 0.05 <= d <= b + 0.05 for d, b in zip(delays, backoffs, strict=True)), delays
    assert any(d < b - 0.05 for d, b in zip(delays[2:], backoffs[2:], strict=True)), delays  # jittered


async def test_a_renewal_that_finds_a_settled_job_gone_stops_and_reports_nothing(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: "stopping its handler, the broker no longer grants its lease" for jobs that
    had completed between the renewal's snapshot and its reply (800 lines in a large drain)."""
    clock = manual_clock()
    log = logging.getLogger("queue_core.test_renewal")
    caplog.set_level(logging.WARNING, logger=log.name)
    await broker.enqueue([Job("t").with_id(), Job("t").with_id()], clock.now())
    settling_lease, done_lease = await broker.dequeue(["default"], clock.now(), 30, "w", 2)
    inflight = InFlight(2)
    settling, done = inflight.add(settling_lease), inflight.add(done_lease)
    settling.settling = True
    await broker.settle([Settlement.complete(settling_lease), Settlement.complete(done_lease)], clock.now())
    inflight.discard(done)
    keeper = LeaseKeeper(broker, inflight, clock, 30, log)
    await keeper.renew([settling, done])
    assert (settling.stop_reason, done.stop_reason) == (None, None)
    assert not caplog.records, [r.getMessage() for r in caplog.records]
