"""The schema's lifecycle: versioned migrations and the transitions' functions.

A broker's schema records the migrations applied (``schema_migrations``) and a digest of
the transition functions installed (``schema_functions``). Opening a broker checks both
in one query; when they are behind and the URL allows it (the default; ``?migrate=false``
turns it off) it brings them up to date in one transaction under an advisory lock, so
any number of workers starting at once migrate once. A schema newer than this release
knows raises ``SchemaTooNew`` before anything is read or written.

``migrate(url)`` and ``schema_status(url)`` are what ``queue-core db migrate|status`` call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from queue_core import StorageLayoutMismatch
from queue_postgres import sqlfiles
from queue_postgres import url as urls
from queue_postgres.errors import mapped_errors
from queue_postgres.extra import psycopg


class SchemaTooNew(StorageLayoutMismatch):
    """The schema was migrated by a newer queue-core than this one: refused untouched."""

    def __init__(self, schema: str, found: int, known: int) -> None:
        super().__init__(f"PostgreSQL schema {schema!r}", f"migration {found}", f"migration {known} at most")
        self.schema = schema
        self.current = found
        self.known = known


class SchemaNotReady(StorageLayoutMismatch):
    """The schema is behind this release and the URL says ``migrate=false``."""

    def __init__(self, schema: str, found: str, expected: str) -> None:
        super().__init__(f"PostgreSQL schema {schema!r}", found, expected)
        self.args = (f"{self.args[0]}; run `queue-core db migrate --url ...` with a role that owns the schema",)


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: int  # the newest migration applied (0: none, the schema may not exist)
    known: int  # the newest migration this release ships
    pending: list[str] = field(default_factory=list)  # names of migrations still to apply
    functions_current: bool = False  # the installed transitions are this release's


def _read(conn: Any, schema: str) -> tuple[int, str | None]:
    """(newest migration applied, digest of the installed functions), (0, None) for an
    empty or missing schema."""
    q = sqlfiles.quoted(schema)
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL",
        (f"{q}.schema_migrations", f"{q}.schema_functions"),
    ).fetchone()
    if not row[0]:
        return 0, None
    [current] = conn.execute(f"SELECT coalesce(max(version), 0) FROM {q}.schema_migrations").fetchone()
    digest = None
    if row[1]:
        found = conn.execute(f"SELECT digest FROM {q}.schema_functions").fetchone()
        digest = found[0] if found else None
    return int(current), digest


def _status(conn: Any, schema: str) -> SchemaStatus:
    current, digest = _read(conn, schema)
    shipped = sqlfiles.migrations()
    return SchemaStatus(
        current=current,
        known=len(shipped),
        pending=[m.name for m in shipped if m.version > current],
        functions_current=digest == sqlfiles.transitions_digest(),
    )


def _upgrade(conn: Any, schema: str) -> list[str]:
    """Apply pending migrations and install current functions, in one transaction under
    the schema's advisory lock. Returns the names of the migrations applied."""
    q = sqlfiles.quoted(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"queue_core:migrate:{schema}",))
        # a migration lost to a crash right after its commit is simply applied again
        conn.execute("SET LOCAL synchronous_commit = off")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {q}.schema_migrations ("
            "version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(f"CREATE TABLE IF NOT EXISTS {q}.schema_functions (digest text NOT NULL)")
        current, digest = _read(conn, schema)
        known = len(sqlfiles.migrations())
        if current > known:
            raise SchemaTooNew(schema, current, known)
        # one script, one round trip: creating a schema is most of a fresh broker's start
        script: list[str] = []
        applied = []
        for migration in sqlfiles.migrations():
            if migration.version > current:
                script.append(sqlfiles.render(migration.text, schema))
                script.append(
                    f"INSERT INTO {q}.schema_migrations (version, name) "
                    f"VALUES ({migration.version}, '{migration.name}');"
                )
                applied.append(migration.name)
        wanted = sqlfiles.transitions_digest()
        if applied or digest != wanted:
            if current > 0:
                _drop_functions(conn, schema)
            script.extend(sqlfiles.render(text, schema) for text in sqlfiles.transitions().values())
            script.append(f"DELETE FROM {q}.schema_functions; INSERT INTO {q}.schema_functions VALUES ('{wanted}');")
        if script:
            conn.execute("\n".join(script).encode())
    return applied


def _drop_functions(conn: Any, schema: str) -> None:
    """Drop every function of the schema before this release's are created (a changed
    signature cannot be replaced in place)."""
    rows = conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = %s::regnamespace",
        (sqlfiles.quoted(schema),),
    ).fetchall()
    if rows:
        conn.execute("; ".join(f"DROP FUNCTION {signature}" for (signature,) in rows).encode())


def prepare(conn: Any, schema: str, *, allow_migrate: bool) -> None:
    """Make sure the schema is this release's before a broker uses it (see the module)."""
    current, digest = _read(conn, schema)
    known = len(sqlfiles.migrations())
    if current > known:
        raise SchemaTooNew(schema, current, known)
    if current == known and digest == sqlfiles.transitions_digest():
        return
    if not allow_migrate:
        raise SchemaNotReady(schema, f"migration {current}", f"migration {known} with this release's functions")
    _upgrade(conn, schema)


def _connect(url: str) -> tuple[Any, str]:
    target = urls.parse(url)
    with mapped_errors():
        conn = psycopg.connect(target.conninfo, autocommit=True)
    return conn, target.schema


def migrate(url: str) -> list[str]:
    """Bring the schema of ``url`` (``?schema=``) up to this release; the names of the
    migrations applied (``[]`` when it was current). ``SchemaTooNew`` for a newer one."""
    conn, schema = _connect(url)
    with conn, mapped_errors():
        return _upgrade(conn, schema)


def schema_status(url: str) -> SchemaStatus:
    """Where the schema of ``url`` stands; reads only."""
    conn, schema = _connect(url)
    with conn, mapped_errors():
        return _status(conn, schema)
