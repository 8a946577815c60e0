"""``queue-core top``: a live view of queues, rates, workers and running jobs.

Each frame reads ``Manager.list_queues`` and ``Manager.list_workers``; rates are the
change of each queue's processed and failed totals since the previous frame.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass

import anyio
import click
from rich.console import Group, RenderableType
from rich.live import Live
from rich.text import Text

from queue_core.cli.common import Settings, broker_options, open_manager, run
from queue_core.cli.failures import EXIT_CODES, OK, redacted
from queue_core.cli.output import console, relative, span, table, yes_no
from queue_core.cli.params import DURATION
from queue_core.cli.stats import STATE_COLUMNS
from queue_core.info import WorkerInfo
from queue_core.manager import Manager, QueueInfo

#: running jobs shown, longest-running first.
MAX_ACTIVE_ROWS = 20


@dataclass(frozen=True, slots=True)
class Snapshot:
    taken: float  # monotonic, for rates
    now: float  # wall clock, for ages
    queues: list[QueueInfo]
    workers: list[WorkerInfo]


@click.command(epilog=EXIT_CODES)
@click.option("--interval", type=DURATION, default=1.0, show_default=True, help="Time between two refreshes.")
@click.option("--iterations", type=click.IntRange(min=1), help="Stop after this many frames [default: until Ctrl-C].")
@click.option("--once", is_flag=True, help="Print one frame and exit (--iterations 1).")
@broker_options
def top(interval: float, iterations: int | None, once: bool) -> None:
    """A live view of queues, workers and running jobs.

    Refreshed every second: jobs by state, processed and failed per second and latency
    of each queue, the live workers and the jobs they are running. Ctrl-C quits."""
    run(_top, Settings.of(), interval, 1 if once else iterations, on_interrupt=OK)


async def _top(settings: Settings, interval: float, iterations: int | None) -> None:
    out = console()
    animate = out.is_terminal and iterations != 1
    async with open_manager(settings) as manager:
        previous: Snapshot | None = None
        frames = 0
        with Live(console=out, auto_refresh=False) if animate else nullcontext() as live:
            while True:
                current = await snapshot(manager)
                view = render(current, previous, settings.url)
                if live is not None:
                    live.update(view, refresh=True)
                else:
                    out.print(view)
                frames += 1
                if iterations is not None and frames >= iterations:
                    return
                previous = current
                await anyio.sleep(interval)


async def snapshot(manager: Manager) -> Snapshot:
    queues = await manager.list_queues()
    workers = await manager.list_workers()
    return Snapshot(time.monotonic(), manager.clock.now(), queues, workers)


def render(current: Snapshot, previous: Snapshot | None, url: str) -> RenderableType:
    now = current.now
    running = sorted((job for worker in current.workers for job in worker.active_jobs), key=lambda job: job.started_at)
    header = Text(
        f"queue-core top  {redacted(url)}  {time.strftime('%H:%M:%S', time.localtime(now))}  "
        f"{len(current.queues)} queue(s)  {len(current.workers)} worker(s)  {len(running)} job(s) running",
        style="bold",
    )
    before = {queue.queue: queue for queue in previous.queues} if previous is not None else {}
    elapsed = current.taken - previous.taken if previous is not None else 0.0

    def rate(queue: QueueInfo, field: str) -> str:
        old = before.get(queue.queue)
        if old is None or elapsed <= 0:
            return "-"
        return f"{max(0, getattr(queue, field) - getattr(old, field)) / elapsed:.1f}"

    queues = table("queue", *(f">{s}" for s in STATE_COLUMNS), ">processed/s", ">failed/s", ">latency", "paused",
                   title="queues")  # fmt: skip
    for queue in current.queues:
        queues.add_row(
            queue.queue, *(str(getattr(queue, s)) for s in STATE_COLUMNS),
            rate(queue, "processed_total"), rate(queue, "failed_total"), span(queue.latency), yes_no(queue.paused),
        )  # fmt: skip
    workers = table("worker", "host", ">pid", "status", ">busy", "queues", ">up", "heartbeat", title="workers")
    for worker in current.workers:
        workers.add_row(
            worker.id, worker.host, str(worker.pid), str(worker.status), f"{worker.busy}/{worker.concurrency}",
            queues_text(worker), span(now - worker.started_at), relative(worker.heartbeat_at, now),
        )  # fmt: skip
    active = table("job", "type", "queue", "worker", ">running", ">deadline", title="running jobs")
    owner = {(job.queue, job.job_id): worker.id for worker in current.workers for job in worker.active_jobs}
    for job in running[:MAX_ACTIVE_ROWS]:
        active.add_row(
            job.job_id, job.type, job.queue, owner[(job.queue, job.job_id)], span(now - job.started_at),
            relative(job.deadline, now),
        )  # fmt: skip
    more = len(running) - MAX_ACTIVE_ROWS
    parts: list[RenderableType] = [header, queues, workers, active]
    if more > 0:
        parts.append(Text(f"... and {more} more running"))
    return Group(*parts)


def queues_text(worker: WorkerInfo) -> str:
    listed = ", ".join(f"{name}={weight}" for name, weight in worker.queues.items())
    return f"{listed} (strict)" if worker.strict else listed
