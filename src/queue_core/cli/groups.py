"""``queue-core group ls``: aggregation groups and how many jobs wait in each."""

from __future__ import annotations

import click

from queue_core.cli.common import broker_options, json_option, known_queue, manage
from queue_core.cli.failures import EXIT_CODES
from queue_core.cli.output import console, print_json, table
from queue_core.manager import Manager


@click.group(epilog=EXIT_CODES)
def group() -> None:
    """Aggregation groups, where jobs wait to be aggregated."""


@group.command("ls", epilog=EXIT_CODES)
@click.option("-q", "--queue", help="Only this queue's groups [default: every queue].")
@json_option
@broker_options
def list_(queue: str | None, as_json: bool) -> None:
    """Each aggregation group with the number of jobs waiting in it."""
    rows = manage(lambda manager: _groups(manager, queue))
    if as_json:
        print_json([{"queue": name, "group": group, "size": size} for name, group, size in rows])
        return
    if not rows:
        click.echo("no aggregation groups" + (f" in queue {queue}" if queue else ""))
        return
    grid = table("queue", "group", ">jobs waiting")
    for name, group_name, size in rows:
        grid.add_row(name, group_name, str(size))
    console().print(grid)


async def _groups(manager: Manager, queue: str | None) -> list[tuple[str, str, int]]:
    if queue is not None:
        await known_queue(manager, queue)
    names = [queue] if queue is not None else await manager.queue_names()
    rows = []
    for name in names:
        groups = await manager.list_groups(name)
        rows += [(name, group, size) for group, size in sorted(groups.items())]
    return rows
