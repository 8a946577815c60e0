"""What every part of the PostgreSQL broker shares: the database, the listener, the
schema, and the one way a transition runs.

How a mixin runs a transition
-----------------------------
1. Write ``sql/<name>.sql``: a header like the Redis driver's Lua files (arguments,
   reply, what it does), then ``CREATE OR REPLACE FUNCTION _qc_.<name>(...)``. ``_qc_.``
   stands for the broker's schema: write every table and function name with it. The
   migration runner installs every file of ``sql/`` (again whenever any file changes).
2. Call it in one round trip: ``await self._call("<name>", arg, ...)`` for a function
   returning one value (jsonb comes back as Python objects; wrap a dict/list argument in
   ``Jsonb(...)``), ``await self._rows("<name>", arg, ...)`` for a set-returning one
   (``SELECT * FROM``). Plain reads that are not transitions may use
   ``await self._query("SELECT ... FROM _qc_.jobs WHERE ...", arg, ...)``.
3. Time: pass the caller's ``now`` as an argument; never ``now()`` or ``clock_timestamp()``
   inside a transition (``server_time`` is the only reader of the server's clock).
4. Wake-ups: a transition announces with ``PERFORM _qc_.wake(queue)`` (work may be in
   ``queue``) and ``PERFORM _qc_.finished(queue, ids)`` (jobs that completed, were
   archived or deleted); both deliver at commit (``sql/_common.sql``).
5. Errors: the database maps psycopg's exceptions at the edge; a function raises an
   SQL error only for a bug. "Not found" and refusals are part of the reply.

The schema (``migrations/0001_jobs.sql``) documents which column means what in each
job state and which index orders each state.
"""

from __future__ import annotations

from typing import Any

from queue_core import Capabilities, QueueNotFound

# Shared by every driver; imported from here by this driver's modules.
from queue_core.drivers import entry_state as entry_state
from queue_core.drivers import grouped as grouped
from queue_core.drivers import unsupported as unsupported
from queue_core.drivers import utc_day as utc_day
from queue_postgres import sqlfiles
from queue_postgres.database import Database, Rows
from queue_postgres.extra import Jsonb as Jsonb
from queue_postgres.listen import Listener

#: Daily counters are kept this long (as on Redis).
STATS_TTL_SECONDS = 90 * 24 * 3600


class BrokerBase:
    capabilities: Capabilities
    _db: Database
    _listener: Listener
    _schema: str
    _sql_cache: dict[tuple[str, int, bool], str]
    #: every queue ``wait_for_jobs`` was asked about (processing.py)
    _waited_queues: set[str]

    # ---- running statements

    def _statement(self, function: str, arity: int, rows: bool) -> str:
        key = (function, arity, rows)
        sql = self._sql_cache.get(key)
        if sql is None:
            placeholders = ", ".join(["%s"] * arity)
            target = f"{sqlfiles.quoted(self._schema)}.{function}({placeholders})"
            sql = f"SELECT * FROM {target}" if rows else f"SELECT {target}"
            self._sql_cache[key] = sql
        return sql

    async def _call(self, function: str, *args: Any) -> Any:
        """Run transition ``function`` (one value back) in one round trip."""
        rows = await self._db.fetch(self._statement(function, len(args), False), args)
        return rows[0][0] if rows else None

    async def _rows(self, function: str, *args: Any) -> Rows:
        """Run set-returning transition ``function`` in one round trip; its rows."""
        return await self._db.fetch(self._statement(function, len(args), True), args)

    async def _query(self, sql: str, *args: Any) -> Rows:
        """A plain statement (``_qc_.`` for the schema) in one round trip; its rows."""
        return await self._db.fetch(sqlfiles.render(sql, self._schema), args)

    # ---- names

    def _channel(self, name: str) -> str:
        """A notification channel of this schema: "jobs", "done" or "cancel"."""
        return f"{self._schema}.{name}"

    async def _require_queue(self, queue: str) -> None:
        """``QueueNotFound`` unless the queue is registered."""
        if not await self._query("SELECT 1 FROM _qc_.queues WHERE name = %s", queue):
            raise QueueNotFound(queue)
