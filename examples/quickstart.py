"""Quickstart: a producer and a worker on asyncio.

Runs on the embedded ``memory://`` broker by default; point it at Redis with
``QUEUE_URL=redis://localhost:6379/0 python examples/quickstart.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os

from queue_core import Client, Delivery, Worker, retry

URL = os.environ.get("QUEUE_URL", "memory://")
EMAILS = 5

worker = Worker(URL, concurrency=4, shutdown_timeout=2)
finished: list[str] = []


def finish(job_id: str) -> None:
    finished.append(job_id)
    if len(finished) == EMAILS + 1:
        worker.stop()  # every job is done: run() drains and returns


@worker.handler("email.send")
async def send_email(delivery: Delivery) -> dict[str, str]:
    message = delivery.decode(dict)
    await asyncio.sleep(0.05)  # pretend to talk to an SMTP server
    print(f"  sent to {message['to']} (job {delivery.id[:8]}, attempt {delivery.attempt})")
    finish(delivery.id)
    return {"status": "sent"}


@worker.handler("email.bounce_check", retry_delay=retry.fixed(0.2))
async def bounce_check(delivery: Delivery) -> None:
    # Fails on the first attempt: the job goes to retry and comes back 0.2 s later.
    if delivery.attempt == 1:
        raise ConnectionError("mail server busy")
    print(f"  bounce check passed on attempt {delivery.attempt}")
    finish(delivery.id)


async def main() -> None:
    async with Client(URL) as client:
        await client.enqueue("email.bounce_check")
        ids = []
        for i in range(EMAILS):
            info = await client.enqueue("email.send", {"to": f"user{i}@example.com"}, retention=60)
            ids.append(info.id)
        print(f"enqueued {EMAILS + 1} jobs; starting the worker")

        await worker.run()  # returns after worker.stop()

        result = await client.broker.job_result("default", ids[0])
        print(f"result of the first email job, kept by its retention: {result.decode()}")


if __name__ == "__main__":
    # The worker logs each failed attempt (with its traceback) to the "queue_core" logger.
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
