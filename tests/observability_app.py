"""The APP of the observability tests: ``queue-core worker tests.observability_app:create``.

Job types with known outcomes:

- ``ok``: returns;
- ``flaky``: fails its first attempt (``RuntimeError``), succeeds on the retry (no delay);
- ``doomed``: raises ``SkipRetry`` (archived at once);
- ``wait``: runs until an operator cancels it (archived as cancelled).

With ``OBS_SPAN_FILE`` set, the process exports its spans there through the OpenTelemetry
SDK, one JSON object per line (what a collector would receive).
"""

from __future__ import annotations

import json
import os
from typing import Any

import anyio

from queue_core import Delivery, SkipRetry, Worker

SPAN_FILE_ENV = "OBS_SPAN_FILE"


async def ok(delivery: Delivery) -> str:
    return "ok"


async def flaky(delivery: Delivery) -> str:
    if delivery.retried == 0:
        raise RuntimeError("the first attempt fails")
    return "ok on retry"


async def doomed(delivery: Delivery) -> None:
    raise SkipRetry("never works")


async def wait(delivery: Delivery) -> None:
    await anyio.sleep_forever()


def export_spans(path: str) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    def line(span: ReadableSpan) -> str:
        return json.dumps(json.loads(span.to_json()), separators=(",", ":")) + "\n"

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=open(path, "a"), formatter=line)))  # noqa: SIM115 -- open for the process's life
    trace.set_tracer_provider(provider)


def create(url: str = "memory://", **options: Any) -> Worker:
    if os.environ.get(SPAN_FILE_ENV):
        export_spans(os.environ[SPAN_FILE_ENV])
    options.setdefault("shutdown_timeout", 2.0)
    options.setdefault("heartbeat_interval", 0.5)
    worker = Worker(url, **options)
    worker.register("ok", ok)
    worker.register("flaky", flaky, retry_delay=lambda retried, error: 0.0)
    worker.register("doomed", doomed)
    worker.register("wait", wait)
    return worker
