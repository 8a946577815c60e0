"""queue-core, measured exactly like the peers (client and worker in their own processes).

``BENCH_BACKEND`` (asyncio | trio) picks the runtime of the client and of the worker.
The in-process figures (``memory://``) and the bare redis-py baselines live here too:
they run in queue-core's virtualenv.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import Any

import anyio
from mark import mark

from queue_core import Client, Delivery, Job, JobState, Worker

NAME = "queue-core"
DISTRIBUTIONS = ("queue-core", "redis", "hiredis", "anyio", "psycopg")
BULK = True
BULK_CALL = 1000


def backend() -> str:
    return os.environ.get("BENCH_BACKEND", "asyncio")


if os.environ.get("BENCH_TRANSPORT") == "redis-py":
    # The transport queue-core had before its pipelined connection: every script call
    # through redis-py (redis.asyncio, or the sync client on threads under trio).
    from queue_redis import connect

    connect._pipelined = lambda *args, **kwargs: None


async def noop(delivery: Delivery) -> None:
    mark()


async def tagged(delivery: Delivery) -> None:
    mark(delivery.decode())


async def prepare(url: str) -> None:
    """On PostgreSQL, the schema's migrations run here, before any timed phase (a worker or
    client would otherwise apply them on first open, inside the first phase)."""
    if url.startswith(("postgresql://", "postgres://")):
        from queue_postgres.migrations import migrate

        migrate(url)


async def connect(url: str) -> Client:
    client = Client(url)
    await client.open()
    return client


async def close(client: Client) -> None:
    await client.aclose()


async def enqueue(client: Client, tag: int | None = None, delay: float | None = None) -> None:
    if tag is None:
        await client.enqueue("noop")
    else:
        await client.enqueue("tagged", tag, delay=delay)


#: ``BENCH_RETENTION`` (seconds): keep each finished job this long (the retained-jobs run).
RETENTION = float(os.environ.get("BENCH_RETENTION", "0"))


async def enqueue_bulk(client: Client, count: int) -> None:
    await client.enqueue_many([Job("noop", retention=RETENTION) for _ in range(count)], chunk_size=count)


def build_worker(url: str, concurrency: int) -> Worker:
    worker = Worker(url, concurrency=concurrency)
    worker.register("noop", noop)
    worker.register("tagged", tagged)
    return worker


def worker(url: str, concurrency: int) -> None:
    logging.disable(logging.INFO)
    build_worker(url, concurrency).run_forever(backend=backend())


# --------------------------------------------------------------------------- in-process


async def in_process(url: str, n: int, concurrency: int, samples: int) -> dict[str, Any]:
    """memory:// lives in one process: enqueue, bulk, drain and pickup run in it."""
    logging.disable(logging.INFO)
    result: dict[str, Any] = {}
    async with Client(url) as client:
        began = time.perf_counter()
        for _ in range(n):
            await client.enqueue("noop")
        result["enqueue"] = n / (time.perf_counter() - began)

        marks: list[float] = []
        done = anyio.Event()

        async def counted(delivery: Delivery) -> None:
            marks.append(time.monotonic())
            if len(marks) == n:
                done.set()

        worker = Worker(client.broker, concurrency=concurrency)
        worker.register("noop", counted)
        spawned = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await done.wait()
            worker.stop()
        result["drain"] = (n - 1) / (marks[-1] - marks[0])
        result["startup"] = marks[0] - spawned

        began = time.perf_counter()
        for start in range(0, n, BULK_CALL):
            await enqueue_bulk(client, min(BULK_CALL, n - start))
        result["bulk"] = n / (time.perf_counter() - began)

    async with Client(url, broker_options={"prefix": "pickup"}) as client:
        started: dict[str, float] = {}
        arrived = anyio.Event()

        async def ping(delivery: Delivery) -> None:
            started[delivery.id] = time.monotonic()
            arrived.set()

        worker = Worker(client.broker, concurrency=concurrency)
        worker.register("ping", ping)
        latencies = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await anyio.sleep(1.0)
            for _ in range(samples):
                arrived = anyio.Event()
                sent = time.monotonic()
                info = await client.enqueue("ping")
                await arrived.wait()
                latencies.append(started[info.id] - sent)
            worker.stop()
        result["pickup"] = latencies
    return result


# --------------------------------------------------------------------------- bare redis-py


async def bare(url: str, n: int, pipeline: int) -> float:
    """The bare client-library bound: redis-py's asyncio client sending the very EVALSHA
    our enqueue sends (same script, KEYS and ARGV shape), one awaited call at a time
    (``pipeline`` 0) or ``pipeline`` calls per round trip. Jobs/s."""
    import redis.asyncio

    from queue_redis import codec
    from queue_redis.keys import GlobalKeys
    from queue_redis.scripts import script

    keys = GlobalKeys("bare").queue("default")
    enqueue_script = script("enqueue")
    client = redis.asyncio.Redis.from_url(url)
    await client.script_load(enqueue_script.source)
    template = Job("noop", b"null").with_id()
    fixed_keys = (keys.pending, keys.scheduled, keys.groups, keys.meta)

    def args() -> list[Any]:
        now = time.time()
        job_args = codec.job_args(template, JobState.PENDING, now, "", None, now)
        job_args[0] = uuid.uuid4().hex
        # ARGV: scope, now, channel, N, "0" (each job on its own, not all or nothing)
        return [enqueue_script.sha, 4, *fixed_keys, keys.scope, codec.num(now), keys.notify_channel, 1, "0", *job_args]

    try:
        began = time.perf_counter()
        if not pipeline:
            for _ in range(n):
                await client.evalsha(*args())
        else:
            for start in range(0, n, pipeline):
                pipe = client.pipeline(transaction=False)
                for _ in range(min(pipeline, n - start)):
                    pipe.evalsha(*args())
                await pipe.execute()
        return n / (time.perf_counter() - began)
    finally:
        await client.aclose()


if __name__ == "__main__":
    worker(os.environ["BENCH_REDIS_URL"], int(os.environ["BENCH_CONCURRENCY"]))
