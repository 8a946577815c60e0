"""``queue-core workers [ID]``: live workers, or one with the jobs it runs."""

from __future__ import annotations

import time

import click

from queue_core.cli.common import broker_options, json_option, manage
from queue_core.cli.failures import EXIT_CODES
from queue_core.cli.output import console, details, moment, print_json, relative, span, table
from queue_core.cli.top import queues_text


@click.command(epilog=EXIT_CODES)
@click.argument("worker_id", metavar="[ID]", required=False)
@json_option
@broker_options
def workers(worker_id: str | None, as_json: bool) -> None:
    """Live workers; with ID, that worker and the jobs it runs."""
    if worker_id is not None:
        found = manage(lambda manager: manager.worker_info(worker_id))
        if as_json:
            print_json(found)
            return
        now = time.time()
        rows = [
            ("id", found.id), ("host", found.host), ("pid", found.pid), ("status", found.status),
            ("concurrency", found.concurrency), ("busy", found.busy), ("queues", queues_text(found)),
            ("started", moment(found.started_at, now)), ("heartbeat", relative(found.heartbeat_at, now)),
        ]  # fmt: skip
        console().print(details(rows))
        if found.active_jobs:
            grid = table("job", "type", "queue", ">running", ">deadline", title="running jobs")
            for job in found.active_jobs:
                grid.add_row(job.job_id, job.type, job.queue, span(now - job.started_at), relative(job.deadline, now))
            console().print(grid)
        return
    live = manage(lambda manager: manager.list_workers())
    if as_json:
        print_json(live)
        return
    if not live:
        click.echo("no live workers")
        return
    now = time.time()
    grid = table("id", "host", ">pid", "status", ">busy", "queues", ">up", "heartbeat")
    for worker in live:
        grid.add_row(
            worker.id, worker.host, str(worker.pid), str(worker.status), f"{worker.busy}/{worker.concurrency}",
            queues_text(worker), span(now - worker.started_at), relative(worker.heartbeat_at, now),
        )  # fmt: skip
    console().print(grid)
