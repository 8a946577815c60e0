"""``queue-core stats``: every queue's counts by state, in one table; with ``--history``
the per-minute metrics history (processed, failed, run time) instead."""

from __future__ import annotations

import time
from typing import Any

import click
from rich.table import Table

from queue_core.cli.common import broker_options, json_option, manage
from queue_core.cli.failures import EXIT_CODES
from queue_core.cli.output import console, plain, print_json, size, span, table, yes_no
from queue_core.manager import Manager, MetricsHistory, QueueInfo
from queue_core.metrics import MAX_WINDOW_MINUTES, MinuteMetrics

STATE_COLUMNS = ("pending", "active", "scheduled", "retry", "archived", "completed", "aggregating")


@click.command(epilog=EXIT_CODES)
@click.option("--history", is_flag=True, help="Show the metrics history (per minute, kept 72 hours) instead.")
@click.option("--queue", "queue_name", metavar="QUEUE", help="--history: one queue only [default: every queue].")
@click.option("--type", "job_type", metavar="TYPE", help="--history: one job type only [default: every type].")
@click.option(
    "--minutes", type=click.IntRange(1, MAX_WINDOW_MINUTES), default=60, show_default=True,
    help="--history: how far back to look (up to 4320, i.e. 72 hours).",
)  # fmt: skip
@click.option(
    "--step", type=click.IntRange(1, MAX_WINDOW_MINUTES), help="--history: minutes per row [default: fits ~30 rows]."
)
@json_option
@broker_options
def stats(
    history: bool, queue_name: str | None, job_type: str | None, minutes: int, step: int | None, as_json: bool
) -> None:
    """Every queue's jobs by state, in one table.

    Also processed and failed today, latency (how long the oldest pending job has
    waited), paused, and memory where the driver can tell. With --history: processed,
    failed and run time (mean, p50, p95) per minute (or per --step minutes), then per
    job type, as the workers recorded them."""
    if history:
        chosen_step = step if step is not None else max(1, -(-minutes // 30))

        async def read(manager: Manager) -> MetricsHistory:
            return await manager.metrics(queue_name, job_type=job_type, minutes=minutes, step=min(chosen_step, minutes))

        found = manage(read)
        if as_json:
            print_json({**plain(found), "total": plain(found.total)})
            return
        console().print(history_table(found))
        console().print(types_table(found))
        return
    queues = manage(lambda manager: manager.list_queues())
    if as_json:
        print_json([queue_json(queue) for queue in queues])
        return
    if not queues:
        click.echo("no queues yet: enqueue a job to create one")
        return
    console().print(queue_table(queues))


def queue_json(queue: QueueInfo) -> dict[str, Any]:
    data: dict[str, Any] = plain(queue)
    data["size"] = queue.size
    return data


def queue_table(queues: list[QueueInfo], *, title: str | None = None) -> Table:
    grid = table("queue", *(f">{state}" for state in STATE_COLUMNS), ">processed today", ">failed today",
                 ">latency", "paused", ">memory", title=title)  # fmt: skip
    for queue in queues:
        if queue.damaged is not None:
            grid.add_row(queue.queue, f"DAMAGED: {queue.damaged}", *[""] * (len(STATE_COLUMNS) + 5))
            continue
        grid.add_row(
            queue.queue,
            *(str(getattr(queue, state)) for state in STATE_COLUMNS),
            str(queue.processed_today),
            str(queue.failed_today),
            span(queue.latency),
            yes_no(queue.paused),
            size(queue.memory_usage),
        )
    return grid


def _runtime_cells(metrics: MinuteMetrics) -> tuple[str, str, str]:
    return span(metrics.mean_runtime), span(metrics.p50), span(metrics.p95)


def history_table(found: MetricsHistory) -> Table:
    where = f"queue {found.queue}" if found.queue != "*" else "every queue"
    what = f"type {found.job_type}" if found.job_type != "*" else "every type"
    grid = table("from (UTC)", ">processed", ">failed", ">mean", ">p50", ">p95",
                 title=f"{where}, {what}: per {span(found.step)}")  # fmt: skip
    for point in found.points:
        grid.add_row(
            time.strftime("%Y-%m-%d %H:%M", time.gmtime(point.minute)),
            str(point.processed), str(point.failed), *_runtime_cells(point),
        )  # fmt: skip
    return grid


def types_table(found: MetricsHistory) -> Table:
    grid = table("job type", ">processed", ">failed", ">mean", ">p50", ">p95", title="by job type, whole window")
    for name, metrics in found.by_type.items():
        grid.add_row(name, str(metrics.processed), str(metrics.failed), *_runtime_cells(metrics))
    total = found.total
    grid.add_row("(all)", str(total.processed), str(total.failed), *_runtime_cells(total))
    return grid
