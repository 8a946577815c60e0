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
``/metrics`` route. Every metric is described in ``docs/observability.md``.
"""

from __future__ import annotations

try:
    import prometheus_client  # noqa: F401 -- only to fail early with the install hint
except ImportError as exc:  # pragma: no cover -- the extra is installed wherever tests run
    raise ImportError("queue_core.prometheus needs prometheus-client: pip install 'queue-core[prometheus]'") from exc

from queue_core.prometheus.exposition import MetricsServer, render_metrics, serve_metrics
from queue_core.prometheus.queues import QueueCollector
from queue_core.prometheus.worker import WorkerMetrics

__all__ = ["MetricsServer", "QueueCollector", "WorkerMetrics", "render_metrics", "serve_metrics"]
