"""The entry points ``queue_core = otel`` (``tracing``) and ``otel-metrics`` (``metrics``).

Without opentelemetry-api (the ``otel`` extra) both are objects with no hook
implementations: off, at no cost. ``QUEUE_CORE_DISABLED_PLUGINS=otel`` (or
``otel-metrics``) switches one off with the extra installed.
"""

from __future__ import annotations

tracing: object
metrics: object
try:
    from queue_core.otel.metrics import OTelMetrics
    from queue_core.otel.tracing import Tracing
except ImportError:
    tracing, metrics = object(), object()
else:
    tracing = Tracing()
    metrics = OTelMetrics()
