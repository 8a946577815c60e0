"""Print an operator's overview of every queue, the way a dashboard builds one.

It first gives the broker something to show -- a worker that finishes some jobs, fails
others and is still busy with one, scheduled and grouped jobs, a paused queue -- then
asks a ``Manager`` for the queues, groups, live workers, running jobs and the archive.

Runs on the embedded ``memory://`` broker by default; point it at Redis with
``QUEUE_URL=redis://localhost:6379/0 python examples/queue_overview.py``.
"""

from __future__ import annotations

import logging
import os
import time

import anyio

from queue_core import Client, Delivery, Job, Manager, QueueInfo, Worker, retry

URL = os.environ.get("QUEUE_URL", "memory://")
COLUMNS = ("pending", "active", "scheduled", "retry", "archived", "completed", "aggregating")


def demo_worker() -> Worker:
    worker = Worker(
        URL,
        queues={"default": 3, "low": 1},
        concurrency=4,
        shutdown_timeout=1,
        heartbeat_interval=0.2,  # a real worker beats every few seconds
        id="overview-worker",
    )

    @worker.handler("email.send")
    async def send(delivery: Delivery) -> dict[str, bool]:
        return {"sent": True}

    @worker.handler("image.resize", retry_delay=retry.fixed(0.05))
    async def resize(delivery: Delivery) -> None:
        raise ValueError("unsupported image format")  # retried once, then archived

    @worker.handler("report.build")
    async def build(delivery: Delivery) -> None:
        await anyio.sleep_forever()  # still running when the overview is printed

    return worker


async def seed(client: Client, manager: Manager) -> None:
    emails = [Job.create("email.send", {"to": f"user{i}@example.com"}, retention=600) for i in range(8)]
    await client.enqueue_many(emails)
    await client.enqueue_many([Job.create("image.resize", {"image": i}, max_retries=1) for i in range(3)])
    await client.enqueue("report.build", {"month": "2025-06"}, timeout=300)
    await client.enqueue("email.send", {"to": "later@example.com"}, delay=3600)
    for user in range(5):
        await client.enqueue("digest.add", {"user": user}, queue="digest", group=f"team-{user % 2}")
    await client.enqueue("cleanup", queue="low")
    await manager.pause("low")


async def wait_for_the_worker(manager: Manager) -> None:
    """Until the emails are done, the images archived and the worker's heartbeat shows
    the report it runs (this polls; it is a demo)."""
    with anyio.fail_after(10):
        while True:
            info = await manager.queue_info("default")
            running = [job.type for worker in await manager.list_workers() for job in worker.active_jobs]
            if info.completed >= 8 and info.archived >= 3 and running == ["report.build"]:
                return
            await anyio.sleep(0.02)


def print_queues(queues: list[QueueInfo]) -> None:
    header = f"{'queue':<10}" + "".join(f"{name:>12}" for name in COLUMNS)
    header += f"{'done today':>12}{'failed':>8}{'latency':>9}  paused"
    print(header)
    print("-" * len(header))
    for q in queues:
        counts = "".join(f"{getattr(q, name):>12}" for name in COLUMNS)
        paused = "yes" if q.paused else "no"
        print(f"{q.queue:<10}{counts}{q.processed_today:>12}{q.failed_today:>8}{q.latency:>8.1f}s  {paused}")


async def overview(manager: Manager) -> None:
    print(f"== queues on {URL} ==")
    print_queues(await manager.list_queues())

    print("\n== aggregation groups of 'digest' ==")
    for group, size in sorted((await manager.list_groups("digest")).items()):
        print(f"  {group}: {size} job(s) waiting")

    print("\n== live workers ==")
    for worker in await manager.list_workers():
        queues = ", ".join(f"{name}={weight}" for name, weight in worker.queues.items())
        print(f"  {worker.id}  {worker.status}  pid {worker.pid}  concurrency {worker.concurrency}  queues {queues}")
        for job in worker.active_jobs:
            print(f"    running {job.type} {job.job_id[:8]} from {job.queue}")

    print("\n== running jobs of 'default' ==")
    for active in await manager.list_active("default"):
        left = (active.deadline or 0) - time.time()
        state = "lease expired: its worker is gone" if active.orphaned else "lease held"
        print(f"  {active.type} {active.id[:8]} on {active.worker_id}: {left:.0f}s to its deadline, {state}")

    print("\n== newest archived jobs of 'default' ==")
    for job in await manager.list_jobs("default", "archived", page=1, page_size=5):
        print(f"  {job.type} {job.id[:8]}: {job.last_error} (retried {job.retried}x)")

    today = (await manager.history("default", days=1))[0]
    print(f"\ntoday ({today.date}): {today.processed} processed, {today.succeeded} succeeded, {today.failed} failed")


async def main() -> None:
    worker = demo_worker()
    async with Client(URL) as client, Manager(URL) as manager, anyio.create_task_group() as tg:
        await seed(client, manager)
        tg.start_soon(worker.run)
        await wait_for_the_worker(manager)
        await overview(manager)
        worker.stop()  # the running report goes back to pending, unharmed


if __name__ == "__main__":
    # The image jobs fail on purpose; keep their tracebacks out of the overview.
    logging.getLogger("queue_core").setLevel(logging.CRITICAL)
    anyio.run(main)
