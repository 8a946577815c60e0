"""procrastinate (PostgreSQL queue): psycopg 3, LISTEN/NOTIFY wake-ups, ``run_worker_async``.

Its own defaults throughout (finished jobs are kept as ``succeeded`` rows); the schema is
applied by ``prepare`` before any phase is timed.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from mark import mark
from procrastinate import App, PsycopgConnector

NAME = "procrastinate"
DISTRIBUTIONS = ("procrastinate", "psycopg")
BULK = True


def build(url: str) -> App:
    app = App(connector=PsycopgConnector(conninfo=url))

    @app.task(name="noop")
    async def noop() -> None:
        mark()

    @app.task(name="tagged")
    async def tagged(tag: int) -> None:
        mark(tag)

    return app


class Connected:
    def __init__(self, app: App) -> None:
        self.app = app
        self.noop = app.tasks["noop"]
        self.tagged = app.tasks["tagged"]


async def prepare(url: str) -> None:
    app = build(url)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()


async def connect(url: str) -> Connected:
    app = build(url)
    await app.open_async()
    return Connected(app)


async def close(client: Connected) -> None:
    await client.app.close_async()


async def enqueue(client: Connected, tag: int | None = None, delay: float | None = None) -> None:
    if tag is None:
        await client.noop.defer_async()
    elif delay:
        await client.tagged.configure(schedule_in={"seconds": delay}).defer_async(tag=tag)
    else:
        await client.tagged.defer_async(tag=tag)


async def enqueue_bulk(client: Connected, count: int) -> None:
    empty: dict[str, Any] = {}
    await client.noop.batch_defer_async(*([empty] * count))


def worker(url: str, concurrency: int) -> None:
    async def main() -> None:
        app = build(url)
        async with app.open_async():
            await app.run_worker_async(concurrency=concurrency)

    asyncio.run(main())


if __name__ == "__main__":
    worker(os.environ["BENCH_REDIS_URL"], int(os.environ["BENCH_CONCURRENCY"]))
