"""Quickstart: typed tasks, a producer awaiting their results, and a worker, in one process.

Runs on the embedded ``memory://`` broker by default; point it at Redis with
``QUEUE_URL=redis://localhost:6379/0 python examples/quickstart.py``, and on trio with
``--trio``.
"""

from __future__ import annotations

import logging
import os
import sys

import anyio

from queue_core import Client, Delivery, Worker, retry
from queue_core.tasks import TaskRegistry

URL = os.environ.get("QUEUE_URL", "memory://")
EMAILS = 5

tasks = TaskRegistry()


@tasks.task(name="email.send", max_retries=3, timeout=30)
async def send_email(to: str, subject: str) -> dict[str, str]:
    await anyio.sleep(0.05)  # pretend to talk to an SMTP server
    print(f"  sent to {to}: {subject}")
    return {"status": "sent"}


@tasks.task(name="email.bounce_check", retry_delay=retry.fixed(0.2))
async def bounce_check(delivery: Delivery, address: str) -> bool:
    # Asks for its Delivery (the first parameter) to see the attempt. It fails on the first
    # attempt: the job goes to retry and comes back 0.2 s later.
    if delivery.attempt == 1:
        raise ConnectionError("mail server busy")
    print(f"  bounce check of {address} passed on attempt {delivery.attempt}")
    return True


async def main() -> None:
    worker = Worker(URL, tasks=tasks, concurrency=4, shutdown_timeout=2)
    async with Client(URL) as client, anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        check = await bounce_check.enqueue(client, "user0@example.com")
        emails = [await send_email.enqueue(client, f"user{i}@example.com", subject="Welcome") for i in range(EMAILS)]
        print(f"enqueued {EMAILS + 1} jobs; awaiting their results")
        results = [await job.result(timeout=30) for job in emails]
        print(f"result of the first email job: {results[0]}")
        print(f"bounce check result: {await check.result(timeout=30)}")
        worker.stop()  # run() drains and returns; the task group then ends


if __name__ == "__main__":
    # The worker logs each failed attempt (with its traceback) to the "queue_core" logger.
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    anyio.run(main, backend="trio" if "--trio" in sys.argv[1:] else "asyncio")
