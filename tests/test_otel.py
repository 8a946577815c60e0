"""OpenTelemetry across the queue: the PRODUCER span in the enqueueing process (this one,
spans kept in memory) and the CONSUMER spans in a worker process (spans written to a
file by the SDK) share the trace; each attempt is a span of its own."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from queue_core import Client
from queue_core.otel import Tracing
from queue_core.plugins import plugin_manager, register
from tests.observability_app import SPAN_FILE_ENV
from tests.observability_kit import eventually, worker_process


@pytest.fixture
def producer_spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A tracing plugin of this test's own (the global tracer provider stays untouched,
    so other tests see no trace headers)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(tracer_provider=provider)
    register(tracing, name=f"test-tracing-{secrets.token_hex(3)}")
    try:
        yield provider, exporter
    finally:
        plugin_manager().unregister(tracing)


def hex_id(value: int, width: int) -> str:
    return f"0x{value:0{width}x}"


def read_spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def consumer_spans(path: Path, count: int) -> list[dict[str, Any]]:
    async def written() -> bool:
        return len(read_spans(path)) >= count

    await eventually(written, f"{count} consumer spans in {path}")
    return read_spans(path)


def producer_of(spans: tuple[ReadableSpan, ...], job_id: str) -> ReadableSpan:
    (span,) = [s for s in spans if s.attributes is not None and s.attributes.get("messaging.message.id") == job_id]
    return span


pytestmark = pytest.mark.redis


async def test_the_consumer_spans_continue_the_producers_trace_one_per_attempt(
    redis_url: str, anyio_backend: str, tmp_path: Path, producer_spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = producer_spans
    url = f"{redis_url}?prefix=otel-{secrets.token_hex(4)}"
    span_file = tmp_path / "worker-spans.jsonl"
    async with Client(url) as client:
        with provider.get_tracer("test").start_as_current_span("web request") as request:
            ok = await client.enqueue("ok")
            flaky = await client.enqueue("flaky")
        assert "traceparent" in ok.headers
        async with worker_process(url, anyio_backend, env={SPAN_FILE_ENV: str(span_file)}):
            consumed = await consumer_spans(span_file, 3)
    produced = exporter.get_finished_spans()
    request_context = request.get_span_context()

    for info, attempts in ((ok, 1), (flaky, 2)):
        producer = producer_of(produced, info.id)
        assert producer.kind is SpanKind.PRODUCER and producer.name == "send default"
        assert producer.parent is not None and producer.parent.span_id == request_context.span_id
        assert dict(producer.attributes or {}) == {
            "messaging.system": "queue_core", "messaging.destination.name": "default", "messaging.message.id": info.id,
            "messaging.operation.type": "send", "messaging.operation.name": "enqueue",
            "messaging.queue_core.job_type": info.type,
        }  # fmt: skip
        spans = sorted((s for s in consumed if s["attributes"]["messaging.message.id"] == info.id),
                       key=lambda s: s["attributes"]["messaging.queue_core.attempt"])  # fmt: skip
        assert len(spans) == attempts
        for number, span in enumerate(spans, start=1):
            assert span["name"] == "process default" and span["kind"] == "SpanKind.CONSUMER"
            assert span["context"]["trace_id"] == hex_id(request_context.trace_id, 32)
            assert span["parent_id"] == hex_id(producer.context.span_id, 16)
            assert span["attributes"] == {
                "messaging.system": "queue_core", "messaging.destination.name": "default",
                "messaging.message.id": info.id, "messaging.operation.type": "process",
                "messaging.operation.name": "process", "messaging.queue_core.job_type": info.type,
                "messaging.queue_core.retry_count": number - 1, "messaging.queue_core.attempt": number,
            }  # fmt: skip
    first, second = sorted((s for s in consumed if s["attributes"]["messaging.message.id"] == flaky.id),
                           key=lambda s: s["attributes"]["messaging.queue_core.attempt"])  # fmt: skip
    assert first["status"]["status_code"] == "ERROR"
    assert first["status"]["description"] == "RuntimeError: the first attempt fails"
    (event,) = first["events"]
    assert event["name"] == "exception" and event["attributes"]["exception.type"] == "RuntimeError"
    assert second["status"]["status_code"] == "UNSET" and second["events"] == []
    assert all(span.status.status_code is StatusCode.UNSET for span in produced)


async def test_linked_consumer_spans_start_traces_of_their_own(
    redis_url: str, anyio_backend: str, tmp_path: Path, producer_spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    _, exporter = producer_spans
    url = f"{redis_url}?prefix=otel-{secrets.token_hex(4)}"
    span_file = tmp_path / "worker-spans.jsonl"
    env = {SPAN_FILE_ENV: str(span_file), "QUEUE_CORE_OTEL_CONSUMER_PARENT": "link"}
    async with Client(url) as client:
        info = await client.enqueue("ok")
        async with worker_process(url, anyio_backend, env=env):
            (consumer,) = await consumer_spans(span_file, 1)
    producer = producer_of(exporter.get_finished_spans(), info.id)
    assert consumer["parent_id"] is None
    assert consumer["context"]["trace_id"] != hex_id(producer.context.trace_id, 32)
    (link,) = consumer["links"]
    assert link["context"]["trace_id"] == hex_id(producer.context.trace_id, 32)
    assert link["context"]["span_id"] == hex_id(producer.context.span_id, 16)


async def test_a_refused_enqueue_ends_its_producer_span_with_the_error(
    broker_url: str, producer_spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    _, exporter = producer_spans
    async with Client(broker_url, broker_options={"prefix": f"otel-{secrets.token_hex(4)}"}) as client:
        first = await client.enqueue("ok", unique_for=60)
        with pytest.raises(Exception, match="duplicate"):
            await client.enqueue("ok", unique_for=60)
    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    stored, refused = sorted(spans, key=lambda s: s.start_time or 0)
    assert stored.attributes is not None and stored.attributes["messaging.message.id"] == first.id
    assert stored.status.status_code is StatusCode.UNSET
    assert refused.status.status_code is StatusCode.ERROR and "DuplicateJob" in (refused.status.description or "")
    assert [event.name for event in refused.events] == ["exception"]
