"""Outcomes and retries: success, an ordinary error retried with a backoff policy until it
works, SkipRetry (archived now), retries exhausted (archived), TransientError and
RateLimited (back later without using a retry), Revoke (dropped), max_retries=0.

    python examples/retries.py
"""

from __future__ import annotations

import asyncio
import os

from queue_core import (
    Client,
    Delivery,
    JobNotFound,
    Manager,
    RateLimited,
    Revoke,
    SkipRetry,
    TransientError,
    Worker,
    hookimpl,
    retry,
)
from queue_core.plugins import register

URL = os.environ.get("QUEUE_URL", "memory://")
# max_bounces: transient bounces a job may take before a bounce counts as a failure.
worker = Worker(URL, concurrency=8, max_bounces=3, shutdown_timeout=2)
QUICK = retry.fixed(0.1)  # tenths of seconds, so the example finishes at once


@worker.handler("flaky", retry_delay=QUICK)
async def flaky(delivery: Delivery) -> str:
    if delivery.attempt < 3:
        raise ConnectionError(f"upstream reset (attempt {delivery.attempt})")
    return f"worked on attempt {delivery.attempt}"


@worker.handler("validate", retry_delay=QUICK)
async def validate(delivery: Delivery) -> None:
    raise SkipRetry("the payload can never be valid")


@worker.handler("doomed", retry_delay=retry.exponential(0.05, factor=2, jitter=0))
async def doomed(delivery: Delivery) -> None:
    raise ValueError(f"still broken on attempt {delivery.attempt}")


@worker.handler("busy-upstream", retry_delay=QUICK)
async def busy_upstream(delivery: Delivery) -> str:
    if delivery.record.bounces < 2:  # bounces do not advance delivery.attempt
        raise RateLimited(0.1, "429 from the partner API")
    if delivery.record.bounces < 3:
        raise TransientError("the partner API is restarting", retry_after=0.1)
    return f"done on attempt {delivery.attempt} after {delivery.record.bounces} bounces"


@worker.handler("obsolete")
async def obsolete(delivery: Delivery) -> None:
    raise Revoke()  # drop the job: deleted, not archived, not a failure


@worker.handler("once", retry_delay=QUICK)
async def once(delivery: Delivery) -> None:
    raise RuntimeError("no second chance")


class Settled:
    def __init__(self, expected: int) -> None:
        self.left = expected

    def tick(self) -> None:
        self.left -= 1
        if self.left == 0:
            worker.stop()

    @hookimpl
    def queue_core_job_retrying(self, job_type: str, retry_at: float, error: BaseException,
                                counts_as_failure: bool, **_: object) -> None:  # fmt: skip
        kind = "retry" if counts_as_failure else "bounce (no retry used)"
        print(f"  {job_type}: {kind} after {type(error).__name__}: {error}")

    @hookimpl
    def queue_core_job_succeeded(self, **_: object) -> None:
        self.tick()

    @hookimpl
    def queue_core_job_archived(self, **_: object) -> None:
        self.tick()


async def main() -> None:
    register(Settled(expected=5))  # "obsolete" is deleted: neither succeeded nor archived
    async with Client(URL) as client, Manager(URL) as manager:
        jobs = {
            "flaky": await client.enqueue("flaky", retention=60),
            "validate": await client.enqueue("validate"),
            "doomed": await client.enqueue("doomed", max_retries=2),
            "busy-upstream": await client.enqueue("busy-upstream", retention=60),
            "obsolete": await client.enqueue("obsolete"),
            "once": await client.enqueue("once", max_retries=0),
        }
        await worker.run()
        print()
        for name, job in jobs.items():
            try:
                info = await manager.job_info("default", job.id)
            except JobNotFound:
                print(f"{name:14} deleted")
                continue
            print(f"{name:14} {info.state:9} retries used {info.retried}, bounces {info.bounces}, "
                  f"last error {info.last_error!r}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
