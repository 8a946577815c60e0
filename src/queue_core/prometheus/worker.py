"""Worker and producer metrics, counted from the pluggy hooks and one worker middleware.

Every series carries the labels ``queue`` and ``job_type`` (except the lease and broker
totals). Label children are looked up once per (queue, job type) and kept, so a job costs
a dict lookup and a few increments.
"""

from __future__ import annotations

from queue_core.extras import require

require("prometheus_client", feature="queue_core.prometheus", extra="prometheus")

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from queue_core.hookspecs import hookimpl
from queue_core.worker.middleware import CallNext, Middleware

if TYPE_CHECKING:
    from queue_core.worker.delivery import Delivery

#: run time of one attempt: from 5 ms (a cache write) to 10 minutes (a report).
RUN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
#: enqueue to first start: an idle worker takes a job in about a millisecond; a backlog
#: makes it minutes.
PICKUP_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
)  # fmt: skip
#: the reason a cancelled job is archived with (the runner's).
CANCELLED = "cancelled"
JOB_LABELS = ("queue", "job_type")


class _Series:
    """The label children of one (queue, job type)."""

    __slots__ = ("archived", "bounced", "cancelled", "enqueued", "failed", "in_flight", "lost", "pickup", "retried",
                 "run", "started", "succeeded")  # fmt: skip

    def __init__(self, metrics: WorkerMetrics, queue: str, job_type: str) -> None:
        self.enqueued: Counter = metrics.enqueued.labels(queue, job_type)
        self.started: Counter = metrics.started.labels(queue, job_type)
        self.succeeded: Counter = metrics.succeeded.labels(queue, job_type)
        self.failed: Counter = metrics.failed.labels(queue, job_type)
        self.retried: Counter = metrics.retried.labels(queue, job_type)
        self.bounced: Counter = metrics.bounced.labels(queue, job_type)
        self.archived: Counter = metrics.archived.labels(queue, job_type)
        self.cancelled: Counter = metrics.cancelled.labels(queue, job_type)
        self.lost: Counter = metrics.lost.labels(queue, job_type)
        self.in_flight: Gauge = metrics.in_flight.labels(queue, job_type)
        self.run: Histogram = metrics.run.labels(queue, job_type)
        self.pickup: Histogram = metrics.pickup.labels(queue, job_type)


class WorkerMetrics:
    """The worker (and producer) metrics as a queue-core plugin.

    The entry-point plugin is one of these on prometheus-client's default registry. To
    count into a registry of your own, build one and register it
    (``queue_core.plugins.register(WorkerMetrics(registry))``), and switch the default one
    off with ``QUEUE_CORE_DISABLED_PLUGINS=prometheus``.
    """

    def __init__(self, registry: CollectorRegistry | None = REGISTRY, namespace: str = "queue_core") -> None:
        def counter(name: str, doc: str, labels: Sequence[str] = JOB_LABELS) -> Counter:
            return Counter(name, doc, labels, namespace=namespace, registry=registry)

        self.enqueued = counter("jobs_enqueued", "Jobs stored by clients and schedulers of this process.")
        self.started = counter("jobs_started", "Attempts started (the handler was called).")
        self.succeeded = counter("jobs_succeeded", "Attempts that returned normally.")
        self.failed = counter("jobs_failed", "Attempts that failed (retried later or archived).")
        self.retried = counter("jobs_retried", "Jobs sent to retry after a failed attempt.")
        self.bounced = counter(
            "jobs_bounced", "Jobs put back without using a retry (transient error, rate limit, unknown type)."
        )
        self.archived = counter("jobs_archived", "Jobs archived by a worker (cancelled ones included).")
        self.cancelled = counter("jobs_cancelled", "Jobs archived because an operator cancelled them.")
        self.lost = counter("leases_lost", "Running jobs whose lease was lost (handler stopped, nothing written).")
        self.renewals = Counter("lease_renewals", "Leases of running jobs extended.", namespace=namespace,
                                registry=registry)  # fmt: skip
        self.broker_errors = counter("broker_errors", "Failed broker calls of workers, by operation.", ["operation"])
        self.reconnects = counter(
            "broker_reconnects", "Broker operations that succeeded again after failing.", ["operation"]
        )
        self.in_flight = Gauge("jobs_in_flight", "Handlers running now.", JOB_LABELS, namespace=namespace,
                               registry=registry, multiprocess_mode="livesum")  # fmt: skip
        self.run = Histogram("job_run_seconds", "Run time of one attempt (handler and middleware).", JOB_LABELS,
                             namespace=namespace, registry=registry, buckets=RUN_BUCKETS)  # fmt: skip
        self.pickup = Histogram("job_pickup_seconds", "Enqueue to the start of the first attempt.", JOB_LABELS,
                                namespace=namespace, registry=registry, buckets=PICKUP_BUCKETS)  # fmt: skip
        self._series: dict[tuple[str, str], _Series] = {}

    def series(self, queue: str, job_type: str) -> _Series:
        key = (queue, job_type)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = _Series(self, queue, job_type)
        return found

    # ----------------------------------------------------------------- hooks

    @hookimpl
    def queue_core_job_enqueued(self, queue: str, job_type: str) -> None:
        self.series(queue, job_type).enqueued.inc()

    @hookimpl
    def queue_core_job_started(self, queue: str, job_type: str) -> None:
        self.series(queue, job_type).started.inc()

    @hookimpl
    def queue_core_job_succeeded(self, queue: str, job_type: str) -> None:
        self.series(queue, job_type).succeeded.inc()

    @hookimpl
    def queue_core_job_failed(self, queue: str, job_type: str) -> None:
        self.series(queue, job_type).failed.inc()

    @hookimpl
    def queue_core_job_retrying(self, queue: str, job_type: str, counts_as_failure: bool) -> None:
        series = self.series(queue, job_type)
        (series.retried if counts_as_failure else series.bounced).inc()

    @hookimpl
    def queue_core_job_archived(self, queue: str, job_type: str, reason: str) -> None:
        series = self.series(queue, job_type)
        series.archived.inc()
        if reason == CANCELLED:
            series.cancelled.inc()

    @hookimpl
    def queue_core_leases_renewed(self, count: int) -> None:
        self.renewals.inc(count)

    @hookimpl
    def queue_core_lease_lost(self, queue: str, job_type: str) -> None:
        self.series(queue, job_type).lost.inc()

    @hookimpl
    def queue_core_broker_error(self, operation: str) -> None:
        self.broker_errors.labels(operation).inc()

    @hookimpl
    def queue_core_broker_reconnected(self, operation: str) -> None:
        self.reconnects.labels(operation).inc()

    @hookimpl
    def queue_core_worker_middleware(self) -> list[Middleware]:
        return [self.measure]

    # ----------------------------------------------------------------- middleware

    async def measure(self, delivery: Delivery, call_next: CallNext) -> Any:
        """In flight and run time of every attempt; pickup latency of first attempts."""
        series = self.series(delivery.queue, delivery.type)
        record = delivery.record
        if not (record.retried or record.crashes or record.bounces) and record.enqueued_at:
            # The producer's clock against ours: the same wall clock on one machine,
            # NTP-close across machines.
            series.pickup.observe(max(0.0, time.time() - record.enqueued_at))
        series.in_flight.inc()
        started = time.perf_counter()
        try:
            return await call_next(delivery)
        finally:
            series.run.observe(time.perf_counter() - started)
            series.in_flight.dec()
