"""``postgresql://`` URLs: the connection string psycopg gets, and the driver's own options.

Options the driver reads from the query string (and removes before psycopg sees it):

- ``schema=NAME``: every table and function of the broker lives in this schema
  (default ``queue_core``); brokers in different schemas share nothing. ``namespace=``
  and ``prefix=`` (the Redis driver's name) mean the same, so one URL shape serves both.
- ``migrate=false``: never create or upgrade the schema on open (for roles that may not
  run DDL); run ``queue-core db migrate`` with an owner's URL instead.
- ``pool_max=N``: most connections the broker's pool opens (default 10).

Everything else (``sslmode``, ``application_name``, ``connect_timeout``...) is libpq's.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from queue_core import InvalidBrokerURL
from queue_postgres.sqlfiles import check_schema

SCHEMES = ("postgresql", "postgres")
DEFAULT_SCHEMA = "queue_core"
DEFAULT_POOL_MAX = 10
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class Target:
    conninfo: str  # the URL without the driver's options, for psycopg
    schema: str
    migrate: bool
    pool_max: int


def parse(url: str, *, schema: str | None = None) -> Target:
    """Split ``url`` into psycopg's connection string and the driver's options;
    ``schema`` (a keyword of ``open_broker``) wins over ``?schema=``."""
    if not isinstance(url, str):
        raise InvalidBrokerURL("url", url, "a URL such as postgresql://user@host:5432/dbname?schema=queue_core")
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise InvalidBrokerURL("url", url, "a postgresql:// or postgres:// URL")
    kept: list[tuple[str, str]] = []
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in ("schema", "namespace", "prefix"):
            options.setdefault("schema", value)
        elif name in ("migrate", "pool_max"):
            options[name] = value
        else:
            kept.append((name, value))
    migrate = options.get("migrate", "true").lower()
    if migrate not in _TRUE + _FALSE:
        raise InvalidBrokerURL("migrate", options["migrate"], "true or false")
    pool_max = options.get("pool_max", str(DEFAULT_POOL_MAX))
    if not pool_max.isdigit() or int(pool_max) < 1:
        raise InvalidBrokerURL("pool_max", pool_max, "a whole number of connections, at least 1")
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(kept), parts.fragment))
    return Target(
        conninfo=conninfo,
        schema=check_schema(schema if schema is not None else options.get("schema", DEFAULT_SCHEMA)),
        migrate=migrate in _TRUE,
        pool_max=int(pool_max),
    )
