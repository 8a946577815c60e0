"""The dashboard on a big queue: server-side render times with 1,000,000 jobs waiting.

Starts a throwaway redis-server, fills queue ``big`` with ``--jobs`` pending jobs (plus
a few thousand archived and scheduled ones, and metrics history), and times the pages an
operator opens first, rendered by the ASGI app in this process (no network: the time is
the server's, from request to the last byte of the response). Each figure is the median
of ``--repeats`` renders with (min-max); the target is under 100 ms for the overview and
a queue page. Nothing here scans the queue: counts come from the broker's counters and
pages from one range read, so the times do not grow with the queue.

    python benchmarks/dashboard.py                 # part of make bench
    python benchmarks/dashboard.py --jobs 100000   # quicker
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import anyio
import httpx

from queue_core import Client, Job, Manager, MinuteMetrics, minute_of
from queue_core.dashboard import create_app
from queue_core.metrics import HISTOGRAM_SLOTS, METRICS_KEEP

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from redis_server import RedisServer  # noqa: E402  (the tests' throwaway server, found through sys.path)

RESULTS = ROOT / "benchmarks" / "results" / "dashboard.md"
TARGET_MS = 100.0
CHUNK = 5000


async def fill(url: str, jobs: int) -> None:
    async with Client(url) as client:
        done = 0
        started = time.perf_counter()
        while done < jobs:
            count = min(CHUNK, jobs - done)
            batch = [Job.create("email.send", {"to": f"user{done + i}@example.com"}, queue="big") for i in range(count)]
            await client.enqueue_many(batch, chunk_size=1000)
            done += count
            if done % 100_000 == 0:
                say(f"  {done:,} jobs ({done / (time.perf_counter() - started):,.0f}/s)")
        await client.enqueue_many([Job.create("report.render", i, queue="big", delay=3600 + i) for i in range(2000)])
    async with Manager(url) as manager:
        await manager.archive_all("big", "scheduled")  # 2,000 archived jobs for the archived tab
        samples = [
            MinuteMetrics("big", "email.send", minute_of(time.time()) - 60 * back, 50, 1, 5_000_000,
                          (50,) + (0,) * (HISTOGRAM_SLOTS - 1))
            for back in range(4320)
        ]  # fmt: skip
        await manager.broker.record_metrics(samples, time.time(), METRICS_KEEP)


async def measure(url: str, repeats: int) -> list[tuple[str, list[float], int]]:
    async with Manager(url) as manager:
        first_pending = (await manager.list_jobs("big", "pending", 1, 1))[0].id
        pending = (await manager.queue_info("big")).pending
        last_page = -(-pending // 25)
        app = create_app(manager)
        pages = [
            ("overview", "/"),
            ("overview, live fragment", "/live/overview"),
            ("queue page: pending, page 1", "/queues/big?state=pending"),
            (f"queue page: pending, last page ({last_page:,})", f"/queues/big?state=pending&page={last_page}"),
            ("queue page: archived, page 1", "/queues/big?state=archived"),
            ("queue page, live fragment", "/live/queues/big?state=pending"),
            ("job page", f"/queues/big/jobs/{first_pending}"),
            ("metrics, 72 hours", "/metrics?window=72h"),
        ]
        results = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await client.get("/")  # opens nothing new, but warms templates
            for label, path in pages:
                times = []
                status = 0
                for _ in range(repeats):
                    started = time.perf_counter()
                    response = await client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    status = response.status_code
                results.append((label, times, status))
        return results


def report(jobs: int, results: list[tuple[str, list[float], int]]) -> str:
    lines = [
        f"Dashboard render times, server side, queue `big` with {jobs:,} pending jobs "
        "(+2,000 archived, 72 h of metrics), Redis, asyncio; median (min-max) ms:",
        "",
        "| page | ms | status |",
        "|---|---:|---:|",
    ]
    for label, times, status in results:
        lines.append(f"| {label} | {statistics.median(times):.1f} ({min(times):.1f}-{max(times):.1f}) | {status} |")
    return "\n".join(lines)


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    with RedisServer() as server:
        say(f"filling queue big with {args.jobs:,} jobs")
        anyio.run(fill, server.url, args.jobs)
        say("rendering")
        results = anyio.run(measure, server.url, args.repeats)
    table = report(args.jobs, results)
    print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table + "\n")
    slow = [label for label, times, _ in results if label.startswith(("overview", "queue page"))
            and statistics.median(times) >= TARGET_MS]  # fmt: skip
    if slow:
        say(f"over the {TARGET_MS:.0f} ms target: {', '.join(slow)}")
    failed = [label for label, _, status in results if status != 200]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
