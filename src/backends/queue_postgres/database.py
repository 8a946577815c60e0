"""How the driver talks to PostgreSQL: a connection pool that runs one statement per call,
under asyncio with psycopg's async pool, under trio with the sync pool on worker threads
(psycopg's async side runs on asyncio only).

Every call is one statement in its own (autocommit) transaction: a transition is one
function call, so it commits, and sends its notifications, at once. A transition that
meets a deadlock or a serialization failure did nothing and is run again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import anyio
import anyio.to_thread

from queue_postgres import migrations
from queue_postgres.errors import errors, mapped_errors
from queue_postgres.extra import psycopg, psycopg_pool
from queue_postgres.url import Target

Rows = list[tuple[Any, ...]]
#: Runs of a transition that met a deadlock or serialization failure before giving up.
ATTEMPTS = 5
_RETRYABLE = (errors.DeadlockDetected, errors.SerializationFailure)


class Database(Protocol):
    target: Target

    async def fetch(self, sql: str, params: Sequence[Any]) -> Rows:
        """Run one statement; its rows (``[]`` for none)."""

    async def prepare(self) -> None:
        """Check (and migrate, when allowed) the schema, once; every fetch does it first."""

    async def close(self) -> None: ...


class _Preparation:
    """Checks (and, when allowed, migrates) the schema and opens the pool, once, before
    the first statement."""

    def __init__(self, target: Target, open_pool: Callable[[], Awaitable[None]]) -> None:
        self.target = target
        self.done = False
        self._open_pool = open_pool
        self._lock = anyio.Lock()

    async def ensure(self) -> None:
        async with self._lock:
            if not self.done:
                await anyio.to_thread.run_sync(self._prepare)
                with mapped_errors():
                    await self._open_pool()
                self.done = True

    def _prepare(self) -> None:
        with mapped_errors(), psycopg.connect(self.target.conninfo, autocommit=True) as conn:
            migrations.prepare(conn, self.target.schema, allow_migrate=self.target.migrate)


class AsyncioDatabase:
    """psycopg's async pool; used under asyncio."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._pool: psycopg_pool.AsyncConnectionPool[Any] = psycopg_pool.AsyncConnectionPool(
            target.conninfo, min_size=1, max_size=target.pool_max, open=False, kwargs={"autocommit": True}
        )
        self._opened = False
        self._preparation = _Preparation(target, self._open)

    async def _open(self) -> None:
        self._opened = True
        await self._pool.open(wait=True)

    async def prepare(self) -> None:
        if not self._preparation.done:
            await self._preparation.ensure()

    async def fetch(self, sql: str, params: Sequence[Any]) -> Rows:
        if not self._preparation.done:
            await self._preparation.ensure()
        with mapped_errors():
            for attempt in range(ATTEMPTS):
                try:
                    async with self._pool.connection() as conn:
                        # A statement once sent runs to its end: cancelling the caller
                        # then would leave it not knowing what committed (jobs leased to
                        # nobody) and psycopg would drop the connection.
                        with anyio.CancelScope(shield=True):
                            cursor = await conn.execute(sql, params)
                            return await cursor.fetchall() if cursor.description else []
                except _RETRYABLE:
                    if attempt == ATTEMPTS - 1:
                        raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._opened:
            self._opened = False
            await self._pool.close()


class ThreadDatabase:
    """psycopg's sync pool, each statement on a worker thread; used under trio."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
            target.conninfo, min_size=1, max_size=target.pool_max, open=False, kwargs={"autocommit": True}
        )
        self._opened = False
        self._limiter = anyio.CapacityLimiter(target.pool_max)
        self._preparation = _Preparation(target, self._open)

    async def _open(self) -> None:
        self._opened = True
        await anyio.to_thread.run_sync(lambda: self._pool.open(wait=True))

    def _fetch(self, sql: str, params: Sequence[Any]) -> Rows:
        with mapped_errors():
            for attempt in range(ATTEMPTS):
                try:
                    with self._pool.connection() as conn:
                        cursor = conn.execute(sql, params)
                        return cursor.fetchall() if cursor.description else []
                except _RETRYABLE:
                    if attempt == ATTEMPTS - 1:
                        raise
        raise AssertionError("unreachable")

    async def prepare(self) -> None:
        if not self._preparation.done:
            await self._preparation.ensure()

    async def fetch(self, sql: str, params: Sequence[Any]) -> Rows:
        if not self._preparation.done:
            await self._preparation.ensure()
        return await anyio.to_thread.run_sync(self._fetch, sql, params, limiter=self._limiter)

    async def close(self) -> None:
        if self._opened:
            self._opened = False
            await anyio.to_thread.run_sync(self._pool.close)


def open_database(target: Target, runtime: str) -> Database:
    if runtime == "asyncio":
        return AsyncioDatabase(target)
    return ThreadDatabase(target)
