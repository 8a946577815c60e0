"""Cancellation and graceful shutdown.

- Manager.cancel stops a running job's handler (through a notice, or at the latest the
  next lease renewal) and archives the job as "cancelled"; a job that is not running yet
  is archived the same way at once.
- SIGTERM (or SIGINT) stops the worker: no new jobs are taken, running handlers get
  shutdown_timeout to finish, the rest are interrupted and go back to the head of their
  queue without using a retry. A second signal interrupts at once.

    python examples/shutdown.py        (it sends itself the SIGTERM)
"""

from __future__ import annotations

import asyncio
import os
import signal

import anyio

from queue_core import Client, Delivery, Manager, Worker

URL = os.environ.get("QUEUE_URL", "memory://")
worker = Worker(URL, concurrency=4, shutdown_timeout=1.0)
running: dict[str, anyio.Event] = {}


@worker.handler("export")
async def export(delivery: Delivery) -> str:
    name, seconds = delivery.decode(list)
    running[name].set()
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        print(f"  {name}: interrupted")
        raise
    print(f"  {name}: finished")
    return name


async def control() -> None:
    async with Client(URL) as client, Manager(URL) as manager:
        # 1. Cancel a running job.
        running["report"] = anyio.Event()
        report = await client.enqueue("export", ["report", 60])
        await running["report"].wait()
        print(f"cancel report: it was {await manager.cancel('default', report.id)}")
        # 2. Cancel a job that waits for its time: archived at once.
        later = await client.enqueue("export", ["later", 1], delay=60)
        print(f"cancel later: it was {await manager.cancel('default', later.id)}")

        # 3. Stop the worker while two jobs run: one finishes in time, one does not.
        running["quick"], running["slow"] = anyio.Event(), anyio.Event()
        quick = await client.enqueue("export", ["quick", 0.2], retention=60)
        slow = await client.enqueue("export", ["slow", 60])
        await running["quick"].wait()
        await running["slow"].wait()
        print("SIGTERM")
        os.kill(os.getpid(), signal.SIGTERM)
        while (await manager.job_info("default", slow.id)).state == "active":
            await anyio.sleep(0.05)

        for name, job in (("report", report), ("later", later), ("quick", quick), ("slow", slow)):
            info = await manager.job_info("default", job.id)
            print(f"{name:6} {info.state:9} retries used {info.retried}, last error {info.last_error!r}")


async def main() -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run_until_signal)  # returns after the graceful stop
        await control()


if __name__ == "__main__":
    asyncio.run(main())
