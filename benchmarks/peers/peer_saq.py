"""saq (Redis queue): BLMOVE dequeue, one process, ``Worker(concurrency=...)``."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from mark import mark
from saq import Queue, Worker

NAME = "saq"
DISTRIBUTIONS = ("saq", "redis")
BULK = False


async def noop(ctx: Any) -> None:
    mark()


async def tagged(ctx: Any, *, tag: int) -> None:
    mark(tag)


async def connect(url: str) -> Queue:
    queue = Queue.from_url(url)
    await queue.connect()
    return queue


async def close(queue: Queue) -> None:
    await queue.disconnect()


async def enqueue(queue: Queue, tag: int | None = None, delay: float | None = None) -> None:
    if tag is None:
        await queue.enqueue("noop")
    else:
        # saq documents `scheduled` as int epoch seconds; a float is stored as given.
        await queue.enqueue("tagged", tag=tag, scheduled=time.time() + delay if delay else 0)


def worker(url: str, concurrency: int) -> None:
    async def main() -> None:
        queue = Queue.from_url(url)
        await Worker(queue, functions=[noop, tagged], concurrency=concurrency).start()

    asyncio.run(main())


if __name__ == "__main__":
    worker(os.environ["BENCH_REDIS_URL"], int(os.environ["BENCH_CONCURRENCY"]))
