"""Timeouts and deadlines: an attempt ends at the earliest of its handler's timeout, the
job's timeout and the job's deadline (30 minutes when none is set) and fails with
JobTimeout; a job whose deadline passed before any worker took it is archived unrun.

    python examples/timeouts.py
"""

from __future__ import annotations

import asyncio
import os
import time

from queue_core import Client, Delivery, JobTimeout, Manager, Worker, hookimpl
from queue_core.plugins import register

URL = os.environ.get("QUEUE_URL", "memory://")
worker = Worker(URL, concurrency=4, shutdown_timeout=2)


@worker.handler("report.build", timeout=0.3)  # this handler's attempts: 0.3 s at most
async def build_report(delivery: Delivery) -> None:
    print(f"  {delivery.decode(str)}: must end by +{delivery.deadline - time.time():.2f}s")
    await asyncio.sleep(10)  # far too slow: cancelled at its deadline


class Outcomes:
    def __init__(self) -> None:
        self.failures = 0
        self.started = asyncio.Event()

    @hookimpl
    def queue_core_worker_started(self, worker_id: str, queues: list[str]) -> None:
        self.started.set()

    @hookimpl
    def queue_core_job_failed(self, job_id: str, error: BaseException, **_: object) -> None:
        assert isinstance(error, JobTimeout)
        print(f"  failed: {error}")
        self.failures += 1
        if self.failures == 3:
            worker.stop()


async def main() -> None:
    outcomes = Outcomes()
    register(outcomes)
    async with Client(URL) as client, Manager(URL) as manager:
        now = time.time()
        # max_retries=0: a timed-out attempt archives the job (else it is retried like any failure)
        await client.enqueue("report.build", "handler timeout wins", max_retries=0)
        await client.enqueue("report.build", "job timeout wins", timeout=0.2, max_retries=0)
        late = await client.enqueue("report.build", "too late", deadline=now + 0.05)
        await asyncio.sleep(0.1)  # the last job's deadline passes before any worker runs
        async with asyncio.TaskGroup() as tg:
            tg.create_task(worker.run())
            await outcomes.started.wait()
            # Enqueued once the worker runs, so that its deadline (earlier than the handler's
            # 0.3 s) is what ends the attempt, however long the worker took to start.
            await client.enqueue("report.build", "deadline wins", deadline=time.time() + 0.25, max_retries=0)
        info = await manager.job_info("default", late.id)
        print(f"too late: {info.state}, last error {info.last_error!r}, never started: {info.started_at is None}")


if __name__ == "__main__":
    asyncio.run(main())
