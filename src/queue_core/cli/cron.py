"""``queue-core cron ls|history``: schedules of the live schedulers and their fires."""

from __future__ import annotations

import time

import click

from queue_core.cli.common import broker_options, json_option, manage
from queue_core.cli.failures import EXIT_CODES
from queue_core.cli.output import console, moment, print_json, relative, table
from queue_core.scheduling.records import HISTORY_KEEP


@click.group(epilog=EXIT_CODES)
def cron() -> None:
    """Cron and periodic schedules of the live schedulers."""


@cron.command("ls", epilog=EXIT_CODES)
@json_option
@broker_options
def list_(as_json: bool) -> None:
    """Every schedule of every live scheduler, with its next and previous run."""
    schedules = manage(lambda manager: manager.schedules())
    if as_json:
        print_json(schedules)
        return
    if not schedules:
        click.echo("no schedules: no scheduler is running (start one with `queue-core scheduler APP`)")
        return
    now = time.time()
    grid = table("schedule", "spec", "type", "queue", "timezone", "next run", "previous run", "scheduler")
    for entry in schedules:
        grid.add_row(entry.schedule_id, entry.spec, entry.job_type, entry.queue, entry.timezone or "-",
                     moment(entry.next_run, now), relative(entry.prev_run, now), entry.scheduler_id)  # fmt: skip
    console().print(grid)


@cron.command(epilog=EXIT_CODES)
@click.argument("schedule_id", metavar="SCHEDULE")
@click.option("--limit", type=click.IntRange(1, HISTORY_KEEP), default=20, show_default=True, help="Fires to show.")
@json_option
@broker_options
def history(schedule_id: str, limit: int, as_json: bool) -> None:
    """The newest fires of SCHEDULE: the job each one enqueued, or its error."""
    fires = manage(lambda manager: manager.schedule_history(schedule_id, limit))
    if as_json:
        print_json(fires)
        return
    if not fires:
        click.echo(f"schedule {schedule_id} has not fired yet")
        return
    now = time.time()
    grid = table("fire time", "job", "error", "recorded")
    for fire in fires:
        grid.add_row(moment(fire.fire_time, now), fire.job_id or "-", fire.error or "", relative(fire.recorded_at, now))
    console().print(grid)
