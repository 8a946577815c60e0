"""psycopg and psycopg_pool come with the ``postgres`` extra; without them the driver
raises ``MissingDependency`` naming it (``pip install 'queue-core[postgres]'``)."""

from __future__ import annotations

from queue_core import MissingDependency

FEATURE = "the PostgreSQL driver (postgresql://)"

try:
    import psycopg
    import psycopg_pool
    from psycopg.types.json import Jsonb
except ModuleNotFoundError as exc:
    if exc.name is None or exc.name.partition(".")[0] not in ("psycopg", "psycopg_pool"):
        raise
    raise MissingDependency(FEATURE, "postgres") from exc

__all__ = ["Jsonb", "psycopg", "psycopg_pool"]
