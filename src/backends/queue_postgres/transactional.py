"""Transactional enqueue: jobs written through the caller's own psycopg connection, inside
the transaction it has open. The same ``enqueue`` function runs there; its NOTIFY is
PostgreSQL's, so it is delivered when that transaction commits and never when it rolls
back. Nothing here commits or rolls back the caller's transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import sniffio

from queue_core import EnqueueOutcome, InvalidConnection, Job
from queue_postgres.errors import mapped_errors
from queue_postgres.extra import psycopg
from queue_postgres.processing import ENQUEUE_CHUNK, ProcessingOps

ACCEPTED = "a psycopg Connection or AsyncConnection (psycopg 3) to the broker's database"


class TransactionalOps(ProcessingOps):
    async def enqueue_in(self, connection: object, jobs: Sequence[Job], now: float) -> list[EnqueueOutcome]:
        run = self._runner(connection)
        await self._db.prepare()  # the schema and its functions exist before the caller's transaction uses them
        outcomes: list[EnqueueOutcome] = []
        for start in range(0, len(jobs), ENQUEUE_CHUNK):
            chunk = jobs[start : start + ENQUEUE_CHUNK]
            sql = self._statement("enqueue", 4, False)
            reply = await run(sql, self._enqueue_args(chunk, now, False))
            outcomes += self._enqueue_outcomes(chunk, now, reply)
        return outcomes

    def _runner(self, connection: object) -> Any:
        """An async function running one statement on ``connection``; its first value."""
        if isinstance(connection, psycopg.AsyncConnection):
            if sniffio.current_async_library() != "asyncio":
                raise InvalidConnection(
                    "connection", connection, ACCEPTED + " (an AsyncConnection runs on asyncio only)"
                )
            conn_async = connection

            async def run_async(sql: str, args: Sequence[Any]) -> Any:
                with mapped_errors():
                    cursor = await conn_async.execute(sql, args)
                    row = await cursor.fetchone()
                return row[0] if row else None

            return run_async
        if isinstance(connection, psycopg.Connection):
            conn_sync = connection

            def run_sync(sql: str, args: Sequence[Any]) -> Any:
                with mapped_errors():
                    row = conn_sync.execute(sql, args).fetchone()
                return row[0] if row else None

            async def run_on_thread(sql: str, args: Sequence[Any]) -> Any:
                return await anyio.to_thread.run_sync(run_sync, sql, args)

            return run_on_thread
        raise InvalidConnection("connection", connection, ACCEPTED)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[object]:
        """A new connection with a transaction open: committed when the block exits
        normally, rolled back when it raises (a sync psycopg connection under trio)."""
        await self._db.prepare()
        if sniffio.current_async_library() == "asyncio":
            with mapped_errors():
                conn = await psycopg.AsyncConnection.connect(self._db.target.conninfo)
            try:
                yield conn
            except BaseException:
                with mapped_errors():
                    await conn.rollback()
                raise
            else:
                with mapped_errors():
                    await conn.commit()
            finally:
                await conn.close()
            return
        sync_conn = await anyio.to_thread.run_sync(_connect_sync, self._db.target.conninfo)
        try:
            yield sync_conn
        except BaseException:
            await anyio.to_thread.run_sync(_finish, sync_conn, False)
            raise
        else:
            await anyio.to_thread.run_sync(_finish, sync_conn, True)
        finally:
            await anyio.to_thread.run_sync(sync_conn.close)


def _connect_sync(conninfo: str) -> Any:
    with mapped_errors():
        return psycopg.connect(conninfo)


def _finish(conn: Any, commit: bool) -> None:
    with mapped_errors():
        if commit:
            conn.commit()
        else:
            conn.rollback()
