"""Handlers: async and plain functions, what a Delivery offers, results and progress,
a handler bound to one queue, and a job whose type no worker knows.

    python examples/handlers.py          # memory://; QUEUE_URL=redis://... for Redis
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import TypedDict

from queue_core import Client, Delivery, Manager, Worker, hookimpl
from queue_core.plugins import register

URL = os.environ.get("QUEUE_URL", "memory://")


@dataclass
class Resize:
    image: str
    width: int


class Email(TypedDict):
    to: str
    subject: str


# threads: plain `def` handlers run on worker threads, at most two at once here.
# unknown_type_grace=0: a job no handler knows is archived at once (default: kept
# coming back for 10 minutes, in case a newer worker of a rolling deploy knows it).
worker = Worker(URL, queues=["default", "images"], threads=2, unknown_type_grace=0, shutdown_timeout=2)


@worker.handler("email.send")
async def send_email(delivery: Delivery) -> dict[str, str]:
    email = delivery.decode(Email)  # checked: a missing or unknown key is a SerializationError
    print(f"email to {email['to']!r}: attempt {delivery.attempt} of {delivery.max_retries + 1}, "
          f"headers {dict(delivery.headers)}")  # fmt: skip
    return {"sent_to": email["to"]}  # the return value is the job's result


def resize(delivery: Delivery) -> str:
    """A plain function: it runs on a worker thread, so it may block."""
    job = delivery.decode(Resize)
    for step in (1, 2, 3):
        delivery.progress(step, 3, f"pass {step}")  # reaches the job_progress hook
    return f"{job.image} at {job.width}px"


# queue="images": this type is served from the images queue only.
worker.register("image.resize", resize, queue="images")


class Report:
    """A plugin that prints outcomes and stops the worker once every job has one."""

    def __init__(self, expected: int) -> None:
        self.left = expected

    def settled(self) -> None:
        self.left -= 1
        if self.left == 0:
            worker.stop()

    @hookimpl
    def queue_core_job_progress(self, job_id: str, done: float, total: float | None, **_: object) -> None:
        print(f"  progress of {job_id[:8]}: {done:g}/{total:g}")

    @hookimpl
    def queue_core_job_succeeded(self, job_type: str, **_: object) -> None:
        self.settled()

    @hookimpl
    def queue_core_job_archived(self, job_type: str, reason: str, **_: object) -> None:
        print(f"archived {job_type}: {reason}")
        self.settled()


async def main() -> None:
    register(Report(expected=3))
    async with Client(URL) as client, Manager(URL) as manager:
        mail = await client.enqueue("email.send", {"to": "ada@example.com", "subject": "hi"},
                                    headers={"trace": "t-1"}, retention=60)  # fmt: skip
        image = await client.enqueue("image.resize", {"image": "cat.png", "width": 640}, queue="images", retention=60)
        await client.enqueue("report.v2", {"month": "2026-11"})  # no handler anywhere
        await worker.run()
        for job in (mail, image):
            result = await manager.job_result(job.queue, job.id)
            print(f"result of {job.type}: {result.decode()}")


if __name__ == "__main__":
    asyncio.run(main())
