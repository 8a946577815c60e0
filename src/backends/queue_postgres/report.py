"""The server report (``Broker.server_info``) of a PostgreSQL server.

PostgreSQL never drops stored rows to make room, so there is no eviction policy
(``None``); it has no single "memory used" figure either (shared buffers are a fixed
reservation, the rest is per connection and the OS cache), so ``memory_used`` and
``memory_limit`` are ``None`` and the figures an operator looks at go into ``details``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from queue_core import ServerReport

#: One round trip: the version and the operator's figures (the size is the broker's
#: schema's, tables with their indexes and TOAST: the database's own size would walk every
#: file of every schema). Reading the server's clock here is no transition: uptime is only shown.
QUERY = """
SELECT
  current_setting('server_version'),
  extract(epoch FROM now() - pg_postmaster_start_time())::bigint,
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
  current_setting('max_connections'),
  current_setting('shared_buffers'),
  (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
     WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'r'),
  pg_is_in_recovery(),
  current_setting('port')
"""


def from_row(row: Sequence[Any]) -> ServerReport:
    version, uptime, connections, max_connections, shared_buffers, schema_size, in_recovery, port = row
    return ServerReport(
        backend="postgresql",
        version=str(version),
        details={
            "uptime_in_seconds": str(uptime),
            "connected_clients": str(connections),
            "max_connections": str(max_connections),
            "shared_buffers": str(shared_buffers),
            "schema_size_bytes": str(schema_size),
            "role": "replica" if in_recovery else "primary",
            "port": str(port),
        },
    )
