"""Prometheus metrics for queue-core (``pip install 'queue-core[prometheus]'``).

::

    queue-core worker app:create --metrics-port 9464      # a worker serving /metrics

    from prometheus_client import CollectorRegistry
    from queue_core.prometheus import QueueCollector
    registry = CollectorRegistry()
    registry.register(QueueCollector("redis://localhost:6379/0"))   # queue depths on scrape

The worker metrics (``WorkerMetrics``) are a pluggy plugin loaded through the
``queue_core`` entry point: with this extra installed every worker and client in the
process counts into prometheus-client's default registry. ``QueueCollector`` reads the
Manager when scraped, cached for a few seconds. ``serve_metrics`` starts the HTTP
endpoint; ``render_metrics`` gives the body and content type for a web app's own
``/metrics`` route, and ``MetricsRoute`` does both for an async app with a Manager (the
dashboard). Every metric is described in ``docs/observability.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from queue_core.prometheus.exposition import MetricsServer, render_metrics, serve_metrics
    from queue_core.prometheus.queues import QueueCollector
    from queue_core.prometheus.route import MetricsRoute
    from queue_core.prometheus.worker import WorkerMetrics

__all__ = ["MetricsRoute", "MetricsServer", "QueueCollector", "WorkerMetrics", "render_metrics", "serve_metrics"]
_HOME = {
    "MetricsServer": "exposition", "render_metrics": "exposition", "serve_metrics": "exposition",
    "QueueCollector": "queues", "WorkerMetrics": "worker", "MetricsRoute": "route",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    # Imported on first use, so that the entry-point module (queue_core.prometheus.plugin)
    # loads without prometheus-client and this package names the extra when it is missing.
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{_HOME[name]}")
    except ImportError as exc:
        raise ImportError(
            f"queue_core.prometheus needs prometheus-client: pip install 'queue-core[prometheus]' ({exc})"
        ) from exc
    return getattr(module, name)
