"""``queue-core scheduler APP``: run a standalone Scheduler until SIGTERM/SIGINT."""

from __future__ import annotations

import signal

import anyio
import click
from anyio.abc import TaskStatus

from queue_core.cli import loading
from queue_core.cli.common import Settings, broker_options, configure_logging, log_options, run
from queue_core.cli.failures import EXIT_CODES, CliError
from queue_core.cli.worker import build_scheduler, connect_timeout_option
from queue_core.scheduling.scheduler import Scheduler


@click.command(epilog=EXIT_CODES)
@click.argument("app")
@log_options
@connect_timeout_option
@broker_options
def scheduler(app: str, log_level: str, log_format: str, connect_timeout: float | None) -> None:
    """Run the Scheduler named by APP until SIGTERM or SIGINT.

    APP is module:attribute naming a Scheduler, or a function returning one; a --url
    given here (or QUEUE_CORE_URL) is passed to that function as `url=`. Run as many
    copies as you like: each tick is fired exactly once across them.
    """
    settings = Settings.of()
    try:
        built = build_scheduler(app, settings, {} if connect_timeout is None else {"connect_timeout": connect_timeout})
    except CliError as exc:
        loading.show_cause(exc, settings.debug)
        raise
    configure_logging("debug" if settings.debug else log_level, log_format)
    run(serve, built)


async def serve(scheduler: Scheduler) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(_stop_on_signal, scheduler)
        await scheduler.run()
        tg.cancel_scope.cancel()


async def _stop_on_signal(scheduler: Scheduler, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for signum in signals:
            scheduler.log.info("scheduler %s: %s received, stopping", scheduler.id, signal.Signals(signum).name)
            scheduler.stop()
