"""Typed tasks end to end: defined once, enqueued with checked arguments, run by a worker
with decoded arguments, awaited for their typed outcome -- on memory:// and Redis, asyncio
and trio."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import anyio
import pytest

from queue_core import (
    Broker,
    Client,
    Delivery,
    InvalidTaskArguments,
    JobCancelled,
    JobFailed,
    JobNotFound,
    JobState,
    Manager,
    ResultTimeout,
    SkipRetry,
    Worker,
)
from queue_core.errors import InvalidRetention
from queue_core.tasks import TaskRegistry
from tests.worker_kit import CountingBroker, running, wait_until

PATIENCE = 20.0


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


@dataclasses.dataclass(frozen=True)
class Email:
    to: str
    cc: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Receipt:
    to: str
    priority: Priority
    sent_at: datetime
    cost: Decimal
    trace: UUID


tasks = TaskRegistry()
started = {"slow": 0}


@tasks.task(name="email.send", queue="emails", max_retries=3, timeout=30)
async def send_email(email: Email, subject: str, priority: Priority = Priority.LOW) -> Receipt:
    return Receipt(email.to, priority, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), Decimal("0.10"), UUID(int=7))


@tasks.task(name="math.add")
def add(a: int, b: int = 1) -> int:
    """A plain def: the worker runs it on a thread."""
    return a + b


@tasks.task(name="job.attempt", max_retries=0)
async def attempt(delivery: Delivery, note: str) -> str:
    return f"{note} {delivery.type} attempt {delivery.attempt}"


@tasks.task(name="job.fail", max_retries=0)
async def fail(reason: str) -> None:
    raise SkipRetry(reason)


@tasks.task(name="job.slow")
async def slow(seconds: float) -> None:
    started["slow"] += 1
    await anyio.sleep(seconds)


@tasks.task(name="job.forget", retention=0)
async def forget() -> None:
    return None


@pytest.fixture
async def client(broker: Broker) -> AsyncIterator[Client]:
    async with Client(broker) as opened:
        yield opened


@pytest.fixture
async def worker(broker: Broker) -> AsyncIterator[Worker]:
    async with running(Worker(broker, tasks=tasks, shutdown_timeout=0)) as started_worker:
        yield started_worker


async def test_a_worker_serves_the_queues_of_its_tasks() -> None:
    worker = Worker("memory://", tasks=tasks)
    assert list(worker.queues) == ["emails", "default"]
    assert set(worker.handlers.types()) == {task.name for task in tasks}


async def test_the_result_comes_back_typed(client: Client, worker: Worker) -> None:
    job = await send_email.enqueue(client, Email("a@example.com", cc=("b@example.com",)), "Hi", Priority.HIGH)
    assert (job.queue, job.info and job.info.state) == ("emails", JobState.PENDING)
    receipt = await job.result(timeout=PATIENCE)
    assert receipt == Receipt(
        "a@example.com", Priority.HIGH, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), Decimal("0.10"), UUID(int=7)
    )


async def test_the_handler_receives_decoded_arguments_and_a_delivery_when_asked(client: Client, worker: Worker) -> None:
    assert await (await add.enqueue(client, 40, b=2)).result(timeout=PATIENCE) == 42
    assert await (await add.enqueue(client, 41)).result(timeout=PATIENCE) == 42  # the worker's default for b
    assert await (await attempt.enqueue(client, "hello")).result(timeout=PATIENCE) == "hello job.attempt attempt 1"


async def test_options_apply_per_enqueue(client: Client, broker: Broker) -> None:
    job = await add.with_options(delay=3600, job_id="add-1", max_retries=7).enqueue(client, 1)
    info = await broker.job_info("default", "add-1", client.clock.now())
    assert (job.id, info.state, info.max_retries, info.retention) == ("add-1", JobState.SCHEDULED, 7, 3600.0)
    plain = await add.enqueue(client, 1)
    assert plain.info is not None and plain.info.max_retries == 25 and plain.info.state is JobState.PENDING


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: add.enqueue(c, "1"), "a"),
        (lambda c: add.enqueue(c, True), "a"),
        (lambda c: add.enqueue(c), "arguments"),
        (lambda c: add.enqueue(c, 1, c=2), "arguments"),
        (lambda c: send_email.enqueue(c, {"to": "a"}, "Hi"), "email"),
        (lambda c: send_email.enqueue(c, Email("a"), "Hi", "high"), "priority"),
        (lambda c: send_email.enqueue(c, Email(to=3), "Hi"), "email.to"),  # type: ignore[arg-type]
    ],
)
async def test_a_wrong_argument_is_refused_and_nothing_is_written(
    client: Client, broker: Broker, call: Any, field: str
) -> None:
    with pytest.raises(InvalidTaskArguments) as raised:
        await call(client)
    assert raised.value.field == field
    assert await broker.list_queues() == []


async def test_enqueue_many_returns_a_job_per_call(client: Client, worker: Worker) -> None:
    jobs = await add.enqueue_many(client, [add.prepare(n, b=n) for n in range(5)])
    assert [await job.result(timeout=PATIENCE) for job in jobs] == [0, 2, 4, 6, 8]
    with pytest.raises(InvalidTaskArguments):
        await add.enqueue_many(client, [slow.prepare(1.0)])  # type: ignore[list-item]


async def test_a_failure_raises_job_failed_with_the_stored_error(client: Client, worker: Worker) -> None:
    job = await fail.enqueue(client, "the mailbox is gone")
    with pytest.raises(JobFailed) as raised:
        await job.result(timeout=PATIENCE)
    assert raised.value.error == "SkipRetry: the mailbox is gone"
    assert (raised.value.job_id, raised.value.queue) == (job.id, "default")


async def test_a_cancelled_job_raises_job_cancelled(client: Client, broker: Broker) -> None:
    job = await slow.with_options(delay=3600).enqueue(client, 0.0)
    async with Manager(broker) as manager:
        await manager.cancel("default", job.id)
    with pytest.raises(JobCancelled) as raised:
        await job.result(timeout=PATIENCE)
    assert raised.value.job_id == job.id


async def test_a_running_job_cancelled_by_an_operator_raises_job_cancelled(
    client: Client, broker: Broker, worker: Worker
) -> None:
    started["slow"] = 0
    job = await slow.enqueue(client, 60.0)
    await wait_until(lambda: started["slow"] == 1, "the slow job started")
    async with Manager(broker) as manager:
        await manager.cancel("default", job.id)
    with pytest.raises(JobCancelled):
        await job.result(timeout=PATIENCE)


async def test_a_job_that_does_not_finish_in_time_raises_result_timeout_naming_it(client: Client) -> None:
    job = await add.enqueue(client, 1)  # no worker runs
    with pytest.raises(ResultTimeout) as raised:
        await job.result(timeout=0.05)
    assert isinstance(raised.value, TimeoutError)
    assert raised.value.job_ids == [job.id] and job.id in str(raised.value)


async def test_a_task_without_retention_refuses_result_at_once(client: Client) -> None:
    job = await forget.enqueue(client)
    with pytest.raises(InvalidRetention):
        await job.result(timeout=PATIENCE)


async def test_a_job_deleted_before_its_result_was_read_raises_job_not_found(client: Client, broker: Broker) -> None:
    job = await add.with_options(delay=3600).enqueue(client, 1)

    async def delete_soon() -> None:
        await anyio.sleep(0.05)
        await broker.delete_job("default", job.id, client.clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(delete_soon)
        with pytest.raises(JobNotFound, match="gone"):
            await job.result(timeout=PATIENCE)


async def test_client_wait_returns_every_final_info_in_order(client: Client, worker: Worker) -> None:
    jobs = [await add.enqueue(client, n) for n in range(3)]
    failed = await fail.enqueue(client, "no")
    infos = await client.wait([*jobs, failed.id], timeout=PATIENCE, queue="default")
    assert [info.id if info else None for info in infos] == [*(job.id for job in jobs), failed.id]
    assert [info.state if info else None for info in infos] == [JobState.COMPLETED] * 3 + [JobState.ARCHIVED]


async def test_client_wait_across_queues(client: Client, worker: Worker) -> None:
    first = await send_email.enqueue(client, Email("a"), "x")
    second = await add.enqueue(client, 1)
    infos = await client.wait([first, second], timeout=PATIENCE)
    assert [info.queue if info else None for info in infos] == ["emails", "default"]


async def test_many_concurrent_waiters_share_one_subscription(client: Client, worker: Worker) -> None:
    results: dict[int, int] = {}

    async def one(n: int) -> None:
        results[n] = await (await add.enqueue(client, n)).result(timeout=PATIENCE)

    async with anyio.create_task_group() as tg:
        for n in range(20):
            tg.start_soon(one, n)
    assert results == {n: n + 1 for n in range(20)}


async def test_waiting_is_woken_by_the_broker_not_by_polling(broker: Broker) -> None:
    """However long the wait, the job is looked at a bounded number of times: once after
    subscribing, once when it is announced."""
    counting = CountingBroker(broker)
    async with Client(counting) as client:  # type: ignore[arg-type]  # a Broker by duck typing
        job = await add.enqueue(client, 1)
        async with anyio.create_task_group() as tg:

            async def run_later() -> None:
                await wait_until(lambda: counting.done["wait_for_finished"] >= 1, "the waiter subscribed")
                await anyio.sleep(0.3)  # the waiter is parked by now; nothing looks meanwhile
                async with running(Worker(broker, tasks=tasks, shutdown_timeout=0)):
                    await anyio.sleep(PATIENCE)

            tg.start_soon(run_later)
            assert await job.result(timeout=PATIENCE) == 2
            tg.cancel_scope.cancel()
    assert counting.calls["job_info"] <= 3
    assert counting.calls["wait_for_finished"] <= 4


async def test_a_payload_that_no_longer_fits_the_signature_is_archived_with_the_reason(
    client: Client, broker: Broker
) -> None:
    """A deploy changed the task: jobs enqueued for the old signature are archived with a
    reason instead of crashing the handler."""
    old = TaskRegistry()

    @old.task(name="report.build")
    async def build_v1(day: str) -> None: ...

    new = TaskRegistry()
    calls: list[Any] = []

    @new.task(name="report.build")
    async def build_v2(day: str, region: str) -> None:
        calls.append((day, region))

    job = await build_v1.enqueue(client, "yesterday")
    async with running(Worker(broker, tasks=new, shutdown_timeout=0)):
        with pytest.raises(JobFailed) as raised:
            await job.result(timeout=PATIENCE)
    assert calls == []
    assert raised.value.error is not None
    assert raised.value.error.startswith("TaskArgumentsMismatch: the payload no longer fits report.build(")
    assert "missing argument 'region'" in raised.value.error


async def test_a_result_that_does_not_fit_the_return_annotation_archives_the_job(
    client: Client, broker: Broker
) -> None:
    registry = TaskRegistry()

    @registry.task(name="liar", max_retries=5)
    async def liar() -> int:
        return "not a number"  # type: ignore[return-value]

    job = await liar.enqueue(client)
    async with running(Worker(broker, tasks=registry, shutdown_timeout=0)):
        with pytest.raises(JobFailed, match="returned what its annotation refuses"):
            await job.result(timeout=PATIENCE)


async def test_the_string_api_still_runs_beside_tasks(client: Client, broker: Broker) -> None:
    worker = Worker(broker, tasks=tasks, shutdown_timeout=0)

    @worker.handler("legacy")
    async def legacy(delivery: Delivery) -> str:
        return str(delivery.decode())

    async with running(worker):
        info = await client.enqueue("legacy", {"n": 1}, retention=60)
        assert await client.result(info, timeout=PATIENCE) == "{'n': 1}"
        plain = await client.enqueue("legacy", None)
        with pytest.raises(InvalidRetention):
            await client.result(plain, timeout=PATIENCE)


async def test_timedelta_timeouts_are_accepted(client: Client, worker: Worker) -> None:
    job = await add.enqueue(client, 2)
    assert await job.result(timeout=timedelta(seconds=PATIENCE)) == 3
