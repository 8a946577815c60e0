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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from queue_core.otel.metrics import OTelMetrics
    from queue_core.otel.tracing import CONSUMER_PARENTS, Tracing, configure

__all__ = ["CONSUMER_PARENTS", "OTelMetrics", "Tracing", "configure"]
_HOME = {"OTelMetrics": "metrics", "Tracing": "tracing", "CONSUMER_PARENTS": "tracing", "configure": "tracing"}


def __getattr__(name: str) -> Any:
    # Imported on first use, so that the entry-point module (queue_core.otel.plugin) loads
    # without opentelemetry-api and this package names the extra when it is missing.
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{_HOME[name]}")
    except ImportError as exc:
        raise ImportError(f"queue_core.otel needs opentelemetry-api: pip install 'queue-core[otel]' ({exc})") from exc
    return getattr(module, name)
