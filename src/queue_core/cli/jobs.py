"""``queue-core job ls|show|payload|result`` (the actions are in ``job_actions``)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import click

from queue_core.broker import JobInfo
from queue_core.cli.common import broker_options, json_option, known_queue, manage
from queue_core.cli.failures import EXIT_CODES
from queue_core.cli.output import console, details, moment, plain, print_json, relative, size, span, table, yes_no
from queue_core.cli.params import STATE
from queue_core.job import DEFAULT_QUEUE
from queue_core.manager import DEFAULT_PAGE_SIZE, ActiveJob, Manager
from queue_core.states import JobState

queue_option = click.option("-q", "--queue", default=DEFAULT_QUEUE, show_default=True, help="The job's queue.")


@click.group(epilog=EXIT_CODES)
def job() -> None:
    """List, inspect and act on jobs.

    Run, archive, delete or cancel one job, several, or every job of a state."""


@job.command("ls", epilog=EXIT_CODES)
@queue_option
@click.option("-s", "--state", type=STATE, default="pending", show_default=True)
@click.option("--group", help="The aggregation group (required with --state aggregating; see `group ls`).")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 1000), default=DEFAULT_PAGE_SIZE, show_default=True)
@json_option
@broker_options
def list_(queue: str, state: str, group: str | None, page: int, page_size: int, as_json: bool) -> None:
    """One page of a queue's jobs in a state.

    Pending jobs come in the order they will run, active ones by start, scheduled and
    retry ones by due time, archived ones newest first. Active jobs show their worker,
    their attempt's deadline and whether their lease ran out (orphaned)."""
    parsed = JobState(state)
    if parsed is JobState.ACTIVE:
        active = manage(lambda manager: _active_page(manager, queue, page, page_size))
        if as_json:
            print_json([active_json(item) for item in active])
        else:
            _print_active(active, queue, page)
        return
    jobs, total = manage(lambda manager: _page(manager, queue, parsed, page, page_size, group))
    if as_json:
        print_json(jobs)
        return
    if not jobs:
        click.echo(f"no {state} jobs in queue {queue}" + (f" on page {page}" if page > 1 else ""))
        return
    title, column = COLUMNS[parsed]
    now = time.time()
    grid = table("id", "type", ">retried", title, ">payload", "last error")
    for info in jobs:
        error = f"MALFORMED: {info.malformed}" if info.malformed else info.last_error
        grid.add_row(info.id, info.type, f"{info.retried}/{info.max_retries}", column(info, now),
                     size(info.payload_size), _short(error))  # fmt: skip
    console().print(grid)
    _more(total, page, page_size, len(jobs))


def at_terminal() -> bool:
    """Whether stderr is a terminal (hints are for people, not for pipes)."""
    return sys.stderr.isatty()


def _more(total: int, page: int, page_size: int, shown: int) -> None:
    """At a terminal, say on stderr how many jobs the following pages hold."""
    more = total - (page - 1) * page_size - shown
    if more > 0 and at_terminal():
        pages = -(-more // page_size)
        click.echo(
            f"{more} more job(s) on {pages} more page(s): --page {page + 1} (or --page-size up to 1000)", err=True
        )


async def _page(
    manager: Manager, queue: str, state: JobState, page: int, page_size: int, group: str | None
) -> tuple[list[JobInfo], int]:
    """One page of jobs, and how many jobs the state holds in all."""
    jobs = await manager.list_jobs(queue, state, page, page_size, group=group)
    if not jobs:
        await known_queue(manager, queue)
        return jobs, 0
    if state is JobState.AGGREGATING:
        total = (await manager.list_groups(queue)).get(group or "", 0)
    else:
        total = (await manager.queue_info(queue)).count(state)
    return jobs, total


async def _active_page(manager: Manager, queue: str, page: int, page_size: int) -> list[ActiveJob]:
    active = await manager.list_active(queue, page, page_size)
    if not active:
        await known_queue(manager, queue)
    return active


def _print_active(active: list[ActiveJob], queue: str, page: int) -> None:
    if not active:
        click.echo(f"no active jobs in queue {queue}" + (f" on page {page}" if page > 1 else ""))
        return
    now = time.time()
    grid = table("id", "type", ">running", ">deadline", "worker", "orphaned")
    for item in active:
        grid.add_row(item.id, item.type, span(now - item.started_at) if item.started_at else "-",
                     relative(item.deadline, now), item.worker_id or "-", yes_no(item.orphaned))  # fmt: skip
    console().print(grid)


def active_json(item: ActiveJob) -> dict[str, Any]:
    data: dict[str, Any] = plain(item.info)
    data.update(attempt_deadline=item.deadline, orphaned=item.orphaned, worker_id=item.worker_id)
    return data


@job.command(epilog=EXIT_CODES)
@click.argument("job_id", metavar="ID")
@queue_option
@json_option
@broker_options
def show(job_id: str, queue: str, as_json: bool) -> None:
    """Everything about job ID but its payload and result, with the jobs it waits for
    and the jobs waiting for it."""
    info, dependents = manage(lambda manager: _with_dependents(manager, queue, job_id))
    if as_json:
        data: dict[str, Any] = plain(info)
        data["dependents"] = dependents
        print_json(data)
        return
    now = time.time()
    rows = [
        ("MALFORMED", info.malformed),
        ("id", info.id), ("type", info.type), ("queue", info.queue), ("state", info.state.value),
        ("group", info.group), ("retried", f"{info.retried} of {info.max_retries}"),
        ("crashes", info.crashes), ("bounces", info.bounces), ("payload", size(info.payload_size)),
        ("enqueued", moment(info.enqueued_at, now)), ("next run", moment(info.next_process_at, now)),
        ("started", moment(info.started_at, now)), ("lease expires", moment(info.lease_expires_at, now)),
        ("timeout", span(info.timeout)), ("deadline", moment(info.deadline, now)),
        ("completed", moment(info.completed_at, now)), ("expires", moment(info.expires_at, now)),
        ("retention", span(info.retention)), ("archived", moment(info.archived_at, now)),
        ("last failure", moment(info.last_failed_at, now)), ("last error", info.last_error),
        ("unique key", info.unique_key), ("result", size(info.result_size) if info.has_result else None),
        ("depends on", ", ".join(info.depends_on) or None),
        ("waiting for", info.waiting_for if info.state is JobState.WAITING else None),
        ("on dependency failure", info.on_dependency_failure),
        ("dependents", ", ".join(dependents) or None),
        *((f"header {key}", value) for key, value in sorted(info.headers.items())),
        ("traceback", info.last_traceback),
    ]  # fmt: skip
    optional = ("MALFORMED", "traceback")
    console().print(details(row for row in rows if row[0] not in optional or row[1] is not None))


async def _with_dependents(manager: Manager, queue: str, job_id: str) -> tuple[JobInfo, list[str]]:
    return await manager.job_info(queue, job_id), await manager.dependents(queue, job_id)


@job.command(epilog=EXIT_CODES)
@click.argument("job_id", metavar="ID")
@queue_option
@broker_options
def release(job_id: str, queue: str) -> None:
    """Release waiting job ID by hand: pending now, whatever its dependencies."""
    manage(lambda manager: manager.release(queue, job_id))
    console().print(f"released {job_id}")


@job.command("cancel-flow", epilog=EXIT_CODES)
@click.argument("job_id", metavar="ID")
@queue_option
@broker_options
def cancel_flow(job_id: str, queue: str) -> None:
    """Cancel job ID and every job downstream of it."""
    cancelled = manage(lambda manager: manager.cancel_flow(queue, job_id))
    console().print(f"cancelled {len(cancelled)} job(s): {', '.join(cancelled) or '-'}")


@job.command(epilog=EXIT_CODES)
@click.argument("job_id", metavar="ID")
@queue_option
@broker_options
def payload(job_id: str, queue: str) -> None:
    """Write job ID's payload to stdout, as enqueued (JSON by default)."""
    _write(manage(lambda manager: manager.job_payload(queue, job_id)))


@job.command(epilog=EXIT_CODES)
@click.argument("job_id", metavar="ID")
@queue_option
@broker_options
def result(job_id: str, queue: str) -> None:
    """Write job ID's result to stdout (exit 1 when it has none)."""
    _write(manage(lambda manager: manager.job_result(queue, job_id)))


def _write(data: bytes) -> None:
    sys.stdout.flush()
    out = sys.stdout.buffer
    out.write(data)
    if sys.stdout.isatty() and not data.endswith(b"\n"):
        out.write(b"\n")
    out.flush()


def _short(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    line = text.strip().splitlines()[-1] if text.strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."


def _when(field: str) -> Callable[[JobInfo, float], str]:
    return lambda info, now: relative(getattr(info, field), now)


#: per state, the time column of the listing.
COLUMNS: dict[JobState, tuple[str, Callable[[JobInfo, float], str]]] = {
    JobState.PENDING: ("enqueued", _when("enqueued_at")),
    JobState.SCHEDULED: ("due", _when("next_process_at")),
    JobState.RETRY: ("due", _when("next_process_at")),
    JobState.ARCHIVED: ("archived", _when("archived_at")),
    JobState.COMPLETED: ("expires", _when("expires_at")),
    JobState.AGGREGATING: ("enqueued", _when("enqueued_at")),
    JobState.WAITING: ("enqueued", _when("enqueued_at")),
}
