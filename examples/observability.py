"""Observability in one process: Prometheus metrics, a trace across the queue, JSON logs.

Needs ``pip install 'queue-core[prometheus,otel]' opentelemetry-sdk``. Runs on the
embedded ``memory://`` broker: a producer enqueues inside a span, a worker runs the jobs
(one fails once and is retried), then the script scrapes its own ``/metrics`` endpoint
and prints the trace it exported. See docs/observability.md.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import urllib.request
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import REGISTRY

from queue_core import Client, Delivery, Worker, retry
from queue_core.logs import JsonFormatter
from queue_core.prometheus import QueueCollector, serve_metrics

URL = "memory://observability-example"
spans: list[ReadableSpan] = []


class Keep(SpanExporter):
    """Keeps the finished spans for the printout (a real app exports them with OTLP)."""

    def export(self, batch: Sequence[ReadableSpan]) -> SpanExportResult:
        spans.extend(batch)
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(Keep()))
trace.set_tracer_provider(provider)

worker = Worker(URL, concurrency=2, shutdown_timeout=1)
done: list[str] = []


@worker.handler("thumbnail")
async def thumbnail(delivery: Delivery) -> None:
    done.append(delivery.id)
    if len(done) == 3:
        worker.stop()


@worker.handler("upload", retry_delay=retry.fixed(0.1))
async def upload(delivery: Delivery) -> None:
    if delivery.attempt == 1:
        raise ConnectionError("storage busy")  # logged as JSON, recorded on the span
    await thumbnail(delivery)


async def main() -> None:
    collector = QueueCollector(URL, cache_seconds=0)
    REGISTRY.register(collector)
    server = serve_metrics(0, "127.0.0.1")
    try:
        async with Client(URL) as client:
            with trace.get_tracer("example").start_as_current_span("web request"):
                await client.enqueue("thumbnail", {"photo": 1})
                await client.enqueue("thumbnail", {"photo": 2})
                await client.enqueue("upload", {"photo": 3})
            await worker.run()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics") as response:
            metrics = response.read().decode()
    finally:
        server.close()
        collector.close()
    print("metrics:")
    for line in metrics.splitlines():
        counted = line.startswith("queue_core_jobs_") and "_total{" in line and not line.endswith(" 0.0")
        if counted or line.startswith("queue_core_queue_processed_total"):
            print(" ", line)
    print("trace:")
    for span in sorted(spans, key=lambda s: s.start_time or 0):
        attributes = span.attributes or {}
        attempt = f" attempt {attributes['messaging.queue_core.attempt']}" if span.kind.name == "CONSUMER" else ""
        print(f"  {span.name} ({span.kind.name}){attempt} trace {span.context.trace_id:032x}"
              f" status {span.status.status_code.name}")  # fmt: skip


if __name__ == "__main__":
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    asyncio.run(main())
