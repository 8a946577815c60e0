"""Workflows: a chain that passes results along, and a fan-out with one fan-in callback.

    fetch -> parse -> store         (chain, pass_result=True: each gets the last result)
    resize x4 -> publish            (group: publish waits for all four and reads their results)

Both flows are written with one ``enqueue_flow`` call each, all or nothing. Runs on the
embedded ``memory://`` broker by default; ``QUEUE_URL=redis://localhost:6379/0`` for Redis.
"""

from __future__ import annotations

import asyncio
import os

from queue_core import Client, Delivery, Job, Worker, chain, group

URL = os.environ.get("QUEUE_URL", "memory://")
SIZES = (320, 640, 1280, 2560)

worker = Worker(URL, concurrency=4, shutdown_timeout=2)
ends: list[str] = []


def end(what: str) -> None:
    ends.append(what)
    if len(ends) == 2:  # the chain's last link and the fan-in callback ran
        worker.stop()


@worker.handler("fetch")
async def fetch(delivery: Delivery) -> str:
    url = delivery.decode(dict)["url"]
    print(f"fetched {url}")
    return f"<html>{url}</html>"


@worker.handler("parse")
async def parse(delivery: Delivery) -> int:
    page = delivery.decode(dict)["previous"]  # the result of fetch
    print(f"parsed {len(page)} characters")
    return len(page)


@worker.handler("store")
async def store(delivery: Delivery) -> None:
    print(f"stored a page of {delivery.decode(dict)['previous']} characters")
    end("chain")


@worker.handler("resize")
async def resize(delivery: Delivery) -> str:
    width = delivery.decode(int)
    await asyncio.sleep(0.01 * SIZES.index(width))  # they finish in any order
    return f"photo-{width}.jpg"


@worker.handler("publish")
async def publish(delivery: Delivery) -> None:
    results = await delivery.dependency_results()  # by job ID, every resize's result
    print(f"published {', '.join(sorted(results.values()))}")
    end("fan-in")


async def main() -> None:
    async with Client(URL) as client:
        flow = chain(
            Job.create("fetch", {"url": "https://example.com"}),
            Job.create("parse"),
            Job.create("store"),
            pass_result=True,
        )
        await client.enqueue_flow(flow)
        fan_in = group([Job.create("resize", width) for width in SIZES], then=Job.create("publish"))
        infos = await client.enqueue_flow(fan_in)
        print(f"publish is {infos[-1].state.value} for {len(infos[-1].depends_on)} jobs")
        await worker.run()


if __name__ == "__main__":
    asyncio.run(main())
