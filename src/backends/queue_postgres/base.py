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

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from queue_core import Capabilities, Job, JobState, QueueNotFound, Unsupported
from queue_postgres import sqlfiles
from queue_postgres.database import Database, Rows
from queue_postgres.extra import Jsonb as Jsonb
from queue_postgres.listen import Listener

T = TypeVar("T")

#: Daily counters are kept this long (as on Redis).
STATS_TTL_SECONDS = 90 * 24 * 3600


def utc_day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def grouped(items: Sequence[T], key: Callable[[T], Any]) -> dict[Any, list[tuple[int, T]]]:
    """Items grouped by ``key``, each with its index, in first-seen order."""
    groups: dict[Any, list[tuple[int, T]]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[key(item)].append((index, item))
    return groups


def unsupported(operation: str) -> NoReturn:
    raise Unsupported(f"this driver does not offer {operation} yet (see its Capabilities.features)")


def entry_state(job: Job, now: float) -> tuple[JobState, float]:
    """Where a job enters at enqueue time, and its due time."""
    due_at = job.process_at(now)
    if due_at > now:
        return JobState.SCHEDULED, due_at
    if job.group is not None:
        return JobState.AGGREGATING, now
    return JobState.PENDING, now


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
