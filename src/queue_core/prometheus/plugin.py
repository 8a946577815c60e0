"""The entry point ``queue_core = prometheus``: the worker metrics on the default registry.

Loaded by every process that uses queue-core. Without prometheus-client (the
``prometheus`` extra) ``plugin`` is an object with no hook implementations, so the plugin
is off and costs nothing. Set ``QUEUE_CORE_DISABLED_PLUGINS=prometheus`` to switch it off
with the extra installed.
"""

from __future__ import annotations

plugin: object
try:
    from queue_core.prometheus.worker import WorkerMetrics
except ImportError:
    plugin = object()
else:
    plugin = WorkerMetrics()
