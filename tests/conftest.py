"""Fixtures every test module can use.

- Every ``async def`` test runs twice, on asyncio and on trio (anyio's pytest plugin); no marker
  needed.
- ``redis_url``: the session's Redis, ``$REDIS_URL`` or a throwaway ``redis-server``.
- ``postgres_url``: the session's PostgreSQL, ``$POSTGRES_URL`` or a throwaway cluster.
- ``broker_url``: each test that takes it runs against ``memory://``, Redis and PostgreSQL
  (the last while the driver ``queue_postgres`` is registered as a plugin).
- ``redis_server`` / ``postgres_server``: a private server for fault tests to kill, pause and
  restart.
- ``broker``: a fresh broker per driver; ``hooks``: the lifecycle hooks a test caused.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Iterator
from importlib import metadata

import pytest

from queue_core import Broker
from tests.postgres_pending import NOT_ON_POSTGRES, PENDING, REDIS_ONLY
from tests.postgres_server import PostgresServer
from tests.redis_server import RedisServer
from tests.worker_kit import HookRecorder, fresh_broker, recording_hooks

BACKENDS = ["asyncio", "trio"]


@pytest.fixture(params=BACKENDS, scope="module")
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Overrides anyio's fixture so that trio is always in the matrix (module scope, as anyio's)."""
    backend: str = request.param
    return backend


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Module | pytest.Class, name: str, obj: object) -> None:
    # Marks coroutine tests before anyio's own collection hook looks for the marker; it then
    # parametrizes them over ``anyio_backend``. Using the fixture directly as well keeps this
    # independent of hook order. (anyio's ``anyio_mode = "auto"`` does the same but needs a
    # newer anyio than pyproject requires.)
    if not collector.istestfunction(obj, name):
        return
    inner = obj.hypothesis.inner_test if hasattr(obj, "hypothesis") else obj
    if inspect.iscoroutinefunction(inner):
        pytest.mark.anyio(obj)
        pytest.mark.usefixtures("anyio_backend")(obj)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``$REDIS_URL`` when set (``make test`` sets it), else a redis-server for this session."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    with RedisServer() as server:
        yield server.url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``$POSTGRES_URL`` when set (``make test`` sets it), else a throwaway cluster for this session."""
    url = os.environ.get("POSTGRES_URL")
    if url:
        yield url
        return
    with PostgresServer() as server:
        yield server.url


def postgres_driver_installed() -> bool:
    """The PostgreSQL driver is registered through the ``queue_core`` entry point (read without
    loading any plugin, so collection has no side effects on the plugin registry)."""
    return any(entry.value.startswith("queue_postgres") for entry in metadata.entry_points(group="queue_core"))


BROKER_PARAMS = [
    pytest.param("memory://", id="memory"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]
if postgres_driver_installed():
    BROKER_PARAMS.append(pytest.param("postgres", id="postgres", marks=pytest.mark.postgres))


def pending_on_postgres(item: pytest.Item) -> bool:
    """A test listed in ``tests/postgres_pending.py`` (by module or by name), on PostgreSQL."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or callspec.params.get("broker_url") != "postgres":
        return False
    if os.environ.get("QUEUE_CORE_RUN_PENDING") and item.nodeid.split("[", 1)[0] not in REDIS_ONLY:
        return False  # QUEUE_CORE_RUN_PENDING=1: run the pending list, to shrink it
    name = item.nodeid.split("[", 1)[0]
    return name in NOT_ON_POSTGRES or name.split("::", 1)[0] in NOT_ON_POSTGRES


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Deselected, not skipped: the list is the driver's to-do list, named in the run's header.
    pending = [item for item in items if pending_on_postgres(item)]
    if pending:
        config.hook.pytest_deselected(items=pending)
        items[:] = [item for item in items if not pending_on_postgres(item)]


def pytest_report_header(config: pytest.Config) -> str | None:
    if not postgres_driver_installed():
        return "postgres: the driver queue_postgres is not registered; broker_url runs memory:// and Redis only"
    return (
        f"postgres: {len(REDIS_ONLY)} Redis-only tests/modules, {len(PENDING)} pending on the driver "
        "(tests/postgres_pending.py)"
    )


@pytest.fixture(params=BROKER_PARAMS)
def broker_url(request: pytest.FixtureRequest) -> str:
    """A broker URL per driver; ``-m 'not redis and not postgres'`` keeps only the in-process one.

    Each test isolates itself on the shared servers with a fresh key prefix, which the
    PostgreSQL driver takes as the name of a fresh schema (cheap: no database per test).
    """
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    if request.param == "postgres":
        pg: str = request.getfixturevalue("postgres_url")
        return pg
    param: str = request.param
    return param


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private, running Redis on its own port: kill it, pause it, restart it at will."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A private, running PostgreSQL cluster: kill it, restart it, terminate its connections."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
async def broker(broker_url: str) -> AsyncIterator[Broker]:
    """A broker per driver (see ``broker_url``) under a key prefix no other test uses."""
    async with fresh_broker(broker_url) as opened:
        yield opened


@pytest.fixture
async def hooks() -> AsyncIterator[HookRecorder]:
    """Every pluggy lifecycle hook call made during the test, in order."""
    async with recording_hooks() as recorder:
        yield recorder
