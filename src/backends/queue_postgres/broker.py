"""The PostgreSQL driver: queue-core's Broker protocol over psycopg 3.

Every state transition is one PL/pgSQL function (``sql/``) run in one round trip; this
module composes the concerns, each a mixin over ``base.BrokerBase``.
"""

from __future__ import annotations

import sniffio

from queue_core import Capabilities
from queue_postgres import url as urls
from queue_postgres.admin import AdminMixin
from queue_postgres.aggregation import AggregationMixin
from queue_postgres.coordination import CoordinationMixin
from queue_postgres.database import open_database
from queue_postgres.dependencies import DependencyOps
from queue_postgres.inspection import InspectionMixin
from queue_postgres.listen import Listener
from queue_postgres.maintenance import MaintenanceOps
from queue_postgres.metrics import MetricsMixin
from queue_postgres.testing import PostgresTestHooks
from queue_postgres.transactional import TransactionalOps

POSTGRES_CAPABILITIES = Capabilities(
    name="postgresql",
    blocking_wait=True,
    memory_usage=True,
    cluster_safe=False,
    features=frozenset({"admin", "aggregation", "coordination", "dependencies", "metrics", "testing"}),
    transactional=True,
)


class PostgresBroker(
    TransactionalOps,
    MaintenanceOps,
    DependencyOps,
    InspectionMixin,
    AdminMixin,
    AggregationMixin,
    CoordinationMixin,
    MetricsMixin,
    PostgresTestHooks,
):
    """Broker over PostgreSQL; ``?schema=`` namespaces it."""

    capabilities: Capabilities = POSTGRES_CAPABILITIES

    def __init__(self, target: urls.Target, runtime: str) -> None:
        self._target = target
        self._schema = target.schema
        self._db = open_database(target, runtime)
        self._listener = Listener(target.conninfo)
        self._sql_cache = {}
        self._waited_queues = set()

    @classmethod
    def from_url(
        cls, url: str, *, schema: str | None = None, namespace: str | None = None, prefix: str | None = None
    ) -> PostgresBroker:
        """Connect lazily to ``url``. Under asyncio psycopg's async pool, under trio its
        sync pool on worker threads. The schema (``schema=``, or ``namespace=``, the
        driver-neutral name the conformance kit uses, or ``prefix=``, the Redis driver's,
        so that code written for one opens the other; else ``?schema=``) is created or
        migrated on first use unless ``?migrate=false``."""
        target = urls.parse(url, schema=next((n for n in (schema, namespace, prefix) if n is not None), None))
        try:
            runtime = sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            runtime = "asyncio"
        return cls(target, runtime)

    # ---- lifecycle

    async def ping(self) -> None:
        await self._db.fetch("SELECT 1", ())

    async def close(self) -> None:
        await self._listener.close()
        await self._db.close()

    async def server_time(self) -> float:
        [(seconds,)] = await self._db.fetch("SELECT extract(epoch FROM clock_timestamp())::float8", ())
        return float(seconds)
