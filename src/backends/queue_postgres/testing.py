"""The optional testing interface (``queue_core.BrokerTestHooks``): crash windows and the
storage footprint, for the conformance kit. Never called by the core."""

from __future__ import annotations

import functools
import re

from queue_core import Footprint
from queue_postgres import sqlfiles
from queue_postgres.base import BrokerBase, unsupported

#: Tables whose rows carry the time after which they may go, and that a transition
#: deletes once it has passed (Redis lets the same storage expire): they are not
#: storage that "never goes away on its own". Every other table of the schema is.
EXPIRING_TABLES = frozenset({"claims", "buckets", "metric_minutes", "metrics", "daily", "unique_locks"})
_CREATED = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?_qc_\.(\w+)")


@functools.cache
def tables() -> tuple[str, ...]:
    """Every table a migrated schema holds: those the migrations create, and the migration
    runner's own. Read from the shipped files, not the catalog: with many schemas in one
    database a catalog scan costs more than the counts."""
    created = {name for migration in sqlfiles.migrations() for name in _CREATED.findall(migration.text)}
    return tuple(sorted(created | {"schema_migrations", "schema_functions"}))


class PostgresTestHooks(BrokerBase):
    async def lose_lease(self, queue: str, job_id: str) -> bool:
        self._require_testing("lose_lease")
        # The row keeps its lease token, so the lease still fences writes; only the expiry is lost.
        rows = await self._query(
            "UPDATE _qc_.jobs SET lease_expires_at = NULL WHERE queue = %s AND id = %s AND state = 'active'"
            " RETURNING 1",
            queue,
            job_id,
        )
        return bool(rows)

    async def footprint(self) -> Footprint:
        """Every table of the broker's schema and its rows, in one query (not atomic)."""
        self._require_testing("footprint")
        names = tables()
        schema = sqlfiles.quoted(self._schema)
        counts = await self._query(
            " UNION ALL ".join(f'SELECT %s, count(*) FROM {schema}."{name}"' for name in names), *names
        )
        return Footprint(
            items={name: int(count) for name, count in counts},
            persistent=frozenset(name for name in names if name not in EXPIRING_TABLES),
        )

    def _require_testing(self, operation: str) -> None:
        if "testing" not in self.capabilities.features:
            unsupported(operation)
