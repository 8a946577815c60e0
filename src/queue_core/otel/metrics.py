"""The worker and producer metrics through the OpenTelemetry metrics API.

The same counts as ``queue_core.prometheus.WorkerMetrics``, for applications that export
metrics with an OpenTelemetry SDK (OTLP, or the SDK's own Prometheus reader) instead of
prometheus-client. Instrument names follow OpenTelemetry's style (dots, unit apart);
each job series carries ``messaging.destination.name`` (the queue) and
``messaging.queue_core.job_type``.
"""

from __future__ import annotations

from queue_core.extras import require

require("opentelemetry", feature="queue_core.otel", extra="otel")

import time
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics

from queue_core.hookspecs import hookimpl
from queue_core.otel import attributes as attr
from queue_core.worker.middleware import CallNext, Middleware

if TYPE_CHECKING:
    from queue_core.worker.delivery import Delivery

METER_NAME = "queue_core"
#: the reason a cancelled job is archived with (the runner's).
CANCELLED = "cancelled"


class OTelMetrics:
    """The metrics plugin (loaded through the ``otel-metrics`` entry point)."""

    def __init__(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        meter = metrics.get_meter(METER_NAME, meter_provider=meter_provider)

        def counter(name: str, description: str, unit: str = "{job}") -> metrics.Counter:
            return meter.create_counter(f"queue_core.{name}", unit=unit, description=description)

        def histogram(name: str, description: str) -> metrics.Histogram:
            return meter.create_histogram(f"queue_core.{name}", unit="s", description=description)

        self.enqueued = counter("jobs.enqueued", "Jobs stored by clients and schedulers of this process.")
        self.started = counter("jobs.started", "Attempts started.")
        self.succeeded = counter("jobs.succeeded", "Attempts that returned normally.")
        self.failed = counter("jobs.failed", "Attempts that failed.")
        self.retried = counter("jobs.retried", "Jobs sent to retry after a failed attempt.")
        self.bounced = counter("jobs.bounced", "Jobs put back without using a retry.")
        self.archived = counter("jobs.archived", "Jobs archived by a worker (cancelled ones included).")
        self.cancelled = counter("jobs.cancelled", "Jobs archived because an operator cancelled them.")
        self.lost = counter("leases.lost", "Running jobs whose lease was lost.")
        self.renewals = counter("lease.renewals", "Leases of running jobs extended.", "{lease}")
        self.broker_errors = counter("broker.errors", "Failed broker calls of workers, by operation.", "{error}")
        self.reconnects = counter("broker.reconnects", "Operations that succeeded again after failing.", "{reconnect}")
        self.in_flight = meter.create_up_down_counter("queue_core.jobs.in_flight", unit="{job}",
                                                      description="Handlers running now.")  # fmt: skip
        self.run = histogram("job.run.duration", "Run time of one attempt.")
        self.pickup = histogram("job.pickup.duration", "Enqueue to the start of the first attempt.")
        self._attributes: dict[tuple[str, str], dict[str, str]] = {}

    def attributes(self, queue: str, job_type: str) -> dict[str, str]:
        key = (queue, job_type)
        found = self._attributes.get(key)
        if found is None:
            found = self._attributes[key] = {attr.DESTINATION: queue, attr.JOB_TYPE: job_type}
        return found

    @hookimpl
    def queue_core_job_enqueued(self, queue: str, job_type: str) -> None:
        self.enqueued.add(1, self.attributes(queue, job_type))

    @hookimpl
    def queue_core_job_started(self, queue: str, job_type: str) -> None:
        self.started.add(1, self.attributes(queue, job_type))

    @hookimpl
    def queue_core_job_succeeded(self, queue: str, job_type: str) -> None:
        self.succeeded.add(1, self.attributes(queue, job_type))

    @hookimpl
    def queue_core_job_failed(self, queue: str, job_type: str) -> None:
        self.failed.add(1, self.attributes(queue, job_type))

    @hookimpl
    def queue_core_job_retrying(self, queue: str, job_type: str, counts_as_failure: bool) -> None:
        (self.retried if counts_as_failure else self.bounced).add(1, self.attributes(queue, job_type))

    @hookimpl
    def queue_core_job_archived(self, queue: str, job_type: str, reason: str) -> None:
        attributes = self.attributes(queue, job_type)
        self.archived.add(1, attributes)
        if reason == CANCELLED:
            self.cancelled.add(1, attributes)

    @hookimpl
    def queue_core_leases_renewed(self, count: int) -> None:
        self.renewals.add(count)

    @hookimpl
    def queue_core_lease_lost(self, queue: str, job_type: str) -> None:
        self.lost.add(1, self.attributes(queue, job_type))

    @hookimpl
    def queue_core_broker_error(self, operation: str) -> None:
        self.broker_errors.add(1, {"queue_core.operation": operation})

    @hookimpl
    def queue_core_broker_reconnected(self, operation: str) -> None:
        self.reconnects.add(1, {"queue_core.operation": operation})

    @hookimpl
    def queue_core_worker_middleware(self) -> list[Middleware]:
        return [self.measure]

    async def measure(self, delivery: Delivery, call_next: CallNext) -> Any:
        attributes = self.attributes(delivery.queue, delivery.type)
        record = delivery.record
        if not (record.retried or record.crashes or record.bounces) and record.enqueued_at:
            self.pickup.record(max(0.0, time.time() - record.enqueued_at), attributes)
        self.in_flight.add(1, attributes)
        started = time.perf_counter()
        try:
            return await call_next(delivery)
        finally:
            self.run.record(time.perf_counter() - started, attributes)
            self.in_flight.add(-1, attributes)
