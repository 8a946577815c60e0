"""dramatiq: RedisBroker (Lua dispatch script), ``dramatiq --processes 1 --threads N``."""

from __future__ import annotations

import os
import sys
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from mark import mark

NAME = "dramatiq"
DISTRIBUTIONS = ("dramatiq", "redis")
BULK = False

broker = RedisBroker(url=os.environ.get("BENCH_REDIS_URL", "redis://localhost:6379"))
dramatiq.set_broker(broker)


@dramatiq.actor
def noop() -> None:
    mark()


@dramatiq.actor
def tagged(tag: int) -> None:
    mark(tag)


async def connect(url: str) -> Any:
    return broker


async def close(client: Any) -> None:
    client.close()


async def enqueue(client: Any, tag: int | None = None, delay: float | None = None) -> None:
    # dramatiq's client is synchronous; each send is one blocking round trip.
    if tag is None:
        noop.send()
    elif delay:
        tagged.send_with_options(args=(tag,), delay=int(delay * 1000))
    else:
        tagged.send(tag)


def worker(url: str, concurrency: int) -> None:
    from dramatiq.cli import main

    sys.argv = ["dramatiq", "peer_dramatiq", "--processes", "1", "--threads", str(concurrency)]
    sys.exit(main())


if __name__ == "__main__":
    worker(os.environ["BENCH_REDIS_URL"], int(os.environ["BENCH_CONCURRENCY"]))
