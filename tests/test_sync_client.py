"""SyncClient: the blocking client on a portal thread, on both drivers and both loops,
shared between threads, feeding an async Worker in the same process."""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import anyio.to_thread
import pytest

from queue_core import (
    BrokerUnavailable,
    Delivery,
    DuplicateJob,
    EnqueueStatus,
    InvalidBrokerURL,
    Job,
    JobIdConflict,
    JobInfo,
    JobState,
    UnknownBrokerScheme,
    Worker,
    open_broker,
)
from queue_core.errors import InvalidRetention
from queue_core.sync_client import SyncClient
from queue_core.worker.worker import IDLE_WAIT_BLOCKING
from tests.worker_kit import running

PORTAL_THREAD = "queue-core SyncClient"


def portal_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(PORTAL_THREAD)]


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def prefix() -> str:
    return f"t{secrets.token_hex(5)}"


@pytest.fixture
def client(broker_url: str, backend: str, prefix: str) -> Iterator[SyncClient]:
    with SyncClient(broker_url, backend=backend, broker_options={"prefix": prefix}) as opened:
        yield opened


def stored(url: str, prefix: str, call: str, *args: Any) -> Any:
    """Run ``broker.<call>(*args)`` on a broker of our own, from sync code."""

    async def read() -> Any:
        broker = await open_broker(url, prefix=prefix)
        try:
            return await getattr(broker, call)(*args)
        finally:
            await broker.close()

    return anyio.run(read)


def test_enqueue_blocks_until_stored_and_returns_the_job_info(client: SyncClient, broker_url: str, prefix: str) -> None:
    info = client.enqueue("email.send", {"to": "a@example.com"}, queue="mail", retention=60)
    assert isinstance(info, JobInfo) and info.state is JobState.PENDING
    assert stored(broker_url, prefix, "job_info", "mail", info.id, info.enqueued_at) == info
    assert stored(broker_url, prefix, "job_payload", "mail", info.id) == b'{"to":"a@example.com"}'


def test_enqueue_job_and_enqueue_many_work_as_on_the_async_client(
    client: SyncClient, broker_url: str, prefix: str
) -> None:
    built = client.enqueue_job(Job("raw", b"\x01", job_id="built-1", delay=30))
    assert (built.id, built.state) == ("built-1", JobState.SCHEDULED)
    outcomes = client.enqueue_many(Job.create("bulk", i % 3, unique_for=60) for i in range(5))
    assert [o.status for o in outcomes].count(EnqueueStatus.ENQUEUED) == 3
    assert [o.status for o in outcomes].count(EnqueueStatus.DUPLICATE) == 2
    client.ping()
    stats = stored(broker_url, prefix, "queue_stats", "default", built.enqueued_at)
    assert (stats.pending, stats.scheduled) == (3, 1)


def test_broker_errors_reach_the_calling_thread_with_their_own_type(client: SyncClient) -> None:
    client.enqueue("t", job_id="once")
    with pytest.raises(JobIdConflict):
        client.enqueue("t", job_id="once")
    client.enqueue("u", 1, unique_for=60)
    with pytest.raises(DuplicateJob):
        client.enqueue("u", 1, unique_for=60)


def test_the_error_handler_runs_after_the_log_line(
    broker_url: str, backend: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    logged_before: list[int] = []

    def on_error(error: BaseException, job: Job | None) -> None:
        logged_before.append(len(caplog.records))

    with (
        caplog.at_level(logging.DEBUG, logger="queue_core"),
        SyncClient(broker_url, backend=backend, broker_options={"prefix": prefix}, error_handler=on_error) as client,
    ):
        client.enqueue("t", job_id="twice")
        with pytest.raises(JobIdConflict):
            client.enqueue("t", job_id="twice")
    assert logged_before == [1]


def test_threads_share_one_client(client: SyncClient, broker_url: str, prefix: str) -> None:
    def produce(worker: int) -> list[str]:
        return [client.enqueue("t", {"w": worker, "i": i}).id for i in range(25)]

    with ThreadPoolExecutor(4) as pool:
        ids = [job_id for batch in pool.map(produce, range(4)) for job_id in batch]
    assert len(set(ids)) == 100
    assert stored(broker_url, prefix, "queue_stats", "default", 0.0).pending == 100


def test_close_stops_the_thread_is_idempotent_and_later_calls_fail(broker_url: str, backend: str) -> None:
    before = len(portal_threads())
    client = SyncClient(broker_url, backend=backend, broker_options={"prefix": f"t{secrets.token_hex(4)}"})
    assert len(portal_threads()) == before + 1
    client.close()
    client.close()
    assert client.closed
    assert len(portal_threads()) == before
    with pytest.raises(RuntimeError, match="closed"):
        client.enqueue("t")


def test_leaving_the_with_block_closes_even_on_error(backend: str) -> None:
    with pytest.raises(KeyError), SyncClient("memory://", backend=backend) as client:
        raise KeyError("boom")
    assert client.closed


def test_bad_arguments_fail_before_any_thread_starts(backend: str) -> None:
    before = len(portal_threads())
    with pytest.raises(InvalidRetention):
        SyncClient("memory://", backend=backend, default_retention=-1)
    with pytest.raises(InvalidBrokerURL):
        SyncClient(object(), backend=backend)  # type: ignore[arg-type]
    with pytest.raises(UnknownBrokerScheme):
        SyncClient("nosuch://host", backend=backend)
    assert len(portal_threads()) == before


def test_an_unreachable_redis_raises_broker_unavailable_in_the_caller(backend: str) -> None:
    with SyncClient("redis://127.0.0.1:1/0", backend=backend) as client:
        with pytest.raises(BrokerUnavailable):
            client.enqueue("t")
        with pytest.raises(BrokerUnavailable):
            client.ping()


async def test_a_sync_client_in_a_thread_feeds_an_async_worker_in_the_same_process() -> None:
    url = f"memory://sync-{secrets.token_hex(4)}"
    seen: list[int] = []
    all_seen = anyio.Event()
    worker = Worker(url, concurrency=2, sweep_interval=3600)

    @worker.handler("greet")
    async def greet(delivery: Delivery) -> None:
        seen.append(delivery.decode(dict)["n"])
        if len(seen) == 3:
            all_seen.set()

    def produce() -> list[str]:
        with SyncClient(url) as client:
            return [client.enqueue("greet", {"n": n}).id for n in range(3)]

    async with running(worker):
        ids = await anyio.to_thread.run_sync(produce)
        # The worker sleeps in wait_for_jobs; only the cross-thread wake-up gets it going
        # sooner than its idle timeout.
        with anyio.fail_after(IDLE_WAIT_BLOCKING / 2):
            await all_seen.wait()
    assert sorted(seen) == [0, 1, 2] and len(ids) == 3
