"""The Redis driver: the reference implementation of queue-core's Broker protocol.

Every state transition is one Lua script (``lua/``) run atomically on the server; this
module only plans calls, batches them into round trips and decodes replies.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from queue_core import Capabilities
from queue_redis import connect
from queue_redis.admin import AdminOps
from queue_redis.aggregation import AggregationOps
from queue_redis.coordination import CoordinationOps
from queue_redis.inspection import InspectionOps
from queue_redis.keys import DEFAULT_PREFIX, GlobalKeys
from queue_redis.layout import LayoutGuard
from queue_redis.maintenance import MaintenanceOps
from queue_redis.metrics import MetricsOps
from queue_redis.processing import ProcessingOps
from queue_redis.testing import TestingOps
from queue_redis.wire.transport import Transport

#: Every script touches one queue's hash slot and global keys take single-key commands,
#: so the same driver serves standalone Redis, Sentinel and Cluster.
REDIS_CAPABILITIES = Capabilities(
    name="redis",
    blocking_wait=True,
    memory_usage=True,
    cluster_safe=True,
    features=frozenset({"admin", "aggregation", "coordination", "dependencies", "metrics", "testing"}),
)
#: On a cluster the testing interface's footprint would have to visit every node.
REDIS_CLUSTER_CAPABILITIES = replace(REDIS_CAPABILITIES, features=REDIS_CAPABILITIES.features - {"testing"})


class RedisBroker(
    ProcessingOps, MaintenanceOps, InspectionOps, AdminOps, AggregationOps, CoordinationOps, MetricsOps, TestingOps
):
    """Broker over Redis (and, through ``queue_fakeredis``, over an in-process fakeredis)."""

    capabilities: Capabilities = REDIS_CAPABILITIES

    def __init__(
        self,
        transport: Transport,
        *,
        prefix: str = DEFAULT_PREFIX,
        capabilities: Capabilities | None = None,
    ) -> None:
        self._keys = GlobalKeys(prefix)
        # Every command, the first included, waits for the storage layout check (layout.py).
        self._transport: Transport = LayoutGuard(transport, self._keys.layout, self._keys.queues)
        if capabilities is not None:
            self.capabilities = capabilities

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str | None = None, namespace: str | None = None, **client_options: Any
    ) -> RedisBroker:
        """Connect lazily to ``url`` (see ``queue_redis.connect`` for the schemes).

        ``prefix`` (or ``?prefix=`` in the URL) namespaces every key; ``namespace`` is the
        driver-neutral name for it (the conformance kit's). Under asyncio the
        driver uses redis.asyncio; under trio, redis-py's sync client on threads.
        """
        prefix = prefix or namespace
        target = connect.parse(url)
        options: dict[str, Any] = {"socket_connect_timeout": 5, **client_options}
        transport, cluster = connect.open_transport(target, options)
        capabilities = REDIS_CLUSTER_CAPABILITIES if cluster else None
        return cls(transport, prefix=prefix or target.prefix or DEFAULT_PREFIX, capabilities=capabilities)

    # ---- lifecycle

    async def ping(self) -> None:
        await self._transport.execute([("PING",)])

    async def close(self) -> None:
        await self._transport.close()

    async def server_time(self) -> float:
        [(seconds, micros)] = await self._transport.execute([("TIME",)])
        return int(seconds) + int(micros) / 1_000_000
