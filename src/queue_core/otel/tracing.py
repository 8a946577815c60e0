"""Spans across the queue: PRODUCER at enqueue, CONSUMER per attempt, context in headers."""

from __future__ import annotations

from queue_core.extras import require

require("opentelemetry", feature="queue_core.otel", extra="otel")

import os
import threading
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from queue_core import errors
from queue_core.hookspecs import hookimpl
from queue_core.otel import attributes as attr
from queue_core.worker.middleware import CallNext, Middleware

if TYPE_CHECKING:
    from queue_core.job import Job
    from queue_core.worker.delivery import Delivery

TRACER_NAME = "queue_core"
CONSUMER_PARENT_ENV = "QUEUE_CORE_OTEL_CONSUMER_PARENT"
#: "child": the consumer span continues the producer's trace; "link": it starts a trace
#: of its own with a link to the producer's span (long-lived or fan-out workflows).
CONSUMER_PARENTS = ("child", "link")


def _consumer_parent(value: str) -> str:
    if value not in CONSUMER_PARENTS:
        raise errors.ValidationError("consumer_parent", value, "'child' or 'link'")
    return value


class Tracing:
    """The tracing plugin (one per process, loaded through the ``otel`` entry point).

    ``tracer_provider``: where spans go (default the global one: the API's proxy tracer
    follows an SDK configured after this plugin loaded). ``consumer_parent``: ``"child"``
    or ``"link"`` (default ``QUEUE_CORE_OTEL_CONSUMER_PARENT``, else ``"child"``).
    """

    def __init__(self, tracer_provider: trace.TracerProvider | None = None, consumer_parent: str | None = None) -> None:
        self.tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)
        self.consumer_parent = _consumer_parent(consumer_parent or os.environ.get(CONSUMER_PARENT_ENV) or "child")
        # Open PRODUCER spans by (queue, job ID), from "enqueueing" to "enqueued"/"enqueue_failed".
        self._producing: dict[tuple[str, str], Span] = {}
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- producer

    @hookimpl
    def queue_core_job_enqueueing(self, job: Job, origin: str) -> dict[str, str] | None:
        assert job.job_id is not None
        attributes: dict[str, Any] = {
            attr.MESSAGING_SYSTEM: attr.SYSTEM, attr.DESTINATION: job.queue, attr.MESSAGE_ID: job.job_id,
            attr.OPERATION_TYPE: "send", attr.OPERATION_NAME: "enqueue", attr.JOB_TYPE: job.type,
        }  # fmt: skip
        parent = None
        if origin == "scheduler":
            # A fired schedule is the start of its own story, not part of whatever the
            # scheduler's process was doing.
            parent = otel_context.Context()
            if "schedule_id" in job.headers:
                attributes[attr.SCHEDULE_ID] = job.headers["schedule_id"]
        span = self.tracer.start_span(f"send {job.queue}", context=parent, kind=SpanKind.PRODUCER,
                                      attributes=attributes)  # fmt: skip
        with self._lock:
            self._producing[(job.queue, job.job_id)] = span
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(span))
        return carrier or None

    @hookimpl
    def queue_core_job_enqueued(self, queue: str, job_id: str) -> None:
        with self._lock:
            span = self._producing.pop((queue, job_id), None)
        if span is not None:
            span.end()

    @hookimpl
    def queue_core_job_enqueue_failed(self, queue: str, job_id: str, error: BaseException) -> None:
        with self._lock:
            span = self._producing.pop((queue, job_id), None)
        if span is not None:
            _failed(span, error)
            span.end()

    # ----------------------------------------------------------------- consumer

    @hookimpl
    def queue_core_worker_middleware(self) -> list[Middleware]:
        return [self.consume]

    async def consume(self, delivery: Delivery, call_next: CallNext) -> Any:
        """The CONSUMER span of one attempt, current while the handler runs."""
        carried = propagate.extract(delivery.headers)
        if self.consumer_parent == "link":
            producer = trace.get_current_span(carried).get_span_context()
            parent, links = otel_context.Context(), ([Link(producer)] if producer.is_valid else [])
        else:
            parent, links = carried, []
        attributes: dict[str, Any] = {
            attr.MESSAGING_SYSTEM: attr.SYSTEM, attr.DESTINATION: delivery.queue, attr.MESSAGE_ID: delivery.id,
            attr.OPERATION_TYPE: "process", attr.OPERATION_NAME: "process", attr.JOB_TYPE: delivery.type,
            attr.RETRY_COUNT: delivery.retried, attr.ATTEMPT: delivery.attempt,
        }  # fmt: skip
        span = self.tracer.start_span(f"process {delivery.queue}", context=parent, kind=SpanKind.CONSUMER,
                                      attributes=attributes, links=links)  # fmt: skip
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            return await call_next(delivery)
        except BaseException as exc:
            if not isinstance(exc, errors.Revoke):
                _failed(span, exc)
            raise
        finally:
            otel_context.detach(token)
            span.end()


def _failed(span: Span, error: BaseException) -> None:
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


def configure(*, consumer_parent: str) -> None:
    """Set how the installed tracing plugin parents consumer spans: ``"child"`` of the
    producer span, or a new trace with a ``"link"`` to it."""
    from queue_core.otel.plugin import tracing

    if not isinstance(tracing, Tracing):  # pragma: no cover -- only without the extra
        raise RuntimeError("the otel plugin is not loaded: pip install 'queue-core[otel]'")
    tracing.consumer_parent = _consumer_parent(consumer_parent)
