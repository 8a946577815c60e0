"""``MetricsRoute``: the ``/metrics`` of an async web app that has a Manager (the dashboard)."""

from __future__ import annotations

from queue_core.extras import require

require("prometheus_client", feature="queue_core.prometheus", extra="prometheus")

from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.registry import Collector

from queue_core.manager import Manager
from queue_core.prometheus.exposition import render_metrics
from queue_core.prometheus.queues import DEFAULT_CACHE_SECONDS, QueueCollector


class _Both(Collector):
    """The process's registry and the route's queue collector, as one."""

    def __init__(self, process: CollectorRegistry, queues: QueueCollector) -> None:
        self.process = process
        self.queues = queues

    def collect(self) -> Iterator[Any]:
        yield from self.process.collect()
        yield from self.queues.collect()


class MetricsRoute:
    """Renders the metrics for one ``/metrics`` request: the process's registry (the worker
    and producer metrics of the ``prometheus`` plugin, the process collectors) plus the
    queue metrics, read through the app's own Manager at most once per ``cache_seconds``.

    ::

        route = MetricsRoute()

        async def metrics(request):                        # any async framework
            body, content_type = await route(manager, request.headers.get("accept"))
            return Response(body, headers={"Content-Type": content_type})
    """

    def __init__(self, registry: CollectorRegistry = REGISTRY, cache_seconds: float = DEFAULT_CACHE_SECONDS) -> None:
        self.collector = QueueCollector(cache_seconds=cache_seconds)
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Both(registry, self.collector))

    async def __call__(self, manager: Manager, accept: str | None = None) -> tuple[bytes, str]:
        """``(body, content_type)`` for a request with this ``Accept`` header."""
        try:
            await self.collector.refresh(manager)
        except Exception as exc:  # a broker that does not answer: export collector_up 0
            self.collector.failed(exc)
        return render_metrics(self._registry, accept)
