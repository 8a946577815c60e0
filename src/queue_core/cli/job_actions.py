"""``queue-core job run|archive|delete|cancel``: by ID, or ``--all STATE``.

One ID is one Manager call (``run_job``...); several are a Manager batch (``batch_run``...),
which reports each ID that failed. ``--all STATE`` asks first (``--yes`` skips it), then:

- up to ``PROGRESS_AFTER`` jobs: one ``run_all`` / ``archive_all`` / ``delete_all`` call,
  atomic in the broker (``cancel --all active`` is ``cancel_active``);
- more: batches of ``CHUNK`` IDs read from the listing, with a progress bar on stderr,
  until as many jobs as were counted at the question have been handled. Ctrl-C stops
  between batches; what was done stays done. (Cancelling pending, scheduled, retry or
  aggregating jobs has no all-at-once call, so it always goes this way.)
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from queue_core.cli.common import Settings, broker_options, confirm, manage, open_manager, run
from queue_core.cli.failures import EXIT_CODES, FAILED, USAGE, CliError
from queue_core.cli.jobs import job, queue_option
from queue_core.cli.output import console
from queue_core.cli.params import STATE
from queue_core.manager import BatchFailure, BatchResult, Manager
from queue_core.states import ACTIONS, JobState

#: more jobs than this are handled in batches, with a progress bar.
PROGRESS_AFTER = 1000
CHUNK = 500


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    past: str  # "moved to pending", "archived"...
    gerund: str
    one: Callable[[Manager, str, str], Awaitable[JobState]]
    batch: Callable[[Manager, str, Sequence[str]], Awaitable[BatchResult]]
    every: Callable[..., Awaitable[int]] | None  # Manager.run_all(queue, state, group=)
    help: str


ACTION_LIST = [
    Action("run", "moved to pending", "running", Manager.run_job, Manager.batch_run, Manager.run_all,
           "Run jobs now. Scheduled, retry, archived or aggregating jobs move to pending."),
    Action("archive", "archived", "archiving", Manager.archive_job, Manager.batch_archive, Manager.archive_all,
           "Archive pending, scheduled, retry or aggregating jobs. Archived jobs stay inspectable and can be "
           "run again."),
    Action("delete", "deleted", "deleting", Manager.delete_job, Manager.batch_delete, Manager.delete_all,
           "Delete jobs. Any state but active; their unique locks are released."),
    Action("cancel", "cancelled", "cancelling", Manager.cancel, Manager.batch_cancel, None,
           "Cancel jobs. An active one is stopped by its worker; a pending, scheduled, retry or aggregating "
           "one is archived as cancelled at once."),
]  # fmt: skip


def _command(action: Action) -> click.Command:
    @click.argument("job_ids", metavar="[ID]...", nargs=-1)
    @queue_option
    @click.option("--all", "every", type=STATE, metavar="STATE", help="Every job of the queue in STATE, not IDs.")
    @click.option("--group", help="With --all aggregating: the aggregation group.")
    @click.option("-y", "--yes", is_flag=True, help="With --all: do not ask first.")
    @broker_options
    def command(job_ids: tuple[str, ...], queue: str, every: str | None, group: str | None, yes: bool) -> None:
        if every is not None:
            if job_ids:
                raise click.UsageError("give job IDs or --all STATE, not both")
            _all(action, queue, JobState(every), group, yes)
            return
        ids = _ids(job_ids)
        if not ids:
            raise click.UsageError("give one or more job IDs (- reads them from stdin), or --all STATE")
        if len(ids) == 1:
            former = manage(lambda manager: action.one(manager, queue, ids[0]))
            click.echo(f"job {ids[0]} {action.past} (it was {former.value})")
            return
        if len(ids) > PROGRESS_AFTER:
            done, failed = run(_chunks, Settings.of(), action, queue, ids)
        else:
            result = manage(lambda manager: action.batch(manager, queue, ids))
            done, failed = len(result.succeeded), result.failed
        _summary(action, done, failed, f"of {len(ids)} job(s) of queue {queue}")

    command.__doc__ = (
        f"{action.help}\n\nBy ID (several IDs, or - to read them from stdin), or every job of a state with "
        "--all STATE (after a question; --yes skips it)."
    )
    return job.command(action.name, epilog=EXIT_CODES)(command)


def _ids(given: Sequence[str]) -> list[str]:
    ids: list[str] = []
    for item in given:
        ids += sys.stdin.read().split() if item == "-" else [item]
    return ids


def _all(action: Action, queue: str, state: JobState, group: str | None, yes: bool) -> None:
    allowed = ACTIONS[action.name]
    if state not in allowed:
        names = ", ".join(s.value for s in JobState if s in allowed)
        raise CliError(f"cannot {action.name} {state.value} jobs; {action.name} takes {names}", USAGE)
    if state is JobState.AGGREGATING and not group:
        raise CliError("--all aggregating needs --group NAME; `queue-core group ls` lists the groups", USAGE)
    if state is not JobState.AGGREGATING and group:
        raise CliError("--group goes with --all aggregating only", USAGE)
    count = manage(lambda manager: _count(manager, queue, state, group))
    where = f"{state.value} job(s) of queue {queue}" + (f", group {group}" if group else "")
    if count == 0:
        click.echo(f"no {where}; nothing to do")
        return
    if not yes:
        confirm(f"{action.name.capitalize()} all {count} {where}?")
    every = action.every
    if action.name == "cancel" and state is JobState.ACTIVE:
        asked = manage(lambda manager: manager.cancel_active(queue))
        click.echo(f"asked the workers to cancel {asked} active job(s) of queue {queue}")
    elif every is not None and count <= PROGRESS_AFTER:
        moved = manage(lambda manager: every(manager, queue, state, group=group))
        click.echo(f"{moved} {where} {action.past}")
    else:
        done, failed = run(_walk, Settings.of(), action, queue, state, group, count)
        _summary(action, done, failed, where)


async def _count(manager: Manager, queue: str, state: JobState, group: str | None) -> int:
    if group is not None:
        return (await manager.list_groups(queue)).get(group, 0)
    return (await manager.queue_info(queue)).count(state)


def _progress(action: Action, what: str, total: int) -> Progress:
    bar = Progress(
        TextColumn(f"{action.gerund} {what}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console(err=True),
    )  # fmt: skip
    bar.add_task(action.gerund, total=total)
    return bar


async def _walk(
    settings: Settings, action: Action, queue: str, state: JobState, group: str | None, total: int
) -> tuple[int, list[BatchFailure]]:
    """Handle ``total`` jobs of ``state``, a listed batch at a time."""
    done, failed = 0, list[BatchFailure]()
    async with open_manager(settings) as manager:
        with _progress(action, f"{state.value} jobs", total) as bar:
            while done + len(failed) < total:
                page = await manager.list_jobs(queue, state, 1, min(CHUNK, total - done - len(failed)), group=group)
                if not page:
                    break  # fewer than counted: others took some meanwhile
                result = await action.batch(manager, queue, [info.id for info in page])
                done, failed = done + len(result.succeeded), failed + result.failed
                bar.advance(bar.task_ids[0], len(page))
                if not result.succeeded:
                    break  # nothing moved: the rest would fail the same way
    return done, failed


async def _chunks(settings: Settings, action: Action, queue: str, ids: list[str]) -> tuple[int, list[BatchFailure]]:
    done, failed = 0, list[BatchFailure]()
    async with open_manager(settings) as manager:
        with _progress(action, "jobs", len(ids)) as bar:
            for start in range(0, len(ids), CHUNK):
                result = await action.batch(manager, queue, ids[start : start + CHUNK])
                done, failed = done + len(result.succeeded), failed + result.failed
                bar.advance(bar.task_ids[0], len(result.succeeded) + len(result.failed))
    return done, failed


def _summary(action: Action, done: int, failed: list[BatchFailure], where: str) -> None:
    for failure in failed:
        click.echo(f"job {failure.job_id}: {failure.error}", err=True)
    click.echo(f"{done} {where} {action.past}" + (f"; {len(failed)} failed" if failed else ""))
    if failed:
        raise click.exceptions.Exit(FAILED)


for _action in ACTION_LIST:
    _command(_action)
