"""taskiq + taskiq-redis: RedisStreamBroker (XADD / XREADGROUP / XACK), ``taskiq worker``."""

from __future__ import annotations

import os
import sys
from typing import Any

from mark import mark
from taskiq_redis import RedisStreamBroker

NAME = "taskiq"
DISTRIBUTIONS = ("taskiq", "taskiq-redis", "redis")
BULK = False
#: taskiq schedules only through its separate scheduler process and a schedule source.
SCHEDULE = False

broker = RedisStreamBroker(url=os.environ.get("BENCH_REDIS_URL", "redis://localhost:6379"))


@broker.task
async def noop() -> None:
    mark()


@broker.task
async def tagged(tag: int) -> None:
    mark(tag)


async def connect(url: str) -> Any:
    # The consumer group is created at startup with id '$': jobs sent before it exist
    # would never be read, so the client starts the broker first.
    await broker.startup()
    return broker


async def close(client: Any) -> None:
    await client.shutdown()


async def enqueue(client: Any, tag: int | None = None, delay: float | None = None) -> None:
    if tag is None:
        await noop.kiq()
    else:
        await tagged.kiq(tag)


def worker(url: str, concurrency: int) -> None:
    from taskiq.__main__ import main

    sys.argv = ["taskiq", "worker", "peer_taskiq:broker", "--workers", "1", "--max-async-tasks", str(concurrency)]
    main()


if __name__ == "__main__":
    worker(os.environ["BENCH_REDIS_URL"], int(os.environ["BENCH_CONCURRENCY"]))
