"""``queue-core demo``: what ``make demo`` runs (see ``queue_core.demo``)."""

from __future__ import annotations

import functools
import logging
import sys

import click

from queue_core.cli.common import BACKENDS, Settings, run
from queue_core.cli.failures import EXIT_CODES
from queue_core.demo import run_demo
from queue_core.events import LOGGER_NAME


@click.command(epilog=EXIT_CODES)
@click.option("--url", default="memory://", show_default=True, help="Broker URL (memory:// needs nothing running).")
@click.option("--jobs", type=click.IntRange(min=1), default=300, show_default=True, help="How many jobs to enqueue.")
@click.option("--concurrency", type=click.IntRange(min=1), default=20, show_default=True, help="Handlers at once.")
@click.option("--backend", type=click.Choice(BACKENDS), default="asyncio", show_default=True, help="Async runtime.")
@click.option("-v", "--verbose", is_flag=True, help="Show the worker's log (retries, archives).")
def demo(url: str, jobs: int, concurrency: int, backend: str, verbose: bool) -> None:
    """Watch a few hundred jobs run, on memory://.

    Enqueues a mix of jobs (some fail once, some are rate limited, a few are archived,
    some are scheduled a moment ahead), runs a worker until every one is settled, and
    prints how they ended. This is what `make demo` runs."""
    logger = logging.getLogger(LOGGER_NAME)
    previous = logger.propagate
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger.setLevel(logging.INFO)
    else:
        # The demo fails jobs on purpose; their log lines would bury the progress line.
        logger.propagate = False
        handler = logging.NullHandler()
    logger.addHandler(handler)
    settings = Settings.of()
    settings.url, settings.backend = url, backend
    try:
        run(functools.partial(run_demo, url, jobs=jobs, concurrency=concurrency))
    finally:
        logger.removeHandler(handler)
        logger.propagate = previous
