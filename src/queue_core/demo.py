"""``python -m queue_core demo``: a few hundred jobs through a Worker on ``memory://``.

The mix shows the main job lifecycle in seconds: most jobs succeed (some kept as
completed by their retention), some fail once and succeed on retry, some bounce on a
rate limit without using a retry, a few are archived (``SkipRetry``, or retries
exhausted), and some are scheduled a moment into the future.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from typing import TextIO

import anyio

from queue_core.broker import Broker, QueueStats
from queue_core.client import Client
from queue_core.errors import RateLimited, SkipRetry
from queue_core.job import Job
from queue_core.registry import open_broker
from queue_core.retry import fixed
from queue_core.worker.delivery import Delivery
from queue_core.worker.worker import Worker

QUEUE = "default"
STATES = ("pending", "scheduled", "active", "retry", "completed", "archived")
QUICK_RETRY = fixed(0.3)


def demo_jobs(total: int) -> list[Job]:
    """The demo's mix, ``total`` jobs in all (at least 20)."""
    total = max(20, total)
    archived = max(2, total // 60)
    delayed = max(3, total // 15)
    flaky = total * 3 // 10
    limited = total // 20
    plain = total - archived - delayed - flaky - limited
    jobs: list[Job] = []
    for i in range(plain):
        # every other one is kept for 5 minutes so it shows as completed
        jobs.append(Job.create("email.send", {"to": f"user{i}@example.com"}, retention=300 if i % 2 else 0))
    jobs += [Job.create("image.resize", {"image": i, "width": 128}, retention=300) for i in range(flaky)]
    jobs += [Job.create("quota.check", {"account": i}) for i in range(limited)]
    jobs += [Job.create("report.build", {"report": i}, max_retries=1) for i in range(archived)]
    jobs += [Job.create("cleanup", {"batch": i}, delay=0.5 + i * 0.05, retention=300) for i in range(delayed)]
    random.shuffle(jobs)
    return jobs


def demo_worker(broker: Broker, concurrency: int) -> Worker:
    worker = Worker(broker, concurrency=concurrency, shutdown_timeout=2)

    @worker.handler("email.send")
    async def send_email(delivery: Delivery) -> dict[str, bool]:
        await anyio.sleep(random.uniform(0.001, 0.02))
        return {"sent": True}

    @worker.handler("image.resize", retry_delay=QUICK_RETRY)
    async def resize(delivery: Delivery) -> dict[str, int]:
        if delivery.attempt == 1:
            raise RuntimeError("thumbnail service warming up")
        await anyio.sleep(random.uniform(0.005, 0.03))
        return {"width": delivery.decode(dict)["width"]}

    @worker.handler("quota.check")
    async def check_quota(delivery: Delivery) -> None:
        if delivery.record.bounces == 0:
            raise RateLimited(0.5)  # comes back later without using a retry

    @worker.handler("report.build", retry_delay=QUICK_RETRY)
    async def build_report(delivery: Delivery) -> None:
        if delivery.decode(dict)["report"] % 2:
            raise SkipRetry("report template is missing")  # archived at once
        raise ValueError("no data for this period")  # archived once its one retry is used

    @worker.handler("cleanup")
    async def cleanup(delivery: Delivery) -> str:
        return f"cleaned batch {delivery.decode(dict)['batch']}"

    return worker


async def run_demo(
    url: str = "memory://", *, jobs: int = 300, concurrency: int = 20, out: TextIO | None = None
) -> QueueStats:
    """Enqueue the mix, run a worker until every job is settled, print the summary."""
    out = out if out is not None else sys.stdout
    started = time.monotonic()
    broker = await open_broker(url)
    try:
        worker = demo_worker(broker, concurrency)
        batch = demo_jobs(jobs)
        async with Client(broker) as client:
            outcomes = await client.enqueue_many(batch)
        print(f"enqueued {sum(o.ok for o in outcomes)} jobs of {len({j.type for j in batch})} types on {url}", file=out)
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run, name="demo worker")
            stats = await _watch(broker, client.clock.now, out)
            worker.stop()
        print(file=out)
        _print_table(stats, time.monotonic() - started, out)
        return stats
    finally:
        await broker.close()


async def _watch(broker: Broker, now: Callable[[], float], out: TextIO) -> QueueStats:
    """Redraw a progress line until nothing is pending, scheduled, active or in retry.

    At a terminal the line is redrawn in place; otherwise (a pipe, a log file) a line is
    written at most once a second, so the output stays a readable series of lines."""
    redraw = out.isatty()
    last_line = -1.0
    while True:
        stats = await broker.queue_stats(QUEUE, now())
        line = "  ".join(f"{state} {getattr(stats, state):>4}" for state in STATES)
        line = f"{line}  | processed {stats.processed_total:>4}  failed {stats.failed_total:>3}"
        done = stats.pending + stats.scheduled + stats.active + stats.retry == 0
        if redraw:
            out.write(f"\r{line}")
        elif done or time.monotonic() - last_line >= 1.0:
            last_line = time.monotonic()
            out.write(f"{line}\n")
        out.flush()
        if done:
            return stats
        await anyio.sleep(0.1)


def _print_table(stats: QueueStats, elapsed: float, out: TextIO) -> None:
    rows = [(state, getattr(stats, state)) for state in STATES]
    rows += [("processed (total)", stats.processed_total), ("failed (total)", stats.failed_total)]
    width = max(len(name) for name, _ in rows)
    print(f"queue {stats.queue!r} after {elapsed:.1f}s", file=out)
    print(f"  {'state':<{width}}  count", file=out)
    print(f"  {'-' * width}  -----", file=out)
    for name, count in rows:
        print(f"  {name:<{width}}  {count:>5}", file=out)
    print("completed jobs were kept by their retention; the others were deleted on success", file=out)
