"""The Worker against real drivers (memory:// and Redis), on asyncio and trio.

Time-dependent behaviour is driven by a ManualClock: the tests advance it and wait on
the worker's own notifications (pluggy hooks) instead of sleeping.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import anyio
import pytest

from queue_core import (
    Broker,
    Client,
    Delivery,
    Job,
    JobNotFound,
    JobState,
    LeaseLost,
    RateLimited,
    Revoke,
    Settlement,
    SkipRetry,
    TransientError,
    ValidationError,
    Worker,
)
from queue_core.broker_clock import BrokerClock
from queue_core.errors import HandlerAlreadyRegistered, InvalidWorkerOption, JobTimeout, WorkerAlreadyStarted
from queue_core.retry import fixed
from queue_core.worker._leases import InFlight
from queue_core.worker._runner import Runner, RunnerSetup
from queue_core.worker._settler import Settler
from queue_core.worker.options import WorkerOptions
from tests.worker_kit import (
    NOW,
    CountingBroker,
    HookRecorder,
    enqueue,
    gone,
    info,
    lambda_async,
    make_worker,
    manual_clock,
    raising,
    running,
    settle_down,
    state_is,
    wait_until,
)

# --------------------------------------------------------------------------- processing order and results


async def test_jobs_of_one_queue_are_processed_in_fifo_order(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, concurrency=1)
    seen: list[int] = []

    @worker.handler("count")
    async def count(delivery: Delivery) -> None:
        seen.append(delivery.decode(int))

    async with Client(broker, clock=clock) as client:
        await client.enqueue_many([Job.create("count", i) for i in range(20)])
    async with running(worker):
        await hooks.wait_for("succeeded", 20, job_type="count")
    assert seen == list(range(20))


async def test_a_returned_value_is_stored_as_the_result_when_the_job_has_retention(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    worker.register("square", lambda_async(lambda d: {"square": d.decode(int) ** 2}))
    kept = await enqueue(broker, clock, "square", 7, retention=60)
    dropped = await enqueue(broker, clock, "square", 8)
    async with running(worker):
        await hooks.wait_for("succeeded", 2)
    job = await info(broker, clock, kept)
    assert job.state is JobState.COMPLETED
    assert job.has_result
    assert worker.serializer.loads(await broker.job_result("default", kept)) == {"square": 49}
    with pytest.raises(JobNotFound):
        await info(broker, clock, dropped)


async def test_a_result_written_during_the_attempt_is_kept_when_the_handler_returns_none(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)

    @worker.handler("progress")
    async def progress(delivery: Delivery) -> None:
        await delivery.write_result({"step": 3})

    job_id = await enqueue(broker, clock, "progress", retention=60)
    async with running(worker):
        await hooks.wait_for("succeeded", job_id=job_id)
    assert worker.serializer.loads(await broker.job_result("default", job_id)) == {"step": 3}


async def test_a_plain_function_handler_runs_on_a_worker_thread(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    threads: list[int] = []

    def blocking(delivery: Delivery) -> str:
        threads.append(threading.get_ident())
        return delivery.decode(str).upper()

    worker.register("shout", blocking)
    job_id = await enqueue(broker, clock, "shout", "hi", retention=60)
    async with running(worker):
        await hooks.wait_for("succeeded", job_id=job_id)
    assert threads and threads[0] != threading.get_ident()
    assert worker.serializer.loads(await broker.job_result("default", job_id)) == "HI"


async def test_the_delivery_describes_the_attempt(broker: Broker, hooks: HookRecorder) -> None:
    @dataclasses.dataclass
    class Email:
        to: str
        subject: str

    clock = manual_clock()
    worker = make_worker(broker, clock)
    deliveries: list[Delivery] = []
    decoded: list[Email] = []

    @worker.handler("email")
    async def email(delivery: Delivery) -> None:
        deliveries.append(delivery)
        decoded.append(delivery.decode(Email))

    job_id = await enqueue(
        broker, clock, "email", {"to": "a@example.com", "subject": "hi"},
        queue="default", max_retries=4, timeout=30, headers={"trace": "abc"},
    )  # fmt: skip
    async with running(worker):
        await hooks.wait_for("succeeded", job_id=job_id)
    (delivery,) = deliveries
    assert (delivery.id, delivery.type, delivery.queue) == (job_id, "email", "default")
    assert (delivery.attempt, delivery.retried, delivery.max_retries) == (1, 0, 4)
    assert delivery.headers == {"trace": "abc"}
    assert delivery.deadline == pytest.approx(NOW + 30)
    assert decoded == [Email("a@example.com", "hi")]


# --------------------------------------------------------------------------- failures and retries


async def test_a_failing_job_is_retried_at_the_policy_delay_then_succeeds(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    attempts: list[int] = []

    @worker.handler("flaky", retry_delay=fixed(5))
    async def flaky(delivery: Delivery) -> str:
        attempts.append(delivery.attempt)
        if delivery.attempt < 3:
            raise RuntimeError(f"boom {delivery.attempt}")
        return "ok"

    job_id = await enqueue(broker, clock, "flaky", retention=60)
    async with running(worker):
        await hooks.wait_for("failed", 1, job_id=job_id)
        await wait_until(lambda: state_is(broker, clock, job_id, JobState.RETRY))
        job = await info(broker, clock, job_id)
        assert (job.retried, job.next_process_at) == (1, pytest.approx(NOW + 5))
        assert job.last_error == "RuntimeError: boom 1"

        clock.advance(4.9)  # not due yet
        clock.advance(0.1)
        await hooks.wait_for("failed", 2, job_id=job_id)
        await wait_until(lambda: state_is(broker, clock, job_id, JobState.RETRY))
        clock.advance(5)
        await hooks.wait_for("succeeded", job_id=job_id)
    assert attempts == [1, 2, 3]
    assert [f["will_retry"] for f in hooks.of("failed", job_id=job_id)] == [True, True]
    job = await info(broker, clock, job_id)
    assert (job.state, job.retried) == (JobState.COMPLETED, 2)


async def test_a_retry_due_sooner_than_the_forwarder_looks_is_forwarded_on_time(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)

    @worker.handler("quick", retry_delay=fixed(0.25))
    async def quick(delivery: Delivery) -> None:
        if delivery.attempt == 1:
            raise RuntimeError("once")

    job_id = await enqueue(broker, clock, "quick")
    async with running(worker):
        await hooks.wait_for("failed", job_id=job_id)
        await wait_until(lambda: state_is(broker, clock, job_id, JobState.RETRY))
        clock.advance(0.25)  # well before the forwarder's regular look, one second on
        await hooks.wait_for("succeeded", job_id=job_id)


async def test_a_job_is_archived_with_its_last_error_once_retries_are_exhausted(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    attempts: list[int] = []

    @worker.handler("doomed", retry_delay=fixed(1))
    async def doomed(delivery: Delivery) -> None:
        attempts.append(delivery.attempt)
        raise ValueError(f"bad input on attempt {delivery.attempt}")

    job_id = await enqueue(broker, clock, "doomed", max_retries=2)
    async with running(worker):
        for done in (1, 2):
            await hooks.wait_for("failed", done, job_id=job_id)
            await wait_until(lambda: state_is(broker, clock, job_id, JobState.RETRY))
            clock.advance(1)
        (archived,) = await hooks.wait_for("archived", job_id=job_id)
    assert attempts == [1, 2, 3]
    assert [f["will_retry"] for f in hooks.of("failed", job_id=job_id)] == [True, True, False]
    job = await info(broker, clock, job_id)
    assert (job.state, job.retried) == (JobState.ARCHIVED, 2)
    assert job.last_error == "ValueError: bad input on attempt 3" == archived["reason"]


async def test_max_retries_zero_archives_on_the_first_failure(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    worker.register("once", raising(RuntimeError("no second chance")))
    job_id = await enqueue(broker, clock, "once", max_retries=0)
    async with running(worker):
        await hooks.wait_for("archived", job_id=job_id)
    job = await info(broker, clock, job_id)
    assert (job.state, job.retried, job.last_error) == (JobState.ARCHIVED, 0, "RuntimeError: no second chance")
    assert len(hooks.of("started", job_id=job_id)) == 1


async def test_skip_retry_archives_at_once_despite_retries_left(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    worker.register("invalid", raising(SkipRetry("payload can never work")))
    job_id = await enqueue(broker, clock, "invalid", max_retries=25)
    async with running(worker):
        await hooks.wait_for("archived", job_id=job_id)
    job = await info(broker, clock, job_id)
    assert (job.state, job.retried) == (JobState.ARCHIVED, 0)
    assert "payload can never work" in (job.last_error or "")


async def test_revoke_deletes_the_job_and_counts_it_processed(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    worker.register("obsolete", raising(Revoke()))
    job_id = await enqueue(broker, clock, "obsolete", retention=60)
    async with running(worker):
        await wait_until(lambda: gone(broker, clock, job_id))
    stats = await broker.queue_stats("default", clock.now())
    assert (stats.processed_total, stats.failed_total, stats.size, stats.completed) == (1, 0, 0, 0)
    assert not hooks.of("failed") and not hooks.of("archived")


@pytest.mark.parametrize(
    "signal", [RateLimited(7.0), TransientError("upstream busy", retry_after=7.0)], ids=["rate", "transient"]
)
async def test_a_transient_bounce_uses_no_retry_until_max_bounces(
    broker: Broker, hooks: HookRecorder, signal: TransientError
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, max_bounces=1)
    worker.register("busy", raising(signal), retry_delay=fixed(2))
    job_id = await enqueue(broker, clock, "busy")
    async with running(worker):
        await hooks.wait_for("failed", 1, job_id=job_id)
        await wait_until(lambda: state_is(broker, clock, job_id, JobState.RETRY))
        job = await info(broker, clock, job_id)
        assert (job.retried, job.bounces, job.next_process_at) == (0, 1, pytest.approx(NOW + 7))

        clock.advance(7)  # second bounce: the job has bounced max_bounces times, so it counts
        await hooks.wait_for("failed", 2, job_id=job_id)
        await wait_until(lambda: state_is(broker, clock, job_id, JobState.RETRY))
    job = await info(broker, clock, job_id)
    assert (job.retried, job.bounces, job.next_process_at) == (1, 1, pytest.approx(NOW + 7 + 2))


async def test_an_unknown_job_type_is_archived_with_a_clear_reason(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, unknown_type_grace=0)
    worker.register("known", lambda_async(lambda d: None))
    job_id = await enqueue(broker, clock, "mystery")
    async with running(worker):
        (archived,) = await hooks.wait_for("archived", job_id=job_id)
    assert "no handler registered for job type 'mystery'" in archived["reason"]
    assert "'known'" in archived["reason"]
    assert (await info(broker, clock, job_id)).state is JobState.ARCHIVED


async def test_a_malformed_record_is_archived_with_the_reason(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    job_id = await enqueue(broker, clock, "anything")
    (lease,) = await broker.dequeue(["default"], clock.now(), 30, "test", 1)
    damaged = dataclasses.replace(lease, record=dataclasses.replace(lease.record, malformed="bad max_retries"))
    worker = make_worker(broker, clock)
    options = WorkerOptions(serializer=worker.serializer, max_bounces=1)
    settler = Settler(broker, clock, worker.log)
    runner = Runner(options, broker, clock, InFlight(1), settler, worker.log, RunnerSetup(routes={}))
    await runner.run(runner.inflight.add(damaged))
    job = await info(broker, clock, job_id)
    assert job.state is JobState.ARCHIVED
    assert job.last_error == "malformed job record: bad max_retries"


async def test_an_attempt_past_its_timeout_fails_and_is_retried(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)

    @worker.handler("slow")
    async def slow(delivery: Delivery) -> None:
        await anyio.sleep_forever()

    job_id = await enqueue(broker, clock, "slow", timeout=10)
    async with running(worker):
        await hooks.wait_for("started", job_id=job_id)
        clock.advance(9.9)
        await settle_down()
        assert not hooks.of("failed")
        clock.advance(0.1)
        (failed,) = await hooks.wait_for("failed", job_id=job_id)
        await wait_until(lambda: state_is(broker, clock, job_id, JobState.RETRY))
    assert isinstance(failed["error"], JobTimeout) and isinstance(failed["error"], TimeoutError)
    job = await info(broker, clock, job_id)
    assert job.retried == 1
    assert job.last_error == "JobTimeout: attempt ran past its job timeout 10s"
    assert job.last_failed_at == pytest.approx(NOW + 10)


async def test_a_handler_exception_never_stops_the_worker(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, concurrency=2)
    worker.register("bad", raising(ZeroDivisionError("x")))
    worker.register("good", lambda_async(lambda d: "fine"))
    for _ in range(3):
        await enqueue(broker, clock, "bad")
    good = await enqueue(broker, clock, "good")
    async with running(worker):
        await hooks.wait_for("failed", 3, job_type="bad")
        await hooks.wait_for("succeeded", job_id=good)


# --------------------------------------------------------------------------- leases


async def test_a_lost_lease_cancels_the_handler_and_its_writes_are_refused(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, lease_for=30)
    first: list[Delivery] = []
    first_cancelled = anyio.Event()

    @worker.handler("long")
    async def long(delivery: Delivery) -> str:
        if first:
            return "second run"
        first.append(delivery)
        try:
            await anyio.sleep_forever()
        finally:
            first_cancelled.set()
        raise AssertionError("unreachable")

    job_id = await enqueue(broker, clock, "long", retention=60)
    async with running(worker):
        await hooks.wait_for("started", job_id=job_id)
        # Another worker's recoverer, judging the lease expired, takes the job back.
        recovered = await broker.recover_expired(["default"], clock.now() + 31, 5)
        assert recovered.requeued == [job_id]
        clock.advance(10)  # the lease keeper's next round learns the lease is lost
        with anyio.fail_after(20):
            await first_cancelled.wait()
        with pytest.raises(LeaseLost):
            await first[0].write_result("stale")
        assert await broker.settle([Settlement.complete(first[0].lease, b'"stale"')], clock.now()) == [False]
        await hooks.wait_for("succeeded", job_id=job_id)  # the redelivery completes it
    job = await info(broker, clock, job_id)
    assert job.state is JobState.COMPLETED
    assert worker.serializer.loads(await broker.job_result("default", job_id)) == "second run"
    assert len(hooks.of("succeeded", job_id=job_id)) == 1


async def test_running_jobs_keep_their_lease_while_the_clock_moves(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    counting = CountingBroker(broker)
    worker = make_worker(counting, clock, lease_for=30)
    release = anyio.Event()

    @worker.handler("long")
    async def long(delivery: Delivery) -> None:
        await release.wait()

    job_id = await enqueue(broker, clock, "long")
    async with running(worker):
        await hooks.wait_for("started", job_id=job_id)
        for _ in range(6):  # 60 s in steps of one renewal interval: twice the lease
            clock.advance(10)
            renewals = counting.done["extend_leases"]
            await wait_until(lambda renewals=renewals: counting.done["extend_leases"] > renewals)
        recovered = await broker.recover_expired(["default"], clock.now(), 5)
        assert recovered.requeued == [] and recovered.archived == []
        release.set()
        await hooks.wait_for("succeeded", job_id=job_id)


async def test_an_operator_cancel_stops_the_handler_and_archives_the_job(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, lease_for=30)
    stopped = anyio.Event()

    @worker.handler("long")
    async def long(delivery: Delivery) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            stopped.set()

    job_id = await enqueue(broker, clock, "long", max_retries=25)
    async with running(worker):
        await hooks.wait_for("started", job_id=job_id)
        assert await broker.request_cancel("default", job_id, clock.now()) is JobState.ACTIVE
        clock.advance(10)  # the next lease renewal reports the cancellation
        (archived,) = await hooks.wait_for("archived", job_id=job_id)
    assert stopped.is_set()
    assert archived["reason"] == "cancelled"
    job = await info(broker, clock, job_id)
    assert (job.state, job.retried) == (JobState.ARCHIVED, 0)


# --------------------------------------------------------------------------- shutdown


async def test_shutdown_requeues_an_unfinished_job_at_the_head_without_using_a_retry(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, concurrency=1, shutdown_timeout=0)
    cancelled = anyio.Event()

    @worker.handler("stuck")
    async def stuck(delivery: Delivery) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    first = await enqueue(broker, clock, "stuck")
    second = await enqueue(broker, clock, "stuck")
    async with running(worker):
        await hooks.wait_for("started", job_id=first)
    # run() has returned: nothing it started is still running
    assert cancelled.is_set()
    job = await info(broker, clock, first)
    assert job.state is JobState.PENDING
    leases = await broker.dequeue(["default"], clock.now(), 30, "probe", 2)
    assert [lease.job_id for lease in leases] == [first, second]  # back at the head
    assert leases[0].record.retried == 0
    job = await info(broker, clock, first)
    assert (job.retried, job.crashes, job.last_error) == (0, 0, None)
    assert hooks.of("worker_stopping")


async def test_shutdown_lets_running_handlers_finish_within_the_timeout(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, shutdown_timeout=60)
    release = anyio.Event()

    @worker.handler("finishing")
    async def finishing(delivery: Delivery) -> str:
        await release.wait()
        return "finished"

    job_id = await enqueue(broker, clock, "finishing", retention=60)
    worker_scope = anyio.CancelScope()

    async def run_worker() -> None:
        with worker_scope:
            await worker.run()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_worker)
        await hooks.wait_for("started", job_id=job_id)
        worker_scope.cancel()  # the caller cancels run(): shutdown begins
        await hooks.wait_for("worker_stopping")
        release.set()
    job = await info(broker, clock, job_id)
    assert job.state is JobState.COMPLETED


async def test_stop_ends_run_normally_and_new_jobs_are_not_fetched(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)

    @worker.handler("stopper")
    async def stopper(delivery: Delivery) -> None:
        worker.stop()

    job_id = await enqueue(broker, clock, "stopper")
    with anyio.fail_after(20):
        await worker.run()
    with pytest.raises(JobNotFound):  # it completed before run() returned
        await info(broker, clock, job_id)
    later = await enqueue(broker, clock, "stopper")
    assert (await info(broker, clock, later)).state is JobState.PENDING


# --------------------------------------------------------------------------- fetching


async def test_an_idle_worker_waits_for_work_instead_of_polling(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    counting = CountingBroker(broker)
    worker = make_worker(counting, clock)
    worker.register("ping", lambda_async(lambda d: "pong"))
    async with running(worker):
        await wait_until(lambda: counting.calls["wait_for_jobs"] >= 1)
        for _ in range(200):  # plenty of chances to spin, were it polling
            await anyio.sleep(0.001)
        assert counting.calls["dequeue"] <= 3
        job_id = await enqueue(broker, clock, "ping")
        await hooks.wait_for("succeeded", job_id=job_id)
    assert counting.calls["dequeue"] <= 6


@pytest.fixture
def wakeups_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """An idle wait longer than the test's patience: only a wake-up can finish the test."""
    monkeypatch.setattr("queue_core.worker._run.IDLE_WAIT_BLOCKING", 3600.0)
    monkeypatch.setattr("queue_core.worker._run.IDLE_WAIT_POLLING", 3600.0)


@pytest.mark.usefixtures("wakeups_only")
async def test_a_job_enqueued_just_after_an_empty_dequeue_is_not_left_waiting(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    counting = CountingBroker(broker)
    landed: list[str] = []

    async def dequeue_then_enqueue(*args: Any) -> Any:
        leases = await broker.dequeue(*args)
        if not leases and not landed:  # the job arrives right behind the empty answer
            landed.append(await enqueue(broker, clock, "late"))
        return leases

    counting.dequeue = dequeue_then_enqueue  # type: ignore[method-assign]
    worker = make_worker(counting, clock)
    worker.register("late", lambda_async(lambda d: None))
    async with running(worker):
        await wait_until(lambda: landed)
        await hooks.wait_for("succeeded", job_id=landed[0])


@pytest.mark.usefixtures("wakeups_only")
async def test_a_worker_reports_started_only_once_a_job_enqueued_then_wakes_it(
    broker: Broker, hooks: HookRecorder
) -> None:
    # A slow subscription (a far server): before it is live, a notification would be lost.
    clock = manual_clock()
    counting = CountingBroker(broker)

    async def slow_first_wait(queues: Any, timeout: float) -> None:
        if counting.calls["wait_for_jobs"] == 0:
            await anyio.sleep(0.3)
        counting.calls["wait_for_jobs"] += 1
        await broker.wait_for_jobs(queues, timeout)

    counting.wait_for_jobs = slow_first_wait  # type: ignore[method-assign]
    worker = make_worker(counting, clock)
    worker.register("first", lambda_async(lambda d: None))
    async with running(worker):
        await hooks.wait_for("worker_started")
        assert counting.calls["wait_for_jobs"] >= 1  # it subscribed before it said so
        # The worker has looked for work and found none: it idles on the wake-up alone.
        await wait_until(lambda: counting.done["dequeue"] >= 1)
        job_id = await enqueue(broker, clock, "first")
        await hooks.wait_for("succeeded", job_id=job_id)


async def test_one_dequeue_takes_as_many_jobs_as_there_are_free_slots(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    counting = CountingBroker(broker)
    worker = make_worker(counting, clock, concurrency=5)
    release = anyio.Event()
    running_now: list[str] = []
    most = 0

    @worker.handler("block")
    async def block(delivery: Delivery) -> None:
        nonlocal most
        running_now.append(delivery.id)
        most = max(most, len(running_now))
        await release.wait()
        running_now.remove(delivery.id)

    async with Client(broker, clock=clock) as client:
        await client.enqueue_many([Job.create("block", i) for i in range(8)])
    async with running(worker):
        await hooks.wait_for("started", 5)
        assert counting.args["dequeue"][0][4] == 5  # limit = free slots
        assert counting.calls["dequeue"] == 1
        for _ in range(50):
            await anyio.sleep(0)
        assert len(hooks.of("started")) == 5  # never more than the concurrency
        release.set()
        await hooks.wait_for("succeeded", 8)
    assert most == 5


async def test_a_scheduled_job_runs_when_the_clock_reaches_it(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    worker.register("later", lambda_async(lambda d: None))
    job_id = await enqueue(broker, clock, "later", delay=30)
    async with running(worker):
        clock.advance(29)
        for _ in range(50):
            await anyio.sleep(0)
        assert not hooks.of("started")
        assert (await info(broker, clock, job_id)).state is JobState.SCHEDULED
        clock.advance(1)
        await hooks.wait_for("succeeded", job_id=job_id)


async def test_weighted_queues_are_all_served(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, queues={"high": 3, "low": 1}, concurrency=1)
    worker.register("q", lambda_async(lambda d: None))
    for queue in ("high", "low"):
        for _ in range(4):
            await enqueue(broker, clock, "q", queue=queue)
    async with running(worker):
        await hooks.wait_for("succeeded", 8)
    order = [event["queue"] for event in hooks.of("started")]
    assert order.count("high") == order.count("low") == 4
    assert order[:4].count("high") >= 3  # high is asked first three times out of four


async def test_lifecycle_hooks_fire(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, id="hooked-worker")
    worker.register("noop", lambda_async(lambda d: None))
    job_id = await enqueue(broker, clock, "noop")
    async with running(worker):
        await hooks.wait_for("succeeded", job_id=job_id)
    names = [name for name, _ in hooks.events]
    assert names.index("enqueued") < names.index("started") < names.index("succeeded")
    assert hooks.of("worker_started", worker_id="hooked-worker", queues=["default"])
    assert hooks.of("worker_stopping", worker_id="hooked-worker")
    assert hooks.of("started", job_id=job_id, attempt=1)


# --------------------------------------------------------------------------- registration and options


def test_registering_a_type_twice_is_rejected() -> None:
    worker = Worker("memory://")
    worker.register("a", lambda_async(lambda d: None))
    with pytest.raises(HandlerAlreadyRegistered, match="'a'"):
        worker.register("a", lambda_async(lambda d: None))


async def test_registering_after_run_started_is_rejected_and_a_worker_runs_once(broker: Broker) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock)
    worker.stop()
    await worker.run()
    with pytest.raises(WorkerAlreadyStarted):
        worker.register("late", lambda_async(lambda d: None))
    with pytest.raises(WorkerAlreadyStarted):
        await worker.run()


@pytest.mark.parametrize(
    "options",
    [
        {"concurrency": 0},
        {"concurrency": 2.5},
        {"lease_for": 0},
        {"queues": {}},
        {"queues": {"a": 0}},
        {"queues": {"bad{name}": 1}},
        {"queues": "default"},
        {"shutdown_timeout": -1},
        {"sweep_interval": float("inf")},
        {"max_crashes": -1},
    ],
)
def test_bad_worker_options_are_rejected_naming_the_option(options: dict[str, Any]) -> None:
    (name,) = options
    with pytest.raises(ValidationError) as caught:
        Worker("memory://", **options)
    assert caught.value.field.startswith(name)
    if name != "queues":
        assert isinstance(caught.value, InvalidWorkerOption)


def test_queues_given_as_a_list_have_equal_weights() -> None:
    assert Worker("memory://", queues=["a", "b"]).queues == {"a": 1, "b": 1}


async def test_a_handler_raising_system_exit_requeues_the_other_jobs_leaves_its_own_to_its_lease_and_reraises(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, concurrency=2, shutdown_timeout=3600)
    both_started = anyio.Event()

    @worker.handler("bystander")
    async def bystander(delivery: Delivery) -> None:
        await anyio.sleep_forever()

    @worker.handler("exit")
    async def exiting(delivery: Delivery) -> None:
        await both_started.wait()
        raise SystemExit(3)

    innocent = await enqueue(broker, clock, "bystander")
    culprit = await enqueue(broker, clock, "exit")
    async with anyio.create_task_group() as tg:

        async def release() -> None:
            await hooks.wait_for("started", 2)
            both_started.set()

        tg.start_soon(release)
        with pytest.raises(SystemExit) as caught, anyio.fail_after(20):
            await worker.run()  # returns at once despite the long shutdown_timeout
    assert caught.value.code == 3
    job = await info(broker, clock, innocent)
    assert (job.state, job.retried, job.crashes) == (JobState.PENDING, 0, 0)
    # Not requeued (a handler that always exits would kill every worker forever): it is
    # recovered as a crash when its lease runs out, so max_crashes bounds the loop.
    job = await info(broker, clock, culprit)
    assert (job.state, job.retried, job.crashes) == (JobState.ACTIVE, 0, 0)
    recovery = await broker.recover_expired(["default"], clock.now() + 3600, max_crashes=5)
    assert recovery.requeued == [culprit]


async def test_without_a_clock_the_worker_judges_time_by_the_brokers_clock(broker: Broker) -> None:
    worker = Worker(broker)
    worker.stop()
    await worker.run()
    assert isinstance(worker.clock, BrokerClock)
    assert worker.clock.round_trip is not None  # measured at start
