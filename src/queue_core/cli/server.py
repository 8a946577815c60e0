"""``queue-core server``: what the broker's server says about itself."""

from __future__ import annotations

import dataclasses

import click

from queue_core.broker import ServerReport
from queue_core.cli.common import broker_options, json_option, manage
from queue_core.cli.failures import EXIT_CODES
from queue_core.cli.output import console, details, print_json, size, table, yes_no
from queue_core.manager import Manager


@click.command(epilog=EXIT_CODES)
@json_option
@broker_options
def server(as_json: bool) -> None:
    """What the broker's server says about itself.

    Backend and version, cluster or not, eviction policy, memory used and its limit, and a
    few figures of the driver's own (Redis: uptime, clients, role); on a Cluster, each
    queue's hash slot and nodes."""
    driver, report = manage(_report)
    if as_json:
        print_json({"driver": driver, **dataclasses.asdict(report)})
        return
    console().print(details(_rows(driver, report)))
    if report.queue_locations:
        grid = table("queue", ">slot", "nodes", title="queue locations")
        for location in report.queue_locations:
            grid.add_row(location.queue, str(location.slot), ", ".join(location.nodes))
        console().print(grid)


async def _report(manager: Manager) -> tuple[str, ServerReport]:
    return manager.broker.capabilities.name, await manager.server_info()


def _rows(driver: str, report: ServerReport) -> list[tuple[str, object]]:
    """The report's fields, then the driver's own figures; ``details`` shows None as "-"."""
    return [
        ("driver", driver),
        ("backend", report.backend),
        ("version", report.version),
        ("cluster", yes_no(report.is_cluster)),
        ("eviction policy", report.eviction_policy),
        ("memory used", size(report.memory_used)),
        ("memory limit", size(report.memory_limit)),
        *sorted(report.details.items()),
    ]
