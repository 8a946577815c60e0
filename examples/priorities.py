"""Queue priorities: weighted (while every queue has work, dequeues follow the weights)
and strict (a lighter queue is served only when every heavier one is empty).

    python examples/priorities.py
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter

from queue_core import Client, Delivery, Job, Worker

URL = os.environ.get("QUEUE_URL", "memory://")
PER_QUEUE = 300
TAKEN = 300


async def serve(strict: bool) -> list[str]:
    worker = Worker(URL, queues={"critical": 6, "default": 3, "low": 1}, strict=strict, concurrency=4,
                    shutdown_timeout=0, broker_options={"prefix": f"priorities-{strict}"})  # fmt: skip
    served: list[str] = []

    @worker.handler("unit")
    async def unit(delivery: Delivery) -> None:
        served.append(delivery.queue)
        if len(served) == TAKEN:
            worker.stop(immediate=True)  # the rest go back to the head of their queues

    async with Client(URL, broker_options={"prefix": f"priorities-{strict}"}) as client:
        for queue in ("low", "default", "critical"):
            await client.enqueue_many([Job.create("unit", queue=queue) for _ in range(PER_QUEUE)])
    await worker.run()
    return served[:TAKEN]


async def main() -> None:
    weighted = Counter(await serve(strict=False))
    shares = ", ".join(f"{queue} {weighted[queue]}" for queue in ("critical", "default", "low"))
    print(f"weighted 6:3:1, first {TAKEN} jobs: {shares}")
    strict = await serve(strict=True)
    print(f"strict, first {TAKEN} jobs: all critical? {set(strict) == {'critical'}}")


if __name__ == "__main__":
    asyncio.run(main())
