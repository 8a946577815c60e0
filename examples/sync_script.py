"""A plain synchronous script that enqueues jobs with SyncClient: no async, no await.

The same calls work in a Django or Flask view (create one SyncClient at start-up and
share it; it is thread-safe). To show the jobs being processed in one process, the
script then runs an async Worker on a background thread; in production the worker is
its own process.

Runs on the embedded ``memory://`` broker by default; point it at Redis with
``QUEUE_URL=redis://localhost:6379/0 python examples/sync_script.py``.
"""

from __future__ import annotations

import logging
import os
import threading

import anyio

from queue_core import Delivery, DuplicateJob, SyncClient, Worker

URL = os.environ.get("QUEUE_URL", "memory://")
EMAILS = ("ada@example.com", "grace@example.com", "alan@example.com")

worker = Worker(URL, concurrency=2, shutdown_timeout=1)
sent: list[str] = []
all_sent = threading.Event()


@worker.handler("email.send")
async def send_email(delivery: Delivery) -> None:
    sent.append(delivery.decode(dict)["to"])
    if len(sent) == len(EMAILS):
        all_sent.set()


def run_worker_until_all_sent() -> None:
    """The worker on its own event loop, stopped once every email is sent."""

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await anyio.to_thread.run_sync(all_sent.wait)
            worker.stop()

    anyio.run(run)


def signup(client: SyncClient, email: str) -> str:
    """What a view would do: enqueue, and return at once."""
    info = client.enqueue("email.send", {"to": email}, unique_for=60, max_retries=5)
    return info.id


def main() -> None:
    with SyncClient(URL) as client:
        for email in EMAILS:
            job_id = signup(client, email)
            print(f"enqueued welcome email to {email} as job {job_id[:8]}")
        try:
            signup(client, "ada@example.com")  # the same email while the first one waits: refused
        except DuplicateJob as exc:
            print(f"second signup of ada refused: {exc.job_id[:8]} duplicates {str(exc.holder)[:8]}")

    background = threading.Thread(target=run_worker_until_all_sent, name="worker")
    background.start()
    background.join(timeout=10)
    print(f"worker sent: {', '.join(sorted(sent))}")


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")  # the duplicate is logged as a warning
    main()
