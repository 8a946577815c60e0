"""The same library on trio: a nursery runs the worker next to a producer.

``python examples/trio_app.py`` (add ``QUEUE_URL=redis://...`` to use Redis).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import trio

from queue_core import Client, Delivery, SkipRetry, Worker

URL = os.environ.get("QUEUE_URL", "memory://")


@dataclass
class Resize:
    image: str
    width: int


worker = Worker(URL, concurrency=3, shutdown_timeout=2)
done: list[str] = []


@worker.handler("image.resize")
async def resize(delivery: Delivery) -> dict[str, int]:
    job = delivery.decode(Resize)  # the payload, checked and built as a dataclass
    if job.width <= 0:
        raise SkipRetry(f"cannot resize {job.image} to width {job.width}")  # archived, never retried
    await trio.sleep(0.05)
    done.append(job.image)
    print(f"  resized {job.image} to {job.width}px")
    return {"width": job.width}


async def produce(client: Client) -> None:
    for i, width in enumerate([320, 640, 0, 1280]):
        await client.enqueue("image.resize", {"image": f"photo{i}.jpg", "width": width})
        await trio.sleep(0.02)  # jobs arrive while the worker runs; it wakes for each, no polling


async def main() -> None:
    async with Client(URL) as client, trio.open_nursery() as nursery:
        nursery.start_soon(worker.run)
        await produce(client)
        while len(done) < 3:  # the three valid images
            await trio.sleep(0.05)
        stats = await client.broker.queue_stats("default", client.clock.now())
        print(f"archived: {stats.archived} (the zero-width image), processed: {stats.processed_total}")
        nursery.cancel_scope.cancel()  # cancelling the nursery stops the worker gracefully


if __name__ == "__main__":
    trio.run(main)
