"""Client: what enqueue returns (a JobInfo equal to the broker's snapshot), options that
reach the broker, broker options, failures that are logged then handed to the handler."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from queue_core import (
    Broker,
    Client,
    Job,
    JobIdConflict,
    JobInfo,
    JobState,
    SerializationError,
    ValidationError,
    open_broker,
)
from queue_core.errors import InvalidDeadline
from tests.worker_kit import NOW, fresh_broker, manual_clock

OPTION_SETS: list[tuple[str, dict[str, Any], JobState]] = [
    ("plain", {}, JobState.PENDING),
    ("delayed", {"delay": 30}, JobState.SCHEDULED),
    ("scheduled", {"schedule_at": datetime.fromtimestamp(NOW + 90, UTC)}, JobState.SCHEDULED),
    ("past schedule", {"schedule_at": NOW - 5}, JobState.PENDING),
    ("grouped", {"group": "digest"}, JobState.AGGREGATING),
    ("delayed group", {"group": "digest", "delay": 5}, JobState.SCHEDULED),
    ("unique by content", {"unique_for": 60}, JobState.PENDING),
    ("unique by key", {"unique_for": timedelta(minutes=5), "unique_key": "user:7"}, JobState.PENDING),
    (
        "everything else",
        {
            "queue": "mail",
            "max_retries": 0,
            "timeout": 12.5,
            "deadline": NOW + 3600,
            "retention": 600,
            "headers": {"trace": "abc", "tenant": "t1"},
            "job_id": "custom-1",
        },
        JobState.PENDING,
    ),
]


@pytest.mark.parametrize(("options", "state"), [(o, s) for _, o, s in OPTION_SETS], ids=[n for n, _, _ in OPTION_SETS])
async def test_enqueue_returns_the_job_info_the_broker_reports(
    broker: Broker, options: dict[str, Any], state: JobState
) -> None:
    async with Client(broker, clock=manual_clock()) as client:
        info = await client.enqueue("report.build", {"day": 3}, **options)
    assert isinstance(info, JobInfo)
    assert info.state is state
    stored = await broker.job_info(info.queue, info.id, NOW)
    assert info == stored
    assert info.job_id == info.id


async def test_enqueue_job_returns_the_same_snapshot_for_a_built_job(broker: Broker) -> None:
    job = Job("raw", b"\x00\x01binary", queue="bin", headers={"k": "v"}, retention=5)
    async with Client(broker, clock=manual_clock()) as client:
        info = await client.enqueue_job(job)
    assert (info.payload_size, info.retention, dict(info.headers)) == (8, 5.0, {"k": "v"})
    assert info == await broker.job_info("bin", info.id, NOW)


async def test_the_default_retention_shows_in_the_returned_info(broker: Broker) -> None:
    async with Client(broker, clock=manual_clock(), default_retention=timedelta(hours=1)) as client:
        defaulted = await client.enqueue("t")
        own = await client.enqueue("t", retention=7)
    assert (defaulted.retention, own.retention) == (3600.0, 7.0)
    assert defaulted == await broker.job_info("default", defaulted.id, NOW)


async def test_the_enqueue_time_comes_from_the_clients_clock(broker: Broker) -> None:
    clock = manual_clock()
    async with Client(broker, clock=clock) as client:
        clock.advance(42.25)
        info = await client.enqueue("t", delay=1)
    assert (info.enqueued_at, info.next_process_at) == (NOW + 42.25, NOW + 43.25)


async def test_bad_options_are_logged_then_handed_to_the_handler(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    logged_before: list[int] = []

    def on_error(error: BaseException, job: Job | None) -> None:
        logged_before.append(len(caplog.records))

    with caplog.at_level(logging.DEBUG, logger="queue_core"):
        async with Client(broker, error_handler=on_error) as client:
            with pytest.raises(InvalidDeadline):
                await client.enqueue("t", deadline="tomorrow")
            with pytest.raises(ValidationError, match="jobs"):
                await client.enqueue_many([Job("t"), 3])  # type: ignore[list-item]
    assert logged_before == [1, 2]  # each error was logged before the handler saw it
    assert "cannot build job" in caplog.records[0].getMessage()
    assert "cannot enqueue" in caplog.records[1].getMessage()
    assert (await broker.list_queues()) == []


async def test_a_refused_enqueue_is_raised_not_logged_above_debug(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: an ERROR line (a WARNING for conflicts) preceded every raised refusal."""
    with caplog.at_level(logging.DEBUG, logger="queue_core"):
        async with Client(broker) as client:
            await client.enqueue("t", job_id="once")
            with pytest.raises(JobIdConflict):
                await client.enqueue("t", job_id="once")
            with pytest.raises(InvalidDeadline):
                await client.enqueue("t", deadline="tomorrow")
    assert [r.levelno for r in caplog.records if "once" in r.getMessage() or "deadline" in r.getMessage()]
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and r.name == "queue_core"]


async def test_a_payload_nested_too_deeply_is_a_serialization_error(broker: Broker) -> None:
    """Before: a bare RecursionError escaped Client.enqueue."""
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    async with Client(broker) as client:
        with pytest.raises(SerializationError, match="nested too deeply"):
            await client.enqueue("t", deep)
    assert (await broker.list_queues()) == []


async def test_a_failing_error_handler_is_logged_and_the_original_error_raised(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(error: BaseException, job: Job | None) -> None:
        raise RuntimeError("handler bug")

    async with Client(broker, error_handler=broken) as client:
        await client.enqueue("t", job_id="same")
        with pytest.raises(JobIdConflict):
            await client.enqueue("t", job_id="same")
    assert "error_handler raised" in caplog.text


async def test_a_client_logs_to_the_logger_it_is_given(broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    mine = logging.getLogger("my.app.jobs")
    with caplog.at_level(logging.DEBUG, logger="my.app.jobs"):
        async with Client(broker, logger=mine) as client:
            await client.enqueue("t", job_id="x1")
            with pytest.raises(JobIdConflict):
                await client.enqueue("t", job_id="x1")
    assert [r.name for r in caplog.records] == ["my.app.jobs"]
    assert caplog.records[0].job_id == "x1"  # type: ignore[attr-defined]


async def test_broker_options_reach_the_driver_when_the_client_opens_it(broker_url: str) -> None:
    options = {"prefix": "tclientopts"}
    async with fresh_broker(broker_url) as probe, Client(broker_url, broker_options=options) as client:
        info = await client.enqueue("t", queue="opts")
        await client.ping()
        assert "opts" not in await probe.list_queues()  # another prefix: another namespace
    same = await open_broker(broker_url, prefix="tclientopts")
    try:
        assert (await same.job_info("opts", info.id, NOW)).type == "t"
        await same.delete_queue("opts", True)
    finally:
        await same.close()
