"""``queue-core stats``: every queue's counts by state, in one table."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from queue_core.cli.common import broker_options, json_option, manage
from queue_core.cli.failures import EXIT_CODES
from queue_core.cli.output import console, plain, print_json, size, span, table, yes_no
from queue_core.manager import QueueInfo

STATE_COLUMNS = ("pending", "active", "scheduled", "retry", "archived", "completed", "aggregating")


@click.command(epilog=EXIT_CODES)
@json_option
@broker_options
def stats(as_json: bool) -> None:
    """Every queue's jobs by state, in one table.

    Also processed and failed today, latency (how long the oldest pending job has
    waited), paused, and memory where the driver can tell."""
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
