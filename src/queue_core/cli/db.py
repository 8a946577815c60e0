"""``queue-core db migrate|status``: the versioned schema of a broker that has one (PostgreSQL).

The driver offers its migrations through the ``queue_core_add_schema_managers`` hook, so
this module names no driver. Redis and memory:// keep no schema: for their URLs the
commands say so and exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

import click

from queue_core.cli.common import URL_ENV
from queue_core.cli.failures import EXIT_CODES, FAILED, USAGE, CliError, redacted, report
from queue_core.errors import BrokerAuthError
from queue_core.hookspecs import SchemaManager
from queue_core.plugins import installed_schemes, schema_managers
from queue_core.registry import scheme_of

T = TypeVar("T")

_URL_HELP = (
    "Broker whose schema to manage: postgresql://user[:pass]@host:5432/dbname, ?schema=NAME "
    "(default queue_core). Use a role that may create tables in that schema."
)


@click.group(epilog=EXIT_CODES)
def db() -> None:
    """Migrate a broker's schema, or show where it stands (PostgreSQL).

    Workers migrate on first open by default; a worker whose role may not run DDL opens
    with ?migrate=false and the schema is migrated here, by its owner, on deploy."""


def _url_option(command: Callable[..., None]) -> Callable[..., None]:
    decorators = [
        click.option("--url", envvar=URL_ENV, required=True, show_envvar=True, metavar="URL", help=_URL_HELP),
        click.option("--debug", is_flag=True, help="Show tracebacks."),
    ]
    for option in reversed(decorators):
        command = option(command)
    return command


@db.command(epilog=EXIT_CODES)
@_url_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text, for scripts.")
def migrate(url: str, debug: bool, as_json: bool) -> None:
    """Apply every pending migration of the schema at URL (creating it if missing).

    Safe to run from several places at once: migrations run in one transaction under an
    advisory lock. A schema migrated by a newer queue-core is refused untouched (exit 2)."""
    manager = _manager(url)
    applied = _call(lambda: manager.migrate(url), url, debug)
    if as_json:
        click.echo(_json({"applied": applied}))
    elif applied:
        click.echo(f"applied {len(applied)} migration(s) to {redacted(url)}: {', '.join(applied)}")
    else:
        click.echo(f"{redacted(url)}: the schema is up to date, nothing applied")


@db.command(epilog=EXIT_CODES)
@_url_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text, for scripts.")
@click.option("--check", is_flag=True, help="Exit 1 unless the schema is exactly this release's (for deploy scripts).")
def status(url: str, debug: bool, as_json: bool, check: bool) -> None:
    """Show the newest migration applied, the newest this release knows, and what is pending."""
    manager = _manager(url)
    found = _call(lambda: manager.schema_status(url), url, debug)
    current, known, pending = found.current, found.known, list(found.pending)
    if current > known:
        state = "newer than this release: upgrade queue-core before running workers on it"
    elif pending:
        state = f"{len(pending)} migration(s) pending: run `queue-core db migrate --url ...`"
    else:
        state = "up to date"
    if as_json:
        click.echo(_json({"current": current, "known": known, "pending": pending, "state": state}))
    else:
        click.echo(f"schema at {redacted(url)}")
        click.echo(f"  applied:  {current} (this release knows {known})")
        click.echo(f"  pending:  {', '.join(pending) if pending else '-'}")
        click.echo(f"  state:    {state}")
    if check and (pending or current != known):
        sys.exit(FAILED)


def _manager(url: str) -> SchemaManager:
    """The schema manager of ``url``'s driver, or a usage error that says why there is none."""
    try:
        scheme = scheme_of(url)
    except Exception as exc:
        raise report(exc, url, False) from None
    managers = schema_managers()
    if scheme in managers:
        return managers[scheme]
    with_schema = ", ".join(f"{name}://" for name in sorted(managers)) or "none is installed"
    if scheme in installed_schemes():
        raise CliError(
            f"{scheme}:// keeps no versioned schema, so there is nothing to migrate; `queue-core db` works on "
            f"brokers that do ({with_schema})",
            USAGE,
        )
    raise CliError(
        f"no installed driver serves {scheme}://; `queue-core db` works on brokers with a versioned schema "
        f"({with_schema}; PostgreSQL needs the extra: pip install 'queue-core[postgres]')",
        USAGE,
    )


def _call(action: Callable[[], T], url: str, debug: bool) -> T:
    try:
        return action()
    except KeyboardInterrupt:
        raise click.exceptions.Exit(130) from None
    except BrokerAuthError as exc:
        if "privilege" not in str(exc):
            raise report(exc, url, debug) from None
        report(exc, url, debug)  # the traceback, with --debug
        raise CliError(
            f"the role of {redacted(url)} may not change the schema ({exc}); run `queue-core db migrate` with "
            "the URL of the schema's owner (docs: PostgreSQL, the least-privilege role)",
            USAGE,
        ) from None
    except Exception as exc:
        raise report(exc, url, debug) from None


def _json(data: object) -> str:
    import json

    return json.dumps(data, indent=2)
