"""What every command shares: the broker options, running async code, a Manager or Client.

Each command takes ``--url`` (or ``QUEUE_CORE_URL``), ``--backend`` and ``--debug``; they
land in one ``Settings`` on the click context. A command's body is an ``async def`` run
by ``run()``, which turns any failure into one line on stderr and an exit code
(``failures``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import click
from click.core import ParameterSource

from queue_core.cli.failures import FAILED, INTERRUPTED, CliError, innermost, report
from queue_core.client import Client
from queue_core.errors import QueueNotFound
from queue_core.events import LOGGER_NAME
from queue_core.extras import require_backend
from queue_core.logs import JsonFormatter
from queue_core.manager import Manager
from queue_core.registry import DEFAULT_URL, scheme_of

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

URL_ENV = "QUEUE_CORE_URL"
BACKENDS = ("asyncio", "trio")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
LOG_FORMAT = "%(asctime)s %(levelname)-7s [%(process)d] %(name)s: %(message)s"


@dataclass
class Settings:
    """The shared options of the running command."""

    url: str = DEFAULT_URL
    #: where the URL came from: "commandline", "environment" or "default".
    url_source: str = "default"
    backend: str = "asyncio"
    debug: bool = False

    @classmethod
    def of(cls, ctx: click.Context | None = None) -> Settings:
        ctx = ctx if ctx is not None else click.get_current_context()
        settings: Settings = ctx.ensure_object(Settings)
        return settings


_SOURCES = {ParameterSource.COMMANDLINE: "commandline", ParameterSource.ENVIRONMENT: "environment"}


def _setter(field: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        settings = Settings.of(ctx)
        if field == "url":
            source = ctx.get_parameter_source("url")
            settings.url_source = _SOURCES.get(source, "default") if source is not None else "default"
        setattr(settings, field, value)

    return store


def broker_options(command: F) -> F:
    """Add ``--url``, ``--backend`` and ``--debug`` to a command."""
    for option in reversed(
        [
            click.option(
                "--url", envvar=URL_ENV, default=DEFAULT_URL, show_default=True, show_envvar=True, metavar="URL",
                expose_value=False, callback=_setter("url"),
                help="Broker: redis://[user:pass@]host:6379/0, rediss://, unix://, redis+cluster://, "
                "redis+sentinel://, or memory:// (this process only); ?prefix=NAME namespaces the keys.",
            ),
            click.option(
                "--backend", type=click.Choice(BACKENDS), default="asyncio", show_default=True,
                expose_value=False, callback=_setter("backend"), help="Async runtime to run on.",
            ),
            click.option(
                "--debug", is_flag=True, expose_value=False, callback=_setter("debug"),
                help="Show tracebacks and the library's log.",
            ),
        ]
    ):  # fmt: skip
        command = option(command)
    return command


def json_option(command: F) -> F:
    """Add ``--json`` (passed as ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table, for scripts.")(command)


def run(fn: Callable[..., Awaitable[T]], *args: Any, on_interrupt: int = INTERRUPTED) -> T:
    """Run ``fn(*args)`` on the chosen backend; failures become a message and an exit
    code, Ctrl-C exits with ``on_interrupt``."""
    settings = Settings.of()
    try:
        with _debug_log(settings.debug):
            require_backend(settings.backend)
            return anyio.run(fn, *args, backend=settings.backend)
    except (click.ClickException, click.exceptions.Exit):
        raise
    except KeyboardInterrupt:
        raise _interrupted(on_interrupt) from None
    except Exception as exc:
        inner = innermost(exc)
        if isinstance(inner, click.ClickException | click.exceptions.Exit):
            raise inner from None
        if isinstance(inner, KeyboardInterrupt):
            raise _interrupted(on_interrupt) from None
        raise report(exc, settings.url, settings.debug) from None


@contextmanager
def _debug_log(debug: bool) -> Iterator[None]:
    """With ``--debug``, the library's log on stderr while the command runs."""
    if not debug:
        yield
        return
    logger = logging.getLogger(LOGGER_NAME)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _interrupted(code: int) -> click.exceptions.Exit:
    if code:
        click.echo("interrupted", err=True)
    return click.exceptions.Exit(code)


def library_logger(settings: Settings) -> logging.Logger:
    """The logger Client and Manager report to: the library's with ``--debug``, else a
    silent one (a failure is reported once, as the command's error line)."""
    if settings.debug:
        return logging.getLogger(LOGGER_NAME)
    quiet = logging.getLogger(f"{LOGGER_NAME}.cli.quiet")
    quiet.propagate = False
    if not quiet.handlers:
        quiet.addHandler(logging.NullHandler())
    return quiet


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log records of ``level`` and above to stderr (root logger): for the processes
    that ``worker`` and ``scheduler`` become; ``log_format`` ``json`` writes one JSON
    object per line (``queue_core.logs.JsonFormatter``)."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    root = logging.getLogger()
    root.setLevel(level.upper())
    if log_format == "json":
        for handler in root.handlers:
            handler.setFormatter(JsonFormatter())


def log_options(command: F) -> F:
    """Add ``--log-level`` and ``--log-format`` to a long-running command."""
    command = click.option(
        "--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True,
        help="text: one readable line per record; json: one JSON object per line (time, level, logger, message "
        "and the job's fields), for log shippers.",
    )(command)  # fmt: skip
    return click.option(
        "--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True, help="Log from this level."
    )(command)


def _memory_note(settings: Settings) -> None:
    # memory:// lives inside one process: a fresh CLI process sees an empty broker. Said
    # only to a person at a terminal, so scripts and pipes stay clean.
    if scheme_of(settings.url) == "memory" and sys.stderr.isatty():
        click.echo(
            f"note: {settings.url} lives inside this process, so this command sees its own empty broker; "
            f"point --url or {URL_ENV} at your Redis",
            err=True,
        )


@asynccontextmanager
async def open_manager(settings: Settings) -> AsyncIterator[Manager]:
    """A Manager on the settings' URL, checked to answer."""
    _memory_note(settings)
    async with Manager(settings.url, logger=library_logger(settings)) as manager:
        await manager.ping()
        yield manager


@asynccontextmanager
async def open_client(settings: Settings, **options: Any) -> AsyncIterator[Client]:
    _memory_note(settings)
    async with Client(settings.url, logger=library_logger(settings), **options) as client:
        await client.ping()
        yield client


def confirm(question: str) -> None:
    """Ask on stderr; a no (or no terminal to ask on) fails the command, changing nothing."""
    try:
        if click.confirm(question, default=False, err=True):
            return
    except click.Abort:
        pass
    raise CliError("not confirmed; nothing was changed (pass --yes to skip the question)", FAILED)


async def known_queue(manager: Manager, queue: str) -> None:
    """Raise ``QueueNotFound`` unless ``queue`` exists: listings (``list_jobs``,
    ``list_groups``) return nothing for an unknown queue, which hides a typo."""
    if queue not in await manager.queue_names():
        raise QueueNotFound(queue)


def manage(action: Callable[[Manager], Awaitable[T]]) -> T:
    """Run ``action(manager)`` with a Manager on the command's URL: the body of most commands."""
    result: T = run(_with_manager, Settings.of(), action)
    return result


async def _with_manager(settings: Settings, action: Callable[[Manager], Awaitable[T]]) -> T:
    async with open_manager(settings) as manager:
        return await action(manager)
