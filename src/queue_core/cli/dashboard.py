"""``queue-core dashboard``: serve the web dashboard for the broker at --url."""

from __future__ import annotations

import ipaddress
import re
import signal

import anyio
import click

from queue_core.cli.common import Settings, broker_options, library_logger, run
from queue_core.cli.failures import EXIT_CODES, OK, USAGE, CliError, redacted
from queue_core.errors import MissingDependency
from queue_core.manager import Manager

AUTH_ENV = "QUEUE_CORE_DASHBOARD_AUTH"
_PREFIX = re.compile(r"(/[A-Za-z0-9_.\-~]+)+")


@click.command(epilog=EXIT_CODES)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for every one).")
@click.option("--port", type=click.IntRange(0, 65535), default=8181, show_default=True, help="Port to listen on.")
@click.option("--read-only", is_flag=True, help="Show everything, change nothing: no action buttons, POSTs refused.")
@click.option(
    "--auth", envvar=AUTH_ENV, show_envvar=True, metavar="USER:PASSWORD",
    help="Require HTTP basic authentication with these credentials.",
)  # fmt: skip
@click.option("--prefix", default="", metavar="PATH", help="Serve under this path, e.g. /queues (behind a proxy).")
@click.option("--refresh", type=click.FloatRange(0.5, 300), default=3.0, show_default=True,
              help="Seconds between live updates of counts and charts.")  # fmt: skip
@broker_options
def dashboard(host: str, port: int, read_only: bool, auth: str | None, prefix: str, refresh: float) -> None:
    """Serve the web dashboard: queues, jobs, metrics, workers, schedules, server.

    Binds 127.0.0.1 unless --host says otherwise; every action is a POST with a CSRF
    token, --read-only removes them all. Needs the dashboard extra:
    pip install 'queue-core[dashboard]'."""
    prefix = prefix.rstrip("/")
    if prefix and (not _PREFIX.fullmatch(prefix) or any(part in (".", "..") for part in prefix.split("/"))):
        raise click.BadParameter(
            "a path such as /queues (letters, digits, _ . - ~ between slashes)", param_hint="--prefix"
        )
    if auth is not None and (":" not in auth or auth.startswith(":") or auth.endswith(":")):
        raise click.BadParameter("USER:PASSWORD with both parts non-empty", param_hint="--auth")
    if auth is None and not _loopback(host):
        click.echo(
            f"warning: serving on {host} without --auth: anyone who reaches port {port} can operate your queues"
            + ("" if read_only else " (consider --read-only)"),
            err=True,
        )
    run(_serve, Settings.of(), host, port, read_only, auth, prefix, refresh, on_interrupt=OK)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def _serve(
    settings: Settings, host: str, port: int, read_only: bool, auth: str | None, prefix: str, refresh: float
) -> None:
    try:
        from queue_core.dashboard import create_app
        from queue_core.dashboard.server import serve
        from queue_core.dashboard.site import mounted
    except MissingDependency as exc:
        raise CliError(str(exc), USAGE) from None
    except ImportError:
        raise CliError(str(MissingDependency("the dashboard", "dashboard")), USAGE) from None
    async with Manager(settings.url, logger=library_logger(settings)) as manager:
        await manager.ping()
        app = mounted(create_app(manager, read_only=read_only, auth=auth, refresh=refresh), prefix)
        where = f"http://{host if ':' not in host else f'[{host}]'}:{port}{prefix}/"
        click.echo(f"queue-core dashboard for {redacted(settings.url)} at {where}"
                   + (" (read-only)" if read_only else "") + "; Ctrl-C stops it", err=True)  # fmt: skip
        stop = anyio.Event()
        watcher = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(_stop_on_signal, stop, watcher)
            await serve(app, host, port, stop=stop)
            watcher.cancel()


async def _stop_on_signal(stop: anyio.Event, scope: anyio.CancelScope) -> None:
    # Ctrl-C or SIGTERM: the server stops accepting and finishes what it is serving.
    with scope, anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            stop.set()
