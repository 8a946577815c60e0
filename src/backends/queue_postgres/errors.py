"""psycopg's exceptions turned into queue-core's, at the edge of the driver."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from queue_core import BrokerAuthError, BrokerError, BrokerUnavailable
from queue_postgres.extra import psycopg, psycopg_pool

errors = psycopg.errors

#: SQLSTATE classes that mean "the server cannot serve now": connection exceptions (08),
#: operator intervention such as a shutdown or a terminated backend (57), and
#: insufficient resources (53).
_UNAVAILABLE_CLASSES = ("08", "57", "53")


@contextlib.contextmanager
def mapped_errors() -> Iterator[None]:
    """Turn psycopg (and pool) exceptions into queue-core ones, cause chained."""
    try:
        yield
    except errors.InvalidAuthorizationSpecification as exc:
        raise BrokerAuthError(f"PostgreSQL refused the credentials: {exc}") from exc
    except errors.InsufficientPrivilege as exc:
        raise BrokerAuthError(f"PostgreSQL refused the statement (insufficient privilege): {exc}") from exc
    except psycopg_pool.PoolTimeout as exc:
        raise BrokerUnavailable(f"no PostgreSQL connection available: {exc}") from exc
    except psycopg_pool.PoolClosed as exc:
        raise BrokerUnavailable(f"the broker's connection pool is closed: {exc}") from exc
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        sqlstate = getattr(exc, "sqlstate", None)
        if sqlstate is None or sqlstate[:2] in _UNAVAILABLE_CLASSES:
            raise BrokerUnavailable(f"PostgreSQL is unreachable: {exc}") from exc
        raise BrokerError(f"PostgreSQL error: {exc}") from exc
    except psycopg.Error as exc:
        raise BrokerError(f"PostgreSQL error [{exc.sqlstate}]: {exc}") from exc
    except OSError as exc:
        raise BrokerUnavailable(f"PostgreSQL is unreachable: {exc}") from exc
