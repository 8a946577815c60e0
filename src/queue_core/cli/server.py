"""``queue-core server``: what the broker's server says about itself."""

from __future__ import annotations

import click

from queue_core.cli.common import broker_options, json_option, manage
from queue_core.cli.failures import EXIT_CODES
from queue_core.cli.output import console, details, print_json, table

#: INFO fields shown without --json.
SHOWN = (
    "redis_version", "redis_mode", "uptime_in_seconds", "connected_clients", "used_memory_human", "maxmemory_human",
    "maxmemory_policy", "role", "cluster_enabled", "server", "fakeredis_version", "keys",
)  # fmt: skip


@click.command(epilog=EXIT_CODES)
@json_option
@broker_options
def server(as_json: bool) -> None:
    """What the broker's server says about itself.

    For Redis: version, uptime, memory and clients (from INFO); on a Cluster, each
    queue's hash slot and nodes."""
    found = manage(lambda manager: manager.server_info())
    if as_json:
        print_json({"driver": found.driver, "info": found.info})
        return
    rows = [("driver", found.driver), *((name, found.info[name]) for name in SHOWN if name in found.info)]
    console().print(details(rows))
    if found.queue_locations:
        grid = table("queue", ">slot", "nodes", title="queue locations")
        for location in found.queue_locations:
            grid.add_row(location.queue, str(location.slot), ", ".join(location.nodes))
        console().print(grid)
