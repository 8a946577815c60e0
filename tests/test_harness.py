"""The test harness itself: the RedisServer helper, the Redis fixtures, the backend matrix."""

from __future__ import annotations

import asyncio
import inspect
from collections import defaultdict

import pytest
import redis
import trio

from tests.redis_server import RedisServer, free_port, ping


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def test_redis_server_starts_dies_and_restarts_on_the_same_port() -> None:
    with RedisServer() as server:
        port, url = server.port, server.url
        with client(url) as conn:
            assert conn.ping()
            conn.set("before-kill", "1")

        server.kill()
        assert not server.running
        assert not ping(port)
        with client(url) as conn, pytest.raises(redis.ConnectionError):
            conn.ping()

        server.restart()
        assert server.port == port
        assert server.url == url
        with client(url) as conn:
            assert conn.ping()
            assert conn.get("before-kill") is None, "the server keeps nothing on disk"

    assert not server.running
    assert not ping(port)


def test_redis_server_stops_gracefully_and_twice() -> None:
    server = RedisServer().start()
    try:
        assert ping(server.port)
        server.stop()
        server.stop()
        assert not server.running
        assert not ping(server.port)
    finally:
        server.close()


def test_redis_server_pause_makes_it_unresponsive_until_resumed() -> None:
    with RedisServer() as server:
        server.pause()
        assert not ping(server.port, timeout=0.2)
        server.resume()
        assert ping(server.port)


def test_redis_server_on_a_given_port() -> None:
    port = free_port()
    with RedisServer(port) as server:
        assert server.url == f"redis://127.0.0.1:{port}/0"
        assert ping(port)


def test_redis_url_fixture_answers(redis_url: str) -> None:
    with client(redis_url) as conn:
        assert conn.ping()


def test_redis_server_fixture_is_private(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_server.url != redis_url
    redis_server.kill()
    with client(redis_url) as conn:
        assert conn.ping()


def test_broker_url_covers_every_driver(broker_url: str, request: pytest.FixtureRequest) -> None:
    if request.node.callspec.id == "memory":
        assert broker_url == "memory://"
    elif request.node.callspec.id == "postgres":
        assert broker_url.startswith("postgresql://")
        assert request.node.get_closest_marker("postgres") is not None
    else:
        assert broker_url.startswith("redis://")
        assert request.node.get_closest_marker("redis") is not None


async def test_async_test_runs_inside_its_backend(anyio_backend_name: str) -> None:
    assert running_event_loop() == anyio_backend_name


def running_event_loop() -> str:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        trio.lowlevel.current_task()  # raises outside trio too
        return "trio"
    return "asyncio"


def test_every_async_test_is_collected_once_per_backend(request: pytest.FixtureRequest) -> None:
    backends_by_test: defaultdict[str, set[str]] = defaultdict(set)
    for item in request.session.items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.function):
            assert "anyio_backend" in item.fixturenames, item.nodeid
            test = f"{item.module.__name__}::{item.originalname}"
            backends_by_test[test].add(str(item.callspec.params["anyio_backend"]))
    if request.config.getoption("keyword"):
        return  # ``-k trio`` legitimately keeps one backend
    assert f"{__name__}::test_async_test_runs_inside_its_backend" in backends_by_test
    for test, backends in backends_by_test.items():
        assert backends == {"asyncio", "trio"}, test


def test_every_test_kept_off_postgres_exists() -> None:
    """tests/postgres_pending.py names tests that exist, so a rename cannot silently run
    nothing or leave a stale entry behind."""
    from pathlib import Path

    from tests.postgres_pending import NOT_ON_POSTGRES

    root = Path(__file__).resolve().parent.parent
    for entry in NOT_ON_POSTGRES:
        path, _, name = entry.partition("::")
        source = (root / path).read_text()
        assert not name or f"def {name}(" in source, entry
