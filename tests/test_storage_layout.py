"""The storage layout version: written on first use, checked before anything else, and a
broker or worker that meets another version refuses without touching the stored data."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import fakeredis
import pytest
import redis

from queue_core import Client, Delivery, Job, StorageLayoutMismatch, Worker, open_broker
from queue_fakeredis.broker import _server
from queue_redis.layout import LAYOUT_VERSION

NOW = 1_750_000_000.0


@contextmanager
def raw_connection(url: str) -> Iterator[Any]:
    """A plain client on the same storage the broker for ``url`` uses."""
    if url.startswith("memory://"):
        server = _server("")[0]
        yield fakeredis.FakeRedis(server=server)
        return
    client = redis.Redis.from_url(url)
    try:
        yield client
    finally:
        client.close()


def fresh_prefix() -> str:
    return f"t{secrets.token_hex(5)}"


async def test_first_use_writes_the_layout_version(broker_url: str) -> None:
    prefix = fresh_prefix()
    broker = await open_broker(broker_url, prefix=prefix)
    try:
        with raw_connection(broker_url) as raw:
            assert raw.get(f"{prefix}:layout") is None  # opening alone sends nothing
            await broker.ping()
            assert raw.get(f"{prefix}:layout") == LAYOUT_VERSION.encode()
    finally:
        await broker.close()


async def test_the_same_layout_version_is_accepted(broker_url: str) -> None:
    prefix = fresh_prefix()
    first = await open_broker(broker_url, prefix=prefix)
    try:
        await first.enqueue([Job("t", b"1", job_id="a")], NOW)
    finally:
        await first.close()
    second = await open_broker(broker_url, prefix=prefix)
    try:
        [lease] = await second.dequeue(["default"], NOW, 30, "w", 1)
        assert lease.job_id == "a"
    finally:
        await second.close()


async def test_another_layout_version_is_refused_and_nothing_is_touched(broker_url: str) -> None:
    prefix = fresh_prefix()
    writer = await open_broker(broker_url, prefix=prefix)
    try:
        await writer.enqueue([Job("t", b"1", job_id="a")], NOW)
    finally:
        await writer.close()
    with raw_connection(broker_url) as raw:
        raw.set(f"{prefix}:layout", "99")
        before = {key: raw.dump(key) for key in raw.scan_iter(match=f"{prefix}:*")}

        broker = await open_broker(broker_url, prefix=prefix)
        try:
            with pytest.raises(StorageLayoutMismatch) as refused:
                await broker.dequeue(["default"], NOW, 30, "w", 1)
            assert refused.value.found == "99" and refused.value.expected == LAYOUT_VERSION
            assert f"{prefix}:layout" in str(refused.value) and "'99'" in str(refused.value)
            with pytest.raises(StorageLayoutMismatch):  # it keeps refusing, also for writes
                await broker.enqueue([Job("t", b"2", job_id="b")], NOW)
        finally:
            await broker.close()

        after = {key: raw.dump(key) for key in raw.scan_iter(match=f"{prefix}:*")}
        assert after == before


async def test_a_worker_meeting_another_layout_stops_with_the_error(broker_url: str) -> None:
    prefix = fresh_prefix()
    options = {"prefix": prefix}
    async with Client(broker_url, broker_options=options) as client:
        await client.enqueue("t", {"n": 1})
    with raw_connection(broker_url) as raw:
        raw.set(f"{prefix}:layout", str(int(LAYOUT_VERSION) - 1))  # an older release's
        before = {key: raw.dump(key) for key in raw.scan_iter(match=f"{prefix}:*")}
        handled: list[Delivery] = []
        worker = Worker(broker_url, broker_options=options, sweep_interval=0.05)

        @worker.handler("t")
        async def record(delivery: Delivery) -> None:
            handled.append(delivery)

        with anyio.fail_after(30):  # a guard against a hang, not a timing assertion
            with pytest.raises(StorageLayoutMismatch):
                await worker.run()
        assert handled == []
        after = {key: raw.dump(key) for key in raw.scan_iter(match=f"{prefix}:*")}
        assert after == before


async def test_queues_stored_without_the_layout_key_are_the_first_layout(broker_url: str) -> None:
    """Data from before the layout key existed is layout 1: the key is written as "1" (its
    only write), and a broker of a later layout refuses it instead of misreading its jobs."""
    prefix = fresh_prefix()
    with raw_connection(broker_url) as raw:
        raw.sadd(f"{prefix}:queues", "default")
        raw.hset(f"{prefix}:{{default}}:j:old", mapping={"type": "t", "state": "pending", "enqueued_at": "1.5"})
        raw.lpush(f"{prefix}:{{default}}:pending", "old")
        broker = await open_broker(broker_url, prefix=prefix)
        try:
            with pytest.raises(StorageLayoutMismatch) as refused:
                await broker.dequeue(["default"], NOW, 30, "w", 1)
            assert refused.value.found == "1" and refused.value.expected == LAYOUT_VERSION
        finally:
            await broker.close()
        assert raw.get(f"{prefix}:layout") == b"1"
        assert raw.lrange(f"{prefix}:{{default}}:pending", 0, -1) == [b"old"]


async def test_a_pending_job_stores_only_what_cannot_be_inferred(broker_url: str) -> None:
    """Layout 2 (docs/redis.md): five fields for a pending job without options; what is
    left out reads back as before (0 counters, pending since its enqueue)."""
    prefix = fresh_prefix()
    broker = await open_broker(broker_url, prefix=prefix)
    try:
        await broker.enqueue([Job("t", b"1", job_id="a")], NOW)
        with raw_connection(broker_url) as raw:
            stored = raw.hgetall(f"{prefix}:{{default}}:j:a")
        assert set(stored) == {b"type", b"payload", b"max_retries", b"enqueued", b"state"}
        info = await broker.job_info("default", "a", NOW)
        assert (info.retried, info.crashes, info.bounces) == (0, 0, 0)
        assert info.enqueued_at == NOW and info.next_process_at == NOW
        stats = await broker.queue_stats("default", NOW + 5)
        assert stats.pending == 1 and stats.latency == 5
    finally:
        await broker.close()
