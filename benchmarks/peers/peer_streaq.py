"""streaq: Redis Streams + Redis Functions, anyio (asyncio backend), ``Worker(concurrency=...)``."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from mark import mark
from streaq import Worker

NAME = "streaq"
DISTRIBUTIONS = ("streaq", "coredis", "anyio")
BULK = True

_worker = Worker(
    redis_url=os.environ.get("BENCH_REDIS_URL", "redis://localhost:6379"),
    concurrency=int(os.environ.get("BENCH_CONCURRENCY", "50")),
)


@_worker.task()
async def noop() -> None:
    mark()


@_worker.task()
async def tagged(tag: int) -> None:
    mark(tag)


async def connect(url: str) -> Any:
    await _worker.__aenter__()
    return _worker


async def close(worker: Any) -> None:
    await worker.__aexit__(None, None, None)


async def enqueue(worker: Any, tag: int | None = None, delay: float | None = None) -> None:
    if tag is None:
        await noop.enqueue()
    elif delay:
        await tagged.enqueue(tag).start(delay=timedelta(seconds=delay))
    else:
        await tagged.enqueue(tag)


async def enqueue_bulk(worker: Any, count: int) -> None:
    await worker.enqueue_many([noop.enqueue() for _ in range(count)])


def worker(url: str, concurrency: int) -> None:
    _worker.run_sync()


if __name__ == "__main__":
    worker(os.environ["BENCH_REDIS_URL"], int(os.environ["BENCH_CONCURRENCY"]))
