"""Client: enqueue one, a built job, or many; conflicts; retention default; broker ownership."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from queue_core import (
    Broker,
    Client,
    DuplicateJob,
    EnqueueStatus,
    Job,
    JobIdConflict,
    JobState,
    ValidationError,
)
from queue_core.errors import InvalidBrokerURL, InvalidMaxRetries, InvalidQueueName
from tests.worker_kit import NOW, CountingBroker, HookRecorder, manual_clock


async def test_enqueue_stores_a_pending_job_with_a_fresh_id(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    async with Client(broker, clock=clock) as client:
        outcome = await client.enqueue("email.send", {"to": "a@example.com"}, max_retries=3)
    assert outcome.state is JobState.PENDING and outcome.queue == "default"
    info = await broker.job_info("default", outcome.job_id, NOW)
    assert (info.type, info.max_retries, info.state, info.enqueued_at) == ("email.send", 3, JobState.PENDING, NOW)
    assert await broker.job_payload("default", outcome.job_id) == b'{"to":"a@example.com"}'
    assert hooks.of("enqueued", job_id=outcome.job_id, job_type="email.send", queue="default")


async def test_delayed_and_scheduled_jobs_are_scheduled(broker: Broker) -> None:
    async with Client(broker, clock=manual_clock()) as client:
        delayed = await client.enqueue("t", delay=10)
        at = await client.enqueue("t", schedule_at=NOW + 60, queue="other")
    assert delayed.state is JobState.SCHEDULED
    assert (await broker.job_info("default", delayed.job_id, NOW)).next_process_at == NOW + 10
    assert (await broker.job_info("other", at.job_id, NOW)).next_process_at == NOW + 60


async def test_a_taken_id_raises_job_id_conflict_and_writes_nothing(broker: Broker, hooks: HookRecorder) -> None:
    async with Client(broker, clock=manual_clock()) as client:
        await client.enqueue("t", 1, job_id="order-1")
        with pytest.raises(JobIdConflict) as caught:
            await client.enqueue("t", 2, job_id="order-1")
    assert (caught.value.job_id, caught.value.queue) == ("order-1", "default")
    assert await broker.job_payload("default", "order-1") == b"1"
    assert len(hooks.of("enqueued", job_id="order-1")) == 1


async def test_a_held_unique_lock_raises_duplicate_job_naming_the_holder(broker: Broker) -> None:
    async with Client(broker, clock=manual_clock()) as client:
        first = await client.enqueue("report", {"day": 1}, unique_for=60)
        with pytest.raises(DuplicateJob) as caught:
            await client.enqueue("report", {"day": 1}, unique_for=60)
        assert caught.value.holder == first.job_id
        # a different payload is a different lock
        assert (await client.enqueue("report", {"day": 2}, unique_for=60)).state is JobState.PENDING


async def test_validation_errors_raise_before_anything_is_written(broker: Broker) -> None:
    counting = CountingBroker(broker)
    async with Client(counting, clock=manual_clock()) as client:
        with pytest.raises(InvalidMaxRetries):
            await client.enqueue("t", max_retries=-1)
        with pytest.raises(InvalidQueueName):
            await client.enqueue("t", queue="no spaces")
        with pytest.raises(ValidationError, match="options"):
            await client.enqueue("t", not_an_option=1)
        with pytest.raises(ValidationError):
            await client.enqueue_many([Job("t"), "not a job"])  # type: ignore[list-item]
    assert counting.calls["enqueue"] == 0


async def test_default_retention_applies_only_to_jobs_without_their_own(broker: Broker) -> None:
    async with Client(broker, clock=manual_clock(), default_retention=300) as client:
        plain = await client.enqueue("t")
        own = await client.enqueue("t", retention=5)
        built = await client.enqueue_job(Job("t"))
    assert (await broker.job_info("default", plain.job_id, NOW)).retention == 300
    assert (await broker.job_info("default", own.job_id, NOW)).retention == 5
    assert (await broker.job_info("default", built.job_id, NOW)).retention == 300


async def test_enqueue_job_keeps_a_given_id_and_assigns_one_otherwise(broker: Broker) -> None:
    async with Client(broker, clock=manual_clock()) as client:
        given = await client.enqueue_job(Job("t", job_id="mine"))
        fresh = await client.enqueue_job(Job("t"))
    assert given.job_id == "mine"
    assert fresh.job_id and fresh.job_id != "mine"


async def test_enqueue_many_makes_one_broker_call_per_chunk_with_per_item_outcomes(
    broker: Broker, hooks: HookRecorder
) -> None:
    counting = CountingBroker(broker)
    jobs = [Job.create("bulk", i) for i in range(12)]
    jobs[5] = Job.create("bulk", 5, job_id="dup")
    jobs[9] = Job.create("bulk", 9, job_id="dup")  # conflicts with jobs[5], in another chunk
    async with Client(counting, clock=manual_clock()) as client:
        outcomes = await client.enqueue_many(jobs, chunk_size=5)
    assert counting.calls["enqueue"] == 3
    assert [len(args[0]) for args in counting.args["enqueue"]] == [5, 5, 2]
    assert len(outcomes) == 12
    assert [o.status for o in outcomes].count(EnqueueStatus.ENQUEUED) == 11
    assert outcomes[9].status is EnqueueStatus.ID_CONFLICT and outcomes[9].job_id == "dup"
    assert len({o.job_id for o in outcomes}) == 11
    assert len(hooks.of("enqueued", job_type="bulk")) == 11
    stats = await broker.queue_stats("default", NOW)
    assert stats.pending == 11


async def test_enqueue_many_reports_duplicates_without_raising(broker: Broker) -> None:
    jobs = [Job.create("u", {"k": 1}, unique_for=60) for _ in range(3)]
    async with Client(broker, clock=manual_clock()) as client:
        outcomes = await client.enqueue_many(jobs)
    assert [o.status for o in outcomes] == [EnqueueStatus.ENQUEUED, EnqueueStatus.DUPLICATE, EnqueueStatus.DUPLICATE]
    assert outcomes[1].holder == outcomes[0].job_id


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
async def test_enqueue_many_rejects_a_bad_chunk_size(broker: Broker, size: Any) -> None:
    async with Client(broker) as client:
        with pytest.raises(ValidationError, match="chunk_size"):
            await client.enqueue_many([Job("t")], chunk_size=size)


async def test_a_client_opens_and_closes_a_broker_from_a_url() -> None:
    client = Client("memory://client-test")
    with pytest.raises(RuntimeError, match="not open"):
        _ = client.broker
    async with client:
        outcome = await client.enqueue("t")
        assert (await client.broker.job_info("default", outcome.job_id, client.clock.now())).type == "t"
    with pytest.raises(RuntimeError, match="not open"):
        _ = client.broker


async def test_a_given_broker_is_left_open(broker: Broker) -> None:
    async with Client(broker) as client:
        await client.enqueue("t")
    assert (await broker.queue_stats("default", NOW)).pending == 1  # still usable


def test_a_malformed_url_fails_at_construction() -> None:
    with pytest.raises(InvalidBrokerURL):
        Client("localhost:6379")


async def test_failures_are_logged_then_passed_to_the_error_handler(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[type[BaseException], str | None]] = []

    def on_error(error: BaseException, job: Job | None) -> None:
        assert "order-9" in caplog.text  # logging happened first
        seen.append((type(error), job.job_id if job else None))

    with caplog.at_level(logging.DEBUG, logger="queue_core"):
        async with Client(broker, error_handler=on_error) as client:
            await client.enqueue("t", job_id="order-9")
            with pytest.raises(JobIdConflict):
                await client.enqueue("t", job_id="order-9")
            with pytest.raises(InvalidMaxRetries):
                await client.enqueue("t", max_retries=-3)
    assert seen == [(JobIdConflict, "order-9"), (InvalidMaxRetries, None)]


async def test_a_failing_plugin_never_fails_an_enqueue(broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    from queue_core import hookimpl
    from queue_core.plugins import plugin_manager

    class Broken:
        @hookimpl
        def queue_core_job_enqueued(self, queue: str, job_id: str, job_type: str) -> None:
            raise RuntimeError("plugin bug")

    plugin = Broken()
    plugin_manager().register(plugin)
    try:
        async with Client(broker) as client:
            assert (await client.enqueue("t")).state is JobState.PENDING
    finally:
        plugin_manager().unregister(plugin)
    assert "queue_core_job_enqueued raised" in caplog.text
