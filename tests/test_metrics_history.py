"""Metrics history end to end: a worker records per-minute counts and run times, the
Manager sums them into series, and the recorder keeps counts it could not write."""

from __future__ import annotations

import logging

import pytest

from queue_core import (
    HISTOGRAM_SLOTS,
    Broker,
    BrokerUnavailable,
    Client,
    Delivery,
    Job,
    Manager,
    MinuteMetrics,
    SkipRetry,
    Unsupported,
    ValidationError,
    minute_of,
)
from queue_core.broker import JobRecord, Lease, Settlement
from queue_core.metrics import RUNTIME_BUCKETS, histogram_slot
from queue_core.worker._metrics_recorder import MetricsRecorder
from tests.worker_kit import NOW, HookRecorder, make_worker, manual_clock, running

pytestmark = pytest.mark.anyio


async def test_a_worker_records_processed_failed_and_run_time_per_type_and_minute(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, concurrency=2)

    @worker.handler("ok")
    async def ok(delivery: Delivery) -> None:
        return None

    @worker.handler("bad")
    async def bad(delivery: Delivery) -> None:
        raise SkipRetry("no")

    async with Client(broker, clock=clock) as client:
        await client.enqueue_many([Job.create("ok", i) for i in range(5)] + [Job.create("bad", 1)])
    async with running(worker):
        await hooks.wait_for("succeeded", 5)
        await hooks.wait_for("archived", 1)
    # The worker flushed on its way out.
    async with Manager(broker, clock=clock) as manager:
        history = await manager.metrics("default", minutes=5)
        assert len(history.points) == 5
        assert history.points[-1].minute == minute_of(NOW)
        assert (history.total.processed, history.total.failed) == (6, 1)
        assert history.by_type["ok"].processed == 5 and history.by_type["ok"].failed == 0
        assert history.by_type["bad"].failed == 1
        assert sum(history.by_type["ok"].histogram) == 5  # every run timed
        only_bad = await manager.metrics(job_type="bad", minutes=5)
        assert only_bad.total.processed == 1 and list(only_bad.by_type) == ["bad"]


async def test_manager_metrics_sums_queues_and_buckets_minutes_into_steps(broker: Broker) -> None:
    clock = manual_clock()
    now_minute = minute_of(NOW)
    one = (1,) + (0,) * (HISTOGRAM_SLOTS - 1)
    samples = [
        MinuteMetrics("a", "t", now_minute, 1, 0, 10, one),
        MinuteMetrics("a", "t", now_minute - 60, 2, 1, 20, tuple(2 * x for x in one)),
        MinuteMetrics("b", "u", now_minute - 120, 4, 0, 40, tuple(4 * x for x in one)),
        MinuteMetrics("b", "u", now_minute - 600, 100, 0, 0, tuple(100 * x for x in one)),  # outside the window
    ]
    await broker.record_metrics(samples, NOW, 3600)
    async with Client(broker, clock=clock) as client:  # registers both queues
        await client.enqueue("t", None, queue="a")
        await client.enqueue("u", None, queue="b")
    async with Manager(broker, clock=clock) as manager:
        history = await manager.metrics(minutes=4, step=2)
        assert [p.processed for p in history.points] == [4, 3]
        assert [p.minute for p in history.points] == [now_minute - 180, now_minute - 60]
        assert history.step == 120
        assert {name: m.processed for name, m in history.by_queue.items()} == {"a": 3, "b": 4}
        assert history.total.failed == 1
        with pytest.raises(ValidationError, match="minutes"):
            await manager.metrics(minutes=4321)
        with pytest.raises(ValidationError, match="step"):
            await manager.metrics(minutes=4, step=5)


def test_percentiles_come_from_the_histogram() -> None:
    slots = [0] * HISTOGRAM_SLOTS
    slots[histogram_slot(0.003)] = 50
    slots[histogram_slot(0.2)] = 45
    slots[histogram_slot(500)] = 5
    metrics = MinuteMetrics("q", "t", 0, 100, 0, 0, tuple(slots))
    assert metrics.p50 == RUNTIME_BUCKETS[0]
    assert metrics.p95 == 0.25
    assert metrics.percentile(1.0) == RUNTIME_BUCKETS[-1] * 2
    assert MinuteMetrics("q", "t", 0).p50 is None


class _Failing:
    """A broker whose record_metrics fails until told otherwise."""

    def __init__(self, inner: Broker) -> None:
        self.inner = inner
        self.capabilities = inner.capabilities
        self.failing = True

    async def record_metrics(self, samples: list[MinuteMetrics], now: float, keep: float) -> None:
        if self.failing:
            raise BrokerUnavailable("down")
        await self.inner.record_metrics(samples, now, keep)


async def test_counts_that_could_not_be_written_go_with_the_next_flush(broker: Broker) -> None:
    clock = manual_clock()
    failing = _Failing(broker)
    recorder = MetricsRecorder(failing, clock, logging.getLogger("test"))  # type: ignore[arg-type]
    record = JobRecord(id="j", type="t", queue="q", payload=b"", max_retries=0)
    lease = Lease(record, "tok", NOW + 30)
    recorder.observe(record, Settlement.complete(lease), 0.01)
    recorder.observe(record, Settlement.retry(lease, NOW + 1, "x", counts_as_failure=False), 0.01)  # not counted
    recorder.observe(record, Settlement.requeue(lease), None)  # not counted
    await recorder.flush()
    recorder.observe(record, Settlement.archive(lease, "boom"), None)
    failing.failing = False
    await recorder.flush()
    [stored] = await broker.read_metrics("q", minute_of(NOW), minute_of(NOW), NOW)
    assert (stored.processed, stored.failed, sum(stored.histogram)) == (2, 1, 1)
    await recorder.flush()  # nothing left: nothing added twice
    [again] = await broker.read_metrics("q", minute_of(NOW), minute_of(NOW), NOW)
    assert again.processed == 2


async def test_a_driver_without_metrics_history_says_so(broker: Broker) -> None:
    class NoMetrics:
        capabilities = type(broker.capabilities)(name="plain", features=frozenset())

    manager = Manager(NoMetrics())  # type: ignore[arg-type]
    with pytest.raises(Unsupported, match="metrics"):
        await manager.metrics()
