"""Serving the metrics: an HTTP endpoint of its own, or a body for a web app's route."""

from __future__ import annotations

from queue_core.extras import require

require("prometheus_client", feature="queue_core.prometheus", extra="prometheus")

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.exposition import choose_encoder


@dataclass
class MetricsServer:
    """A running metrics endpoint (``serve_metrics``); ``close()`` stops it."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def serve_metrics(port: int, addr: str = "0.0.0.0", registry: CollectorRegistry = REGISTRY) -> MetricsServer:
    """Serve ``registry`` on ``http://addr:port/metrics`` from a daemon thread (port 0:
    a free one, see ``.port``)."""
    server, thread = start_http_server(port, addr, registry)
    return MetricsServer(server, thread)


def render_metrics(registry: CollectorRegistry = REGISTRY, accept: str | None = None) -> tuple[bytes, str]:
    """The exposition of ``registry`` for a request's ``Accept`` header: ``(body,
    content_type)``, ready for any web framework's response."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
