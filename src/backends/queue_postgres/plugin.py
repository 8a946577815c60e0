"""Registers the PostgreSQL driver with queue-core, exactly as a third-party driver would.

psycopg is imported only when a ``postgresql://`` broker is opened, so that without the
``postgres`` extra the other drivers load and this scheme raises ``MissingDependency``.
"""

from __future__ import annotations

from typing import Any

from queue_core import hookimpl


def open_postgres(url: str, **options: Any) -> Any:
    from queue_postgres.broker import PostgresBroker

    return PostgresBroker.from_url(url, **options)


@hookimpl
def queue_core_add_brokers() -> dict[str, object]:
    return {"postgresql": open_postgres, "postgres": open_postgres}


# ---- `queue-core db migrate|status` (the schema's lifecycle, through queue-core's hook)


class _Migrations:
    """``queue_postgres.migrations`` behind the ``SchemaManager`` protocol, imported on use
    (psycopg is needed only then)."""

    def migrate(self, url: str) -> list[str]:
        from queue_postgres.migrations import migrate

        return migrate(url)

    def schema_status(self, url: str) -> Any:
        from queue_postgres.migrations import schema_status

        return schema_status(url)


@hookimpl
def queue_core_add_schema_managers() -> dict[str, object]:
    return {"postgresql": _Migrations(), "postgres": _Migrations()}
