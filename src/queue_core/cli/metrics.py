"""``queue-core worker --metrics-port``: the Prometheus endpoint of one worker process."""

from __future__ import annotations

import logging
from typing import Protocol

from queue_core.cli.failures import USAGE, CliError
from queue_core.plugins import plugin_manager
from queue_core.worker import Worker

log = logging.getLogger("queue_core.cli")


class Endpoint(Protocol):
    def close(self) -> None: ...


def start(port: int, addr: str, worker: Worker) -> Endpoint:
    """Serve the default registry (the worker metrics plugin's) plus a ``QueueCollector``
    of every queue on the worker's broker, on ``addr:port``, until ``close()``."""
    try:
        from prometheus_client import REGISTRY

        from queue_core.prometheus import QueueCollector, serve_metrics
    except ImportError:
        raise CliError("--metrics-port needs prometheus-client: pip install 'queue-core[prometheus]'", USAGE) from None
    if plugin_manager().get_plugin("prometheus") is None:
        log.warning("the prometheus plugin is disabled (QUEUE_CORE_DISABLED_PLUGINS): no worker metrics are counted")
    collector = None
    if worker.url is not None:
        collector = QueueCollector(worker.url)
        REGISTRY.register(collector)
    else:
        log.warning("the worker was given a Broker, not a URL: its endpoint has no queue metrics")
    try:
        server = serve_metrics(port, addr)
    except OSError as exc:
        if collector is not None:
            REGISTRY.unregister(collector)
        raise CliError(f"--metrics-port {port}: cannot listen on {addr}:{port}: {exc}", USAGE) from None
    log.info("metrics on http://%s:%d/metrics", addr, server.port)
    return _Endpoint(server, collector)


class _Endpoint:
    def __init__(self, server: Endpoint, collector: Endpoint | None) -> None:
        self.server = server
        self.collector = collector

    def close(self) -> None:
        self.server.close()
        if self.collector is not None:
            self.collector.close()
