"""OpenTelemetry for queue-core (``pip install 'queue-core[otel]'``): traces across the
queue and metrics through the OpenTelemetry API.

Two pluggy plugins, loaded through the ``queue_core`` entry points ``otel`` (traces) and
``otel-metrics`` (metrics). They use the API only: with no SDK configured every span and
instrument is a no-op, and the application chooses the SDK, exporters and sampling.

- ``Client.enqueue`` opens a PRODUCER span ``send <queue>`` and writes its W3C trace
  context into the job's headers (``traceparent``, ``tracestate``); a scheduler firing a
  tick starts a trace of its own.
- A worker opens a CONSUMER span ``process <queue>`` around every attempt: a child of the
  producer's span (default), or the root of a new trace linked to it
  (``configure(consumer_parent="link")`` or ``QUEUE_CORE_OTEL_CONSUMER_PARENT=link``).

The span model and attributes are in ``docs/observability.md``.
"""

from __future__ import annotations

try:
    import opentelemetry.trace  # noqa: F401 -- only to fail early with the install hint
except ImportError as exc:  # pragma: no cover -- the extra is installed wherever tests run
    raise ImportError("queue_core.otel needs opentelemetry-api: pip install 'queue-core[otel]'") from exc

from queue_core.otel.metrics import OTelMetrics
from queue_core.otel.tracing import CONSUMER_PARENTS, Tracing, configure

__all__ = ["CONSUMER_PARENTS", "OTelMetrics", "Tracing", "configure"]
