"""``queue-core queue ls|info|history|pause|resume|delete``."""

from __future__ import annotations

import time

import click

from queue_core.cli.common import broker_options, confirm, json_option, manage
from queue_core.cli.failures import EXIT_CODES
from queue_core.cli.output import console, details, moment, plain, print_json, size, span, table, yes_no
from queue_core.cli.stats import queue_json
from queue_core.manager import MAX_HISTORY_DAYS


@click.group(epilog=EXIT_CODES)
def queue() -> None:
    """List, inspect, pause, resume and delete queues."""


@queue.command("ls", epilog=EXIT_CODES)
@json_option
@broker_options
def list_(as_json: bool) -> None:
    """Every queue with its size, latency and paused flag."""
    queues = manage(lambda manager: manager.list_queues())
    if as_json:
        print_json([queue_json(info) for info in queues])
        return
    grid = table("queue", ">size", ">pending", ">active", ">latency", "paused", ">memory")
    for info in queues:
        grid.add_row(info.queue, str(info.size), str(info.pending), str(info.active), span(info.latency),
                     yes_no(info.paused), size(info.memory_usage))  # fmt: skip
    console().print(grid)


@queue.command(epilog=EXIT_CODES)
@click.argument("name")
@json_option
@broker_options
def info(name: str, as_json: bool) -> None:
    """Counts by state, groups, counters, latency, paused flag and memory of queue NAME."""
    found = manage(lambda manager: manager.queue_info(name))
    if as_json:
        print_json(queue_json(found))
        return
    rows = [
        ("queue", found.queue),
        ("paused", yes_no(found.paused)),
        ("size", found.size),
        *((state, getattr(found, state)) for state in (
            "pending", "active", "scheduled", "retry", "archived", "completed", "aggregating", "groups")),
        ("latency", span(found.latency)),
        ("processed today", found.processed_today),
        ("failed today", found.failed_today),
        ("processed total", found.processed_total),
        ("failed total", found.failed_total),
        ("memory", size(found.memory_usage)),
        ("as of", moment(found.timestamp, time.time())),
    ]  # fmt: skip
    console().print(details(rows))


@queue.command(epilog=EXIT_CODES)
@click.argument("name")
@click.option("--days", type=click.IntRange(1, MAX_HISTORY_DAYS), default=7, show_default=True, help="Days to show.")
@json_option
@broker_options
def history(name: str, days: int, as_json: bool) -> None:
    """Processed, failed and succeeded per UTC day for queue NAME, today first."""
    daily = manage(lambda manager: manager.history(name, days))
    if as_json:
        print_json([{**plain(day), "succeeded": day.succeeded} for day in daily])
        return
    grid = table("date (UTC)", ">processed", ">failed", ">succeeded")
    for day in daily:
        grid.add_row(day.date, str(day.processed), str(day.failed), str(day.succeeded))
    console().print(grid)


@queue.command(epilog=EXIT_CODES)
@click.argument("name")
@broker_options
def pause(name: str) -> None:
    """Stop workers taking jobs from queue NAME (running jobs go on; enqueue still works)."""
    changed = manage(lambda manager: manager.pause(name))
    click.echo(f"queue {name} paused" if changed else f"queue {name} was paused already")


@queue.command(epilog=EXIT_CODES)
@click.argument("name")
@broker_options
def resume(name: str) -> None:
    """Let workers take jobs from queue NAME again."""
    changed = manage(lambda manager: manager.resume(name))
    click.echo(f"queue {name} resumed" if changed else f"queue {name} was not paused")


@queue.command(epilog=EXIT_CODES)
@click.argument("name")
@click.option("--force", is_flag=True, help="Delete it with every job it holds (never while a job is active).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before deleting jobs with --force.")
@broker_options
def delete(name: str, force: bool, yes: bool) -> None:
    """Delete queue NAME and its counters; refused while it holds jobs, unless --force."""
    if force and not yes:
        found = manage(lambda manager: manager.queue_info(name))
        confirm(f"Delete queue {name!r} with its {found.size + found.completed} job(s)?")
    manage(lambda manager: manager.delete_queue(name, force=force))
    click.echo(f"queue {name} deleted")
