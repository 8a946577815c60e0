"""Edge cases of the Redis driver that the conformance model cannot see: the Lua
layer's storage layout, script reloading, error mapping at the edge, URL handling."""

from __future__ import annotations

import logging
import secrets

import pytest
import redis

from queue_core import (
    BrokerAuthError,
    BrokerUnavailable,
    Job,
    JobState,
    Settlement,
    open_broker,
)
from queue_redis.broker import RedisBroker
from queue_redis.connect import node_url
from queue_redis.scripts import NAMES, script
from queue_redis.wire.pubsub import AsyncSubscription
from tests.redis_server import RedisServer

NOW = 1_750_000_000.0


def fresh_prefix() -> str:
    return f"t{secrets.token_hex(4)}"


async def test_every_key_of_a_queue_carries_its_hash_tag(redis_url: str) -> None:
    prefix = fresh_prefix()
    broker = await open_broker(redis_url, prefix=prefix)
    try:
        jobs = [
            Job("a", b"1", queue="mail", unique_for=60).with_id(),
            Job("b", b"2", queue="mail", delay=5).with_id(),
            Job("c", b"3", queue="mail", group="g").with_id(),
            Job("d", b"4", queue="mail", retention=60).with_id(),
        ]
        await broker.enqueue(jobs, NOW)
        [lease, other] = await broker.dequeue(["mail"], NOW, 30, "w", 10)
        await broker.settle([Settlement.complete(other), Settlement.archive(lease, "x")], NOW)
        client = redis.Redis.from_url(redis_url)
        keys = [k.decode() for k in client.scan_iter(match=f"{prefix}:*")]
        client.close()
        queue_keys = [k for k in keys if k not in (f"{prefix}:queues", f"{prefix}:layout")]
        assert queue_keys, keys
        assert all(k.startswith(f"{prefix}:{{mail}}:") for k in queue_keys), queue_keys
    finally:
        await broker.close()


async def test_payload_bytes_are_stored_exactly_as_given(redis_url: str) -> None:
    broker = await open_broker(redis_url, prefix=fresh_prefix())
    try:
        raw = bytes(range(256))
        [job] = [Job("bin", raw).with_id()]
        await broker.enqueue([job], NOW)
        assert job.job_id is not None
        assert await broker.job_payload("default", job.job_id) == raw
        [lease] = await broker.dequeue(["default"], NOW, 30, "w", 1)
        assert lease.record.payload == raw
    finally:
        await broker.close()


async def test_scripts_are_reloaded_after_the_server_forgets_them(redis_url: str) -> None:
    broker = await open_broker(redis_url, prefix=fresh_prefix())
    try:
        await broker.enqueue([Job("t").with_id()], NOW)
        client = redis.Redis.from_url(redis_url)
        client.script_flush()
        client.close()
        # Both the single-call path and the pipelined path must recover from NOSCRIPT.
        outcomes = await broker.enqueue([Job("t").with_id(), Job("t", queue="other").with_id()], NOW)
        assert all(o.ok for o in outcomes)
        assert len(await broker.dequeue(["default"], NOW, 30, "w", 10)) == 2
    finally:
        await broker.close()


async def test_a_pending_id_without_a_record_is_dropped(redis_url: str) -> None:
    prefix = fresh_prefix()
    broker = await open_broker(redis_url, prefix=prefix)
    try:
        job = Job("t").with_id()
        await broker.enqueue([job], NOW)
        client = redis.Redis.from_url(redis_url)
        client.lpush(f"{prefix}:{{default}}:pending", "ghost")
        client.close()
        leases = await broker.dequeue(["default"], NOW, 30, "w", 10)
        assert [lease.job_id for lease in leases] == [job.job_id]
        assert (await broker.queue_stats("default", NOW)).pending == 0
    finally:
        await broker.close()


async def test_a_malformed_record_is_leased_marked_for_archiving(redis_url: str) -> None:
    prefix = fresh_prefix()
    broker = await open_broker(redis_url, prefix=prefix)
    try:
        job = Job("t", b"{}").with_id()
        await broker.enqueue([job], NOW)
        client = redis.Redis.from_url(redis_url)
        client.hset(f"{prefix}:{{default}}:j:{job.job_id}", mapping={"retried": "not-a-number", "headers": "\xff["})
        client.close()
        [lease] = await broker.dequeue(["default"], NOW, 30, "w", 1)
        assert lease.record.malformed is not None
        assert "int()" in lease.record.malformed and not lease.record.malformed.startswith("malformed")
        assert await broker.settle([Settlement.archive(lease, lease.record.malformed)], NOW) == [True]
        info = await broker.job_info("default", lease.job_id, NOW)
        assert info.state is JobState.ARCHIVED
    finally:
        await broker.close()


async def test_unreachable_redis_raises_broker_unavailable() -> None:
    with RedisServer() as server:
        url = server.url
    broker = await open_broker(url)  # the server is gone; connecting is lazy
    try:
        with pytest.raises(BrokerUnavailable) as caught:
            await broker.ping()
        assert caught.value.__cause__ is not None
        with pytest.raises(BrokerUnavailable):
            await broker.enqueue([Job("t").with_id()], NOW)
    finally:
        await broker.close()


async def test_wrong_password_raises_broker_auth_error() -> None:
    with RedisServer() as server:
        admin = redis.Redis.from_url(server.url)
        admin.config_set("requirepass", "s3cret")
        admin.close()
        broker = await open_broker(server.url.replace("redis://", "redis://:wrong@"))
        try:
            with pytest.raises(BrokerAuthError):
                await broker.ping()
        finally:
            await broker.close()
        good = await open_broker(server.url.replace("redis://", "redis://:s3cret@"))
        try:
            await good.ping()
        finally:
            await good.close()


async def test_prefix_can_come_from_the_url(redis_url: str) -> None:
    prefix = fresh_prefix()
    broker = await open_broker(f"{redis_url}?prefix={prefix}")
    try:
        assert isinstance(broker, RedisBroker)
        await broker.enqueue([Job("t").with_id()], NOW)
        client = redis.Redis.from_url(redis_url)
        assert client.sismember(f"{prefix}:queues", "default")
        client.close()
    finally:
        await broker.close()


async def test_the_path_that_serves_a_url_is_logged_at_debug(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="queue_redis")
    for url in (redis_url, f"{redis_url}?client_name=qc-path"):
        broker = await open_broker(url, prefix=fresh_prefix())
        await broker.close()
    chosen = [record.getMessage() for record in caplog.records if record.name == "queue_redis"]
    assert len(chosen) == 2, chosen
    assert chosen[0].startswith("redis standalone: Pipelined") and "redis-py path" not in chosen[0]
    assert "redis-py path: options in the URL's query string" in chosen[1]


def test_every_script_has_a_header_naming_keys_argv_and_reply() -> None:
    for name in NAMES:
        source = script(name).source.split("_common.lua", 1)[1]
        header = source[source.index(f"-- {name}.lua") :][:1200]
        assert "ARGV[1]" in header, name
        assert "Reply" in header, name
        assert "KEYS[1]" in header, name


def test_a_script_carries_only_the_helpers_it_calls() -> None:
    """Every helper a script defines is built on each call: the enqueue script has the
    job store and what it calls (job_key through store_job), not the settle helpers."""
    enqueue, dequeue = script("enqueue").source, script("dequeue").source
    for helper in ("store_job", "job_key", "lock_holder", "dependents_key"):
        assert f"local function {helper}(" in enqueue, helper
    for helper in ("settle_dependents", "quarantine", "held", "detach"):
        assert f"local function {helper}(" not in enqueue, helper
    # dequeue reaches settle_dependents only through settle_if_any, and release through it
    for helper in ("settle_if_any", "settle_dependents", "release", "quarantine", "count"):
        assert f"local function {helper}(" in dequeue, helper
    assert "local function store_job(" not in dequeue


def test_a_cluster_node_url_keeps_credentials_tls_and_options() -> None:
    assert node_url("rediss://u:p%40ss@10.0.0.1:7000/0?ssl_cert_reqs=none", "10.0.0.2", 7001) == (
        "rediss://u:p%40ss@10.0.0.2:7001/0?ssl_cert_reqs=none"
    )
    assert node_url("redis://10.0.0.1:7000/0", "::1", 7002) == "redis://[::1]:7002/0"


def test_a_subscription_skips_a_node_that_is_gone(redis_url: str) -> None:
    """A Cluster subscription under asyncio (redis.asyncio exists only there) tries the
    nodes in turn: the first, killed, is skipped and the wake-up arrives through the next."""
    import asyncio

    import redis.asyncio

    with RedisServer() as gone:
        dead_url = gone.url

    async def main() -> list[bytes]:
        clients = [redis.asyncio.from_url(dead_url), redis.asyncio.from_url(redis_url)]

        async def candidates() -> list[redis.asyncio.Redis]:
            return clients

        subscription = AsyncSubscription(candidates)
        channel = f"{fresh_prefix()}:notify"
        try:
            assert await subscription.receive([channel], 0) == []  # subscribed and confirmed, nothing sent yet
            await clients[1].publish(channel, b"1")
            return await subscription.receive([channel], 5.0)
        finally:
            await subscription.close()
            for client in clients:
                await client.aclose()

    assert asyncio.run(main()) == [b"1"]
