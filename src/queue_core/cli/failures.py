"""From an exception to one readable line and a stable exit code.

Exit codes (also in every ``--help``):

- 0: done.
- 1: the operation failed: an unknown queue, job, worker or schedule, an action the job's
  state forbids, a duplicate job, a failed batch, a prompt answered no.
- 2: usage or connection error: a bad option or argument, a bad or unreachable broker URL,
  an APP that does not import or is not a Worker.

A message says what went wrong and how to fix it; the traceback is shown only with
``--debug``.
"""

from __future__ import annotations

import sys
import traceback
from urllib.parse import urlsplit, urlunsplit

import click

from queue_core import errors

OK = 0
FAILED = 1
USAGE = 2
INTERRUPTED = 130

EXIT_CODES = (
    "Exit codes: 0 done; 1 the operation failed (unknown queue, job or schedule, an action "
    "the job's state forbids, a failed batch); 2 usage or connection error (bad option, bad "
    "or unreachable broker URL, APP that does not load)."
)

_URL_HINT = "set --url or QUEUE_CORE_URL (e.g. redis://localhost:6379/0)"


class CliError(click.ClickException):
    """A failure reported as ``Error: <message>`` on stderr with ``code`` as exit status."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        # click declares exit_code a class variable; it reads it from the instance.
        setattr(self, "exit_code", code)  # noqa: B010


def redacted(url: str) -> str:
    """``url`` with its password hidden, for messages."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return url


def innermost(exc: BaseException) -> BaseException:
    """The one exception inside (nested) single-member exception groups."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def explain(exc: BaseException, url: str) -> CliError:
    """The message and exit code for ``exc``, raised while talking to ``url``."""
    where = redacted(url)
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, errors.InvalidBrokerURL):
        return CliError(f"{exc}; {_URL_HINT}", USAGE)
    if isinstance(exc, errors.UnknownBrokerScheme):
        return CliError(f"{exc}; {_URL_HINT}", USAGE)
    if isinstance(exc, errors.BrokerAuthError):
        return CliError(f"the broker at {where} refused our credentials ({exc}); fix user:password in the URL", USAGE)
    if isinstance(exc, errors.BrokerUnavailable):
        return CliError(f"cannot reach the broker at {where} ({exc}); is it running? {_URL_HINT}", USAGE)
    if isinstance(exc, errors.MissingDependency | errors.StorageLayoutMismatch):
        return CliError(str(exc), USAGE)
    if isinstance(exc, errors.Unsupported):
        return CliError(str(exc), FAILED)
    if isinstance(exc, errors.DamagedData):
        return CliError(str(exc), FAILED)
    if isinstance(exc, errors.BrokerError):
        return CliError(f"the broker at {where} failed: {exc}; is that URL a broker? {_URL_HINT}", USAGE)
    if isinstance(exc, errors.ValidationError):
        return CliError(str(exc), USAGE)
    if isinstance(exc, errors.QueueNotFound):
        return CliError(f"{exc} at {where}; `queue-core queue ls` lists the queues", FAILED)
    if isinstance(exc, errors.JobNotFound | errors.ResultNotFound):
        return CliError(f"{exc}; `queue-core job ls --queue {exc.queue} --state STATE` lists its jobs", FAILED)
    if isinstance(exc, errors.WorkerNotFound):
        return CliError(f"{exc}; `queue-core workers` lists them", FAILED)
    if isinstance(exc, errors.ScheduleNotFound):
        return CliError(f"{exc}; `queue-core cron ls` lists the schedules of live schedulers", FAILED)
    if isinstance(exc, errors.QueueNotEmpty):
        return CliError(
            f"queue {exc.queue!r} still has jobs; delete them first (`queue-core job delete -q QUEUE --all STATE`) "
            "or pass --force to delete it with its jobs",
            FAILED,
        )
    if isinstance(exc, errors.QueueError):
        return CliError(str(exc), FAILED)
    return CliError(f"unexpected {type(exc).__name__}: {exc} (run again with --debug for the traceback)", FAILED)


def report(exc: BaseException, url: str, debug: bool) -> CliError:
    """``explain``, printing the traceback first when ``debug``."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    return explain(innermost(exc), url)
