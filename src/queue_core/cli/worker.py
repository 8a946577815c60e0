"""``queue-core worker APP``: run a Worker (or N under a supervisor) until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import click

from queue_core.cli import loading, metrics
from queue_core.cli.common import Settings, broker_options, configure_logging, log_options, run
from queue_core.cli.failures import EXIT_CODES, USAGE, CliError
from queue_core.cli.params import DURATION, QUEUE_WEIGHT
from queue_core.cli.supervisor import Supervisor
from queue_core.outage import DEFAULT_CONNECT_TIMEOUT
from queue_core.scheduling.scheduler import Scheduler
from queue_core.worker.worker import Worker

log = logging.getLogger("queue_core.cli")

connect_timeout_option = click.option(
    "--connect-timeout",
    type=DURATION,
    help=f"How long to wait for the broker at start before giving up with exit 2 "
    f"(default {DEFAULT_CONNECT_TIMEOUT:g}s): 10, 30s, 2m.",
)


@click.command(epilog=EXIT_CODES)
@click.argument("app")
@click.option("-c", "--concurrency", type=click.IntRange(min=1), help="Handlers running at once.")
@click.option(
    "-q", "--queue", "queues", type=QUEUE_WEIGHT, multiple=True,
    help="A queue to serve, with a weight (default 1); repeat it: -q critical=6 -q default=3 -q low. "
    "Of every ten jobs taken while all three have work, critical gets six.",
)  # fmt: skip
@click.option("--strict", is_flag=True, help="Strict priority: the first (heaviest) queue always first.")
@log_options
@click.option(
    "--metrics-port",
    type=click.IntRange(min=0, max=65535),
    metavar="PORT",
    help="Serve Prometheus metrics on http://ADDR:PORT/metrics (needs queue-core[prometheus]). With --processes "
    "N, worker process i (from 0) serves on PORT+i.",
)
@click.option(
    "--metrics-addr",
    default="0.0.0.0",
    show_default=True,
    metavar="ADDR",
    help="Address the metrics endpoint listens on.",
)
@click.option(
    "-p", "--processes", type=click.IntRange(min=1), default=1, show_default=True,
    help="Worker processes to run under a supervisor that restarts a crashed one and forwards SIGTERM/SIGINT.",
)  # fmt: skip
@click.option(
    "--with-scheduler", "scheduler_app", metavar="SCHEDULER",
    help="Also run this Scheduler in the worker (in the first one with --processes): module:attribute "
    "naming a Scheduler or a factory, or :attribute for one in APP's module.",
)  # fmt: skip
@connect_timeout_option
@click.option("--child-of", type=int, hidden=True)
@broker_options
def worker(
    app: str,
    concurrency: int | None,
    queues: Sequence[tuple[str, int | None]],
    strict: bool,
    log_level: str,
    log_format: str,
    metrics_port: int | None,
    metrics_addr: str,
    processes: int,
    scheduler_app: str | None,
    connect_timeout: float | None,
    child_of: int | None,
) -> None:
    """Run the Worker named by APP until SIGTERM or SIGINT.

    APP is module:attribute naming a Worker, or a function returning one. The options
    below (and QUEUE_CORE_URL) reach that function as keyword arguments named as
    Worker's: url, concurrency, queues, strict, connect_timeout. A ready-made Worker runs
    as it was built.

    \b
    def create_worker(url="memory://", **options):
        worker = Worker(url, **options)
        ...                                   # register handlers
        return worker

    \b
    queue-core worker myapp.tasks:create_worker --url redis://localhost:6379/0 \\
        -c 50 -q critical=6 -q default=3 -q low --processes 4 --with-scheduler :scheduler

    The first SIGTERM or SIGINT stops gracefully: no new jobs are taken, running ones get
    the Worker's shutdown_timeout to finish, the rest go back to the head of their queue
    without using a retry. A second one stops at once. Exit 0 after a graceful stop.
    """
    settings = Settings.of()
    module = loading.split(app)[0]
    options: dict[str, Any] = {}
    if concurrency is not None:
        options["concurrency"] = concurrency
    if queues:
        options["queues"] = queue_option(queues)
    if strict:
        options["strict"] = True
    connect = {} if connect_timeout is None else {"connect_timeout": connect_timeout}
    options.update(connect)
    scheduler_spec = None if scheduler_app is None else ":".join(loading.split(scheduler_app, default_module=module))
    try:
        built = build_worker(app, settings, options)
        scheduler = None if scheduler_spec is None else build_scheduler(scheduler_spec, settings, connect)
    except CliError as exc:
        loading.show_cause(exc, settings.debug)
        raise
    configure_logging("debug" if settings.debug else log_level, log_format)
    if processes > 1:
        command = _child_command(app, settings, concurrency, queues, strict, log_level, scheduler_spec, connect_timeout)
        logging_and_metrics = ["--log-format", log_format, "--metrics-addr", metrics_addr]
        supervisor = Supervisor(
            lambda index: [*command(index), *logging_and_metrics,
                           *([] if metrics_port is None else ["--metrics-port", str(metrics_port + index)])],
            processes,
        )  # fmt: skip
        click.get_current_context().exit(run(supervisor.run))
    endpoint = None if metrics_port is None else metrics.start(metrics_port, metrics_addr, built)
    try:
        run(serve, built, scheduler, child_of)
    finally:
        if endpoint is not None:
            endpoint.close()


def queue_option(queues: Sequence[tuple[str, int | None]]) -> Mapping[str, int] | list[str]:
    """``-q`` values as Worker's ``queues``: weights when any is given, else names in order."""
    names = [name for name, _ in queues]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise CliError(f"--queue {', '.join(twice)} given more than once; give each queue once", USAGE)
    if all(weight is None for _, weight in queues):
        return names
    return {name: 1 if weight is None else weight for name, weight in queues}


def build_worker(app: str, settings: Settings, options: dict[str, Any]) -> Worker:
    target = loading.load(app)
    return loading.build(app, target, Worker, _with_url(app, target, Worker, settings, options))


def build_scheduler(spec: str, settings: Settings, options: dict[str, Any] | None = None) -> Scheduler:
    target = loading.load(spec)
    return loading.build(spec, target, Scheduler, _with_url(spec, target, Scheduler, settings, dict(options or {})))


def _with_url(spec: str, target: Any, kind: type, settings: Settings, options: dict[str, Any]) -> dict[str, Any]:
    if settings.url_source == "default":
        return options
    if isinstance(target, kind) and settings.url_source == "environment" and not options:
        # A Worker built at import time usually reads its own settings; say that the
        # variable does not reach it rather than refuse to start.
        click.echo(f"warning: {spec} is a {kind.__name__} built with its own broker URL; QUEUE_CORE_URL is not applied "
                   "to it (name a factory to take the URL from the environment)", err=True)  # fmt: skip
        return options
    return {"url": settings.url, **options}


async def serve(worker: Worker, scheduler: Scheduler | None, parent: int | None) -> None:
    """Run ``worker`` (and ``scheduler``) until a signal stops the worker."""
    async with anyio.create_task_group() as outer:
        if scheduler is not None:
            await outer.start(scheduler.run)
        async with anyio.create_task_group() as inner:
            if parent is not None:
                inner.start_soon(_watch_parent, parent, worker, name="supervisor watch")
            await worker.run_until_signal()
            inner.cancel_scope.cancel()
        if scheduler is not None:
            scheduler.stop()


async def _watch_parent(parent: int, worker: Worker) -> None:
    while os.getppid() == parent:
        await anyio.sleep(1)
    log.warning("the supervisor (pid %d) is gone; stopping", parent)
    worker.stop()


def _child_command(
    app: str,
    settings: Settings,
    concurrency: int | None,
    queues: Sequence[tuple[str, int | None]],
    strict: bool,
    log_level: str,
    scheduler_spec: str | None,
    connect_timeout: float | None,
) -> Callable[[int], list[str]]:
    base = [sys.executable, "-m", "queue_core", "worker", app, "--backend", settings.backend, "--log-level", log_level]
    if settings.url_source == "commandline":
        base += ["--url", settings.url]  # from the environment, the children inherit it
    if settings.debug:
        base.append("--debug")
    if concurrency is not None:
        base += ["--concurrency", str(concurrency)]
    for name, weight in queues:
        base += ["--queue", name if weight is None else f"{name}={weight}"]
    if strict:
        base.append("--strict")
    if connect_timeout is not None:
        base += ["--connect-timeout", repr(connect_timeout)]
    base += ["--child-of", str(os.getpid())]

    def command(index: int) -> list[str]:
        if index == 0 and scheduler_spec is not None:
            return [*base, "--with-scheduler", scheduler_spec]
        return base

    return command
