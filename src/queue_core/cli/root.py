"""The ``queue-core`` command group and ``main``."""

from __future__ import annotations

from collections.abc import Sequence

import click

from queue_core.cli import job_actions as _job_actions  # noqa: F401  (adds run/archive/delete/cancel to `job`)
from queue_core.cli.cron import cron
from queue_core.cli.dashboard import dashboard
from queue_core.cli.db import db
from queue_core.cli.demo import demo
from queue_core.cli.enqueue import enqueue
from queue_core.cli.failures import EXIT_CODES
from queue_core.cli.groups import group
from queue_core.cli.jobs import job
from queue_core.cli.queues import queue
from queue_core.cli.scheduler import scheduler
from queue_core.cli.server import server
from queue_core.cli.stats import stats
from queue_core.cli.top import top
from queue_core.cli.worker import worker
from queue_core.cli.workers import workers

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT, epilog=EXIT_CODES)
@click.version_option(package_name="queue-core", prog_name="queue-core")
def cli() -> None:
    """queue-core: a distributed job queue for asyncio and trio.

    Every command that talks to a broker takes --url (or QUEUE_CORE_URL; default
    memory://, which lives inside one process) and --backend asyncio|trio; listings and
    info commands take --json.
    """


for command in (worker, scheduler, enqueue, stats, top, dashboard, queue, job, group, cron, workers, server, db, demo):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns 0 when it succeeded, else raises ``SystemExit``
    with the exit code (1 operation failed, 2 usage or connection error)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="queue-core")
    except SystemExit as done:
        if done.code in (0, None):
            return 0
        raise
