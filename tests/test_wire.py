"""The Redis driver's wire layer on its own: the pipelined connections and the subscriber.

Against the session's throwaway redis-server, and against small fake servers where a real one
cannot misbehave on cue (one that never answers, one that answers slowly).
"""

from __future__ import annotations

import asyncio
import gc
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import anyio
import hiredis
import pytest
import redis
from redis._parsers.base import BaseParser  # the reference the driver's own mapping must match
from redis.exceptions import AuthenticationError, NoScriptError, ResponseError

from queue_redis.wire.resp import AnyioRespConnection, RespConnection, _error, handshake

pytestmark = pytest.mark.redis

Connection = Callable[..., Any]


def address(redis_url: str) -> dict[str, Any]:
    parts = urlsplit(redis_url)
    return {"host": parts.hostname or "127.0.0.1", "port": parts.port or 6379}


@asynccontextmanager
async def fake_server(reply_after: float | None) -> AsyncIterator[int]:
    """A TCP server that answers every command with +PONG after ``reply_after`` seconds
    (None: never). Yields its port."""

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            reader = hiredis.Reader()
            async for data in stream:
                reader.feed(data)
                while reader.gets() is not False:
                    if reply_after is None:
                        await anyio.sleep_forever()
                    await anyio.sleep(reply_after)
                    await stream.send(b"+PONG\r\n")

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        yield listener.extra(anyio.abc.SocketAttribute.local_port)
        tg.cancel_scope.cancel()


# --------------------------------------------------------------------------- error replies


@pytest.mark.parametrize(
    "reply",
    [
        "NOSCRIPT No matching script. Please use EVAL.",
        "WRONGPASS invalid username-password pair or user is disabled.",
        "NOAUTH Authentication required.",
        "NOPERM this user has no permissions to run the 'evalsha' command",
        "LOADING Redis is loading the dataset in memory",
        "READONLY You can't write against a read only replica.",
        "OOM command not allowed when used memory > 'maxmemory'.",
        "ERR max number of clients reached",
        "ERR invalid password",
        "ERR user_script:1: Script attempted to access nonexistent global variable 'x'",
        "WRONGTYPE Operation against a key holding the wrong kind of value",
    ],
)
def test_an_error_reply_becomes_the_exception_redis_py_raises(reply: str) -> None:
    ours = _error(hiredis.ReplyError(reply))
    theirs = BaseParser.parse_error(reply)
    assert type(ours) is type(theirs)
    assert str(ours) == str(theirs)


def test_the_handshake_authenticates_then_selects() -> None:
    assert handshake(None, None, 0) == []
    assert handshake(None, "pw", 0) == [("AUTH", "pw")]
    assert handshake("user", "pw", 3) == [("AUTH", "user", "pw"), ("SELECT", 3)]
    assert handshake(None, None, 2) == [("SELECT", 2)]


# --------------------------------------------------------------------------- both connections


async def test_concurrent_callers_each_get_their_own_replies_in_order(redis_url: str, anyio_backend: str) -> None:
    connection = (RespConnection if anyio_backend == "asyncio" else AnyioRespConnection)(**address(redis_url))
    results: dict[int, list[Any]] = {}

    async def caller(n: int) -> None:
        results[n] = await connection.send([("ECHO", f"{n}:{i}") for i in range(5)])

    try:
        async with anyio.create_task_group() as tg:
            for n in range(40):
                tg.start_soon(caller, n)
    finally:
        await connection.close()
    assert results == {n: [f"{n}:{i}".encode() for i in range(5)] for n in range(40)}


def test_requests_of_concurrent_callers_leave_in_one_write(redis_url: str) -> None:
    """The first request goes at once; those made while it is in flight are held until
    every ready task ran, then written together (one system call, not one each). The
    asyncio connection only: trio has its own (``AnyioRespConnection``)."""
    writes: list[bytes] = []

    async def main() -> list[list[Any]]:
        connection = RespConnection(**address(redis_url))
        try:
            await connection.send([("PING",)])  # connected, nothing in flight
            protocol = connection._protocol
            assert protocol is not None and protocol.transport is not None
            write = protocol.transport.write

            def counted(data: Any) -> None:
                writes.append(bytes(data))
                write(data)

            protocol.transport.write = counted  # type: ignore[method-assign]
            return await asyncio.gather(*(connection.send([("ECHO", str(n))]) for n in range(20)))
        finally:
            await connection.close()

    replies = asyncio.run(main())
    assert replies == [[str(n).encode()] for n in range(20)]
    assert len(writes) == 2
    assert writes[1].count(b"ECHO") == 19


async def test_an_error_reply_is_returned_in_its_place(redis_url: str, anyio_backend: str) -> None:
    connection = AnyioRespConnection(**address(redis_url))
    try:
        first, error, last = await connection.send([("ECHO", "a"), ("EVALSHA", "0" * 40, 0), ("ECHO", "b")])
    finally:
        await connection.close()
    assert (first, last) == (b"a", b"b")
    assert isinstance(error, NoScriptError)


async def test_auth_and_select_come_first_on_every_connection(redis_url: str, anyio_backend: str) -> None:
    user, secret, key = f"wire{secrets.token_hex(3)}", secrets.token_hex(8), f"wire:{secrets.token_hex(4)}"
    admin, db3 = redis.Redis.from_url(redis_url), redis.Redis(**address(redis_url), db=3)
    admin.execute_command("ACL", "SETUSER", user, "on", f">{secret}", "~*", "&*", "+@all")
    kind = RespConnection if anyio_backend == "asyncio" else AnyioRespConnection
    try:
        connection = kind(**address(redis_url), username=user, password=secret, db=3)
        try:
            assert await connection.send([("SET", key, "in db 3"), ("ACL", "WHOAMI")]) == [b"OK", user.encode()]
        finally:
            await connection.close()
        assert admin.get(key) is None  # not in db 0
        assert db3.get(key) == b"in db 3"
        refused = kind(**address(redis_url), username=user, password="wrong")
        with pytest.raises(AuthenticationError):
            await refused.send([("PING",)])
        await refused.close()
    finally:
        admin.execute_command("ACL", "DELUSER", user)
        db3.delete(key)
        db3.close()
        admin.close()


async def test_a_server_that_stops_answering_times_out(anyio_backend: str) -> None:
    kind = RespConnection if anyio_backend == "asyncio" else AnyioRespConnection
    async with fake_server(reply_after=None) as port:
        connection = kind(host="127.0.0.1", port=port, timeout=0.2)
        with anyio.fail_after(10), pytest.raises(redis.TimeoutError):
            await connection.send([("PING",)])
        await connection.close()


async def test_a_caller_cancelled_mid_read_leaves_the_next_its_own_reply(anyio_backend: str) -> None:
    async with fake_server(reply_after=0.2) as port:
        connection = AnyioRespConnection(host="127.0.0.1", port=port, timeout=5)
        with anyio.move_on_after(0.05) as scope:
            await connection.send([("PING",)])  # cancelled while its reply is on the way
        assert scope.cancelled_caught
        with anyio.fail_after(10):
            assert await connection.send([("PING",)]) == [b"PONG"]
            assert await connection.send([("PING",), ("PING",)]) == [b"PONG", b"PONG"]
        await connection.close()


def test_the_subscriber_is_confirmed_before_it_waits(redis_url: str) -> None:
    # The pipelined subscriber is asyncio's (under trio, wake-ups go through redis-py).
    connection = RespConnection(**address(redis_url))
    subscription = connection.subscription()
    channel = f"wire:{secrets.token_hex(4)}"
    publisher = redis.Redis.from_url(redis_url)

    async def scenario() -> None:
        try:
            assert await subscription.receive([channel], 0) == []  # subscribed and confirmed, nothing yet
            assert publisher.publish(channel, b"one") == 1  # the server counts the subscriber now
            publisher.publish(channel, b"two")
            async with asyncio.timeout(10):
                assert await subscription.receive([channel], 5) == [b"one", b"two"]
        finally:
            await subscription.close()
            await connection.close()

    try:
        asyncio.run(scenario())
    finally:
        publisher.close()


# The connection of a loop that has ended is closed as that loop ends (or as the next one
# connects), not left to the garbage collector: a ResourceWarning would fail these tests
# (pyproject.toml turns every warning into an error).
def test_a_connection_reconnects_on_a_new_event_loop(redis_url: str) -> None:
    connection = RespConnection(**address(redis_url))

    async def ping(then_close: bool) -> list[Any]:
        replies = await connection.send([("PING",)])
        if then_close:
            await connection.close()
        return replies

    assert asyncio.run(ping(then_close=False)) == [b"PONG"]
    assert asyncio.run(ping(then_close=True)) == [b"PONG"]  # the first loop's connection is gone with it
    gc.collect()  # a socket left open would warn here, inside this test's filters


def test_an_anyio_connection_reconnects_on_a_new_event_loop(redis_url: str) -> None:
    connection = AnyioRespConnection(**address(redis_url))

    async def ping(then_close: bool) -> list[Any]:
        replies = await connection.send([("PING",)])
        if then_close:
            await connection.close()
        return replies

    assert anyio.run(ping, False, backend="trio") == [b"PONG"]
    assert anyio.run(ping, True, backend="asyncio") == [b"PONG"]
    gc.collect()


def test_a_plain_error_reply_is_a_response_error() -> None:
    assert type(_error(hiredis.ReplyError("WRONGTYPE Operation against a key"))) is ResponseError
