"""pgqueuer (PostgreSQL queue): asyncpg, LISTEN/NOTIFY wake-ups, ``QueueManager.run``.

Concurrency 50 is ``max_concurrent_tasks=50`` with its default batch size (10); the schema is
installed by ``prepare`` before any phase is timed.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

import asyncpg
from mark import mark
from pgqueuer import AsyncpgDriver, Job, Queries, QueueManager

NAME = "pgqueuer"
DISTRIBUTIONS = ("pgqueuer", "asyncpg")
BULK = True


class Connected:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.queries = Queries(AsyncpgDriver(connection))


async def prepare(url: str) -> None:
    client = await connect(url)
    try:
        await client.queries.install()
    finally:
        await close(client)


async def connect(url: str) -> Connected:
    return Connected(await asyncpg.connect(url))


async def close(client: Connected) -> None:
    await client.connection.close()


async def enqueue(client: Connected, tag: int | None = None, delay: float | None = None) -> None:
    if tag is None:
        await client.queries.enqueue("noop", None)
    else:
        after = timedelta(seconds=delay) if delay else None
        await client.queries.enqueue("tagged", str(tag).encode(), 0, execute_after=after)


async def enqueue_bulk(client: Connected, count: int) -> None:
    await client.queries.enqueue(["noop"] * count, [None] * count, [0] * count)


def worker(url: str, concurrency: int) -> None:
    async def main() -> None:
        connection = await asyncpg.connect(url)
        manager = QueueManager(Queries(AsyncpgDriver(connection)))

        @manager.entrypoint("noop")
        async def noop(job: Job) -> None:
            mark()

        @manager.entrypoint("tagged")
        async def tagged(job: Job) -> None:
            mark(int(job.payload or b"0"))

        await manager.run(max_concurrent_tasks=concurrency)

    asyncio.run(main())


if __name__ == "__main__":
    worker(os.environ["BENCH_REDIS_URL"], int(os.environ["BENCH_CONCURRENCY"]))
