"""Rate limits: a limit of the whole worker, one of a handler, and one shared by every
worker that names the same key (through the broker), here two workers in one process.
A refused job goes back until about when a token is free, without using a retry.

    python examples/rate_limits.py
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter

import anyio

from queue_core import Client, Delivery, Job, RateLimit, Worker

URL = os.environ.get("QUEUE_URL", "memory://")
JOBS = 30
started: list[tuple[str, float]] = []


def make_worker(name: str) -> Worker:
    # Every attempt of this worker: at most 50/s. The partner API: 10/s for all workers
    # together (key="partner-api"), bursts of 5.
    worker = Worker(URL, id=name, concurrency=10, rate_limit=RateLimit(50, burst=10), shutdown_timeout=2)

    @worker.handler("partner.call", rate_limit=RateLimit(10, burst=5, key="partner-api"))
    async def call_partner(delivery: Delivery) -> None:
        started.append((name, time.monotonic()))
        if len(started) == JOBS:
            for each in workers:
                each.stop()

    return worker


workers = [make_worker("worker-a"), make_worker("worker-b")]


async def main() -> None:
    async with Client(URL) as client:
        await client.enqueue_many([Job.create("partner.call", {"n": n}) for n in range(JOBS)])
    began = time.monotonic()
    async with anyio.create_task_group() as tg:
        for worker in workers:
            tg.start_soon(worker.run)
    per_half_second = Counter(int((at - began) / 0.5) for _, at in started)
    by_worker = Counter(name for name, _ in started)
    print(f"{JOBS} calls in {started[-1][1] - began:.1f}s, by worker: {dict(by_worker)}")
    for window in sorted(per_half_second):
        print(f"  {window * 0.5:4.1f}-{window * 0.5 + 0.5:.1f}s: {'#' * per_half_second[window]}")
    # The burst of 5 at once, then about 10 per second (5 per half second) for both together.


if __name__ == "__main__":
    asyncio.run(main())
