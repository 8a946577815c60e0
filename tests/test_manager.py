"""Manager, inspection: queues, stats, history, listings, job snapshots, groups,
workers, schedules and server info -- on both drivers and both runtimes."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import fields
from importlib.metadata import version
from typing import Any

import pytest
import redis

from queue_core import (
    ActiveJobInfo,
    Broker,
    Client,
    DailyStats,
    JobInfo,
    JobState,
    Manager,
    ManualClock,
    QueueInfo,
    ResultNotFound,
    ServerReport,
    Settlement,
    Unsupported,
    WorkerInfo,
    WorkerNotFound,
    WorkerStatus,
    open_broker,
)
from queue_core.info import WORKER_HEARTBEAT
from queue_core.job import DEFAULT_TIMEOUT
from queue_core.scheduling.scheduler import Scheduler
from tests.manager_kit import LEASE, QUEUE, active_lease, job_in, populate
from tests.scheduler_kit import running
from tests.worker_kit import NOW, manual_clock, wait_until


def raw_redis(url: str) -> Any:
    """A plain redis-py client on the test's Redis (a cluster client for redis+cluster://)."""
    if url.startswith("redis+cluster://"):
        return redis.RedisCluster.from_url(url.replace("redis+cluster://", "redis://"))
    return redis.Redis.from_url(url)


@pytest.fixture
def clock() -> ManualClock:
    return manual_clock()


@pytest.fixture
async def manager(broker: Broker, clock: ManualClock) -> AsyncIterator[Manager]:
    async with Manager(broker, clock=clock) as opened:
        yield opened


# --------------------------------------------------------------------------- queues


async def test_queue_info_counts_every_state_the_counters_and_the_latency(
    manager: Manager, broker: Broker, clock: ManualClock
) -> None:
    counts = {
        JobState.PENDING: 3,
        JobState.SCHEDULED: 2,
        JobState.ACTIVE: 1,
        JobState.RETRY: 1,
        JobState.ARCHIVED: 2,
        JobState.COMPLETED: 1,
        JobState.AGGREGATING: 3,
        JobState.WAITING: 1,
    }
    await populate(broker, clock, counts)
    clock.advance(12.5)
    info = await manager.queue_info(QUEUE)
    assert isinstance(info, QueueInfo)
    assert {state: info.count(state) for state in JobState} == counts
    assert (info.size, info.groups, info.paused) == (13, 2, False)
    # retry: one failure; archive: two failures; complete: one success
    assert (info.processed_total, info.failed_total, info.succeeded_total) == (4, 3, 1)
    assert (info.processed_today, info.failed_today, info.succeeded_today) == (4, 3, 1)
    assert (info.latency, info.timestamp) == (12.5, NOW + 12.5)
    if broker.capabilities.memory_usage:
        assert info.memory_usage is not None and info.memory_usage > 0
    else:
        assert info.memory_usage is None


async def test_list_queues_gives_the_info_of_every_queue_sorted(
    manager: Manager, broker: Broker, clock: ManualClock
) -> None:
    for queue in ("zeta", "alpha", "mid"):
        await job_in(broker, clock, JobState.PENDING, queue=queue)
    await job_in(broker, clock, JobState.SCHEDULED, queue="alpha")
    infos = await manager.list_queues()
    assert [i.queue for i in infos] == ["alpha", "mid", "zeta"] == await manager.queue_names()
    assert [(i.pending, i.scheduled) for i in infos] == [(1, 1), (1, 0), (1, 0)]
    assert infos[0] == await manager.queue_info("alpha")


async def test_the_memory_estimate_follows_what_the_queue_really_uses(broker_url: str, clock: ManualClock) -> None:
    prefix = f"t{secrets.token_hex(5)}"
    broker = await open_broker(broker_url, prefix=prefix)
    try:
        async with Client(broker, clock=clock) as client, Manager(broker, clock=clock) as manager:
            for i in range(40):
                await client.enqueue("blob", {"data": "x" * 2000, "i": i}, queue="mem", delay=i % 2 * 60)
            for i in range(30):
                await client.enqueue("small", i, queue="mem", group=f"g{i % 7}")
            if not broker.capabilities.memory_usage:
                assert (await manager.queue_info("mem")).memory_usage is None
                with pytest.raises(Unsupported):
                    await broker.memory_usage("mem")
                return
            estimate = (await manager.queue_info("mem")).memory_usage
        raw = raw_redis(broker_url)
        try:
            real = sum(raw.memory_usage(key) or 0 for key in raw.scan_iter(match=f"{prefix}:{{mem}}:*"))
        finally:
            raw.close()
        assert estimate is not None
        assert 0.8 * real <= estimate <= 1.25 * real, (estimate, real)
    finally:
        await broker.close()


async def test_history_gives_one_entry_per_utc_day_newest_first(
    manager: Manager, broker: Broker, clock: ManualClock
) -> None:
    await job_in(broker, clock, JobState.ARCHIVED)  # processed 1, failed 1 today
    clock.advance(86400)
    await job_in(broker, clock, JobState.COMPLETED)  # processed 1 the next day
    await job_in(broker, clock, JobState.COMPLETED)
    history = await manager.history(QUEUE, days=3)
    assert history == [
        DailyStats(QUEUE, "2025-06-16", 2, 0),
        DailyStats(QUEUE, "2025-06-15", 1, 1),
        DailyStats(QUEUE, "2025-06-14", 0, 0),
    ]
    assert [day.succeeded for day in history] == [2, 0, 0]
    assert len(await manager.history(QUEUE, days=90)) == 90


# --------------------------------------------------------------------------- listings


async def test_pending_jobs_are_listed_in_run_order_page_by_page(
    manager: Manager, broker: Broker, clock: ManualClock
) -> None:
    ids = [await job_in(broker, clock, JobState.PENDING) for _ in range(7)]
    pages = [await manager.list_jobs(QUEUE, "pending", page, 3) for page in (1, 2, 3, 4)]
    assert [[info.id for info in page] for page in pages] == [ids[0:3], ids[3:6], ids[6:7], []]
    [first] = await manager.list_jobs(QUEUE, JobState.PENDING, page_size=1)
    [(leased)] = await broker.dequeue([QUEUE], clock.now(), LEASE, "w", 1)
    assert first.id == leased.job_id  # the listing's first is the next to run


async def test_each_state_is_listed_in_its_own_order(manager: Manager, broker: Broker, clock: ManualClock) -> None:
    later, sooner, middle = [await job_in(broker, clock, JobState.SCHEDULED, delay=d) for d in (30, 10, 20)]
    assert [i.id for i in await manager.list_jobs(QUEUE, "scheduled")] == [sooner, middle, later]
    archived = []
    for _ in range(3):
        archived.append(await job_in(broker, clock, JobState.ARCHIVED))
        clock.advance(1)
    assert [i.id for i in await manager.list_jobs(QUEUE, "archived")] == archived[::-1]  # newest first
    assert all(
        i.state is JobState.ARCHIVED and i.last_error == "boom" for i in await manager.list_jobs(QUEUE, "archived")
    )


async def test_aggregating_jobs_are_listed_per_group(manager: Manager, broker: Broker, clock: ManualClock) -> None:
    ids = []
    for group in ("g1", "g2", "g1", "g2", "g1"):
        ids.append(await job_in(broker, clock, JobState.AGGREGATING, group=group))
        clock.advance(1)  # arrival order (equal arrival times sort by ID)
    assert await manager.list_groups(QUEUE) == {"g1": 3, "g2": 2}
    g1 = await manager.list_jobs(QUEUE, "aggregating", group="g1")
    assert [i.id for i in g1] == ids[0::2]
    assert all(i.group == "g1" for i in g1)
    assert await manager.list_jobs(QUEUE, "aggregating", group="nobody") == []


async def test_active_jobs_show_start_deadline_orphans_and_their_worker(
    manager: Manager, broker: Broker, clock: ManualClock
) -> None:
    first = await job_in(broker, clock, JobState.ACTIVE, timeout=20, deadline=NOW + 10)  # lease until NOW + 30
    clock.advance(10)
    second = await job_in(broker, clock, JobState.ACTIVE, timeout=5)  # started NOW + 10, lease until NOW + 40
    clock.advance(1)
    third = await job_in(broker, clock, JobState.ACTIVE)  # no limits of its own: the default timeout
    # w1 runs the first under a handler timeout of 8 s: its report is the better deadline
    mine = ActiveJobInfo(first, "task", QUEUE, started_at=NOW, deadline=NOW + 8)
    worker = WorkerInfo("w1", "host", 1, 4, {QUEUE: 1}, False, NOW, active_jobs=[mine])
    await broker.put_heartbeat(WORKER_HEARTBEAT, "w1", worker.to_json(), clock.now(), 60)
    clock.advance(24)  # NOW + 35: the first lease ran out, the others did not
    active = await manager.list_active(QUEUE)
    assert [(a.id, a.started_at, a.deadline, a.orphaned, a.worker_id) for a in active] == [
        (first, NOW, NOW + 8, True, "w1"),
        (second, NOW + 10, NOW + 15, False, None),
        (third, NOW + 11, NOW + 11 + DEFAULT_TIMEOUT, False, None),
    ]
    assert [a.lease_expires_at for a in active] == [NOW + LEASE, NOW + 10 + LEASE, NOW + 11 + LEASE]
    await broker.remove_heartbeat(WORKER_HEARTBEAT, "w1")
    [alone] = await manager.list_active(QUEUE, page=1, page_size=1)
    assert (alone.id, alone.deadline, alone.worker_id) == (first, NOW + 10, None)  # from the job's own limits
    assert [a.id for a in await manager.list_active(QUEUE, page=2, page_size=2)] == [third]


async def test_job_info_carries_sizes_not_bytes_and_payload_and_result_are_explicit(
    manager: Manager, broker: Broker, clock: ManualClock
) -> None:
    lease = await active_lease(broker, clock, retention=60)
    info = await manager.job_info(QUEUE, lease.job_id)
    assert isinstance(info, JobInfo)
    assert not any(isinstance(getattr(info, f.name), bytes) for f in fields(info))
    payload = await manager.job_payload(QUEUE, lease.job_id)
    assert payload.startswith(b'{"n":') and info.payload_size == len(payload)
    assert (info.has_result, info.result_size) == (False, 0)
    with pytest.raises(ResultNotFound):
        await manager.job_result(QUEUE, lease.job_id)
    assert await broker.write_result(lease, b'{"answer":42}')
    assert (await manager.job_info(QUEUE, lease.job_id)).result_size == 13  # visible while still active
    await broker.settle([Settlement.complete(lease)], clock.now())
    done = await manager.job_info(QUEUE, lease.job_id)
    assert (done.state, done.has_result, done.result_size) == (JobState.COMPLETED, True, 13)
    assert await manager.job_result(QUEUE, lease.job_id) == b'{"answer":42}'


# --------------------------------------------------------------------------- workers


def a_worker(worker_id: str, **changes: object) -> WorkerInfo:
    values: dict[str, object] = {
        "id": worker_id,
        "host": "box",
        "pid": 4242,
        "concurrency": 8,
        "queues": {"critical": 6, "default": 1},
        "strict": False,
        "started_at": NOW - 100,
        "status": WorkerStatus.RUNNING,
        "active_jobs": [ActiveJobInfo("j1", "email.send", "default", NOW - 3, NOW + 27, 120)],
        "heartbeat_at": NOW,
    }
    values.update(changes)
    return WorkerInfo(**values)  # type: ignore[arg-type]


async def test_live_workers_are_listed_from_their_heartbeats_until_they_lapse(
    manager: Manager, broker: Broker, clock: ManualClock
) -> None:
    second, first = a_worker("w2", strict=True, active_jobs=[]), a_worker("w1")
    await broker.put_heartbeat(WORKER_HEARTBEAT, "w2", second.to_json(), clock.now(), 15)
    await broker.put_heartbeat(WORKER_HEARTBEAT, "w1", first.to_json(), clock.now(), 30)
    assert await manager.list_workers() == [first, second]
    assert await manager.worker_info("w2") == second
    clock.advance(20)  # w2's heartbeat lapsed
    assert [w.id for w in await manager.list_workers()] == ["w1"]
    with pytest.raises(WorkerNotFound) as caught:
        await manager.worker_info("w2")
    assert caught.value.worker_id == "w2"
    await broker.remove_heartbeat(WORKER_HEARTBEAT, "w1")  # a clean stop
    assert await manager.list_workers() == []


async def test_an_unreadable_heartbeat_is_logged_and_left_out(
    manager: Manager, broker: Broker, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    await broker.put_heartbeat(WORKER_HEARTBEAT, "broken", b"{not json", clock.now(), 30)
    await broker.put_heartbeat(WORKER_HEARTBEAT, "ok", a_worker("ok").to_json(), clock.now(), 30)
    with caplog.at_level(logging.WARNING, logger="queue_core"):
        assert [w.id for w in await manager.list_workers()] == ["ok"]
    assert "broken" in caplog.text


# --------------------------------------------------------------------------- schedules and server


async def test_schedules_and_their_history_come_from_the_scheduler(manager: Manager, broker: Broker) -> None:
    clock = ManualClock(1_750_000_020.0)  # a multiple of 30 s and of 20 s
    scheduler = Scheduler(broker, clock=clock, id="sched-1")
    scheduler.register_periodic("every-20s", 20, "ops.ping", queue="low")
    async with Manager(broker, clock=clock) as scheduled_manager:
        async with running(scheduler):
            await wait_until(lambda: scheduled_manager.schedule_history("every-20s"), "the first fire")
            [entry] = await scheduled_manager.schedules()
        [fire] = await scheduled_manager.schedule_history("every-20s")
        assert (entry.schedule_id, entry.scheduler_id, entry.job_type, entry.queue) == (
            "every-20s",
            "sched-1",
            "ops.ping",
            "low",
        )
        assert (fire.fire_time, fire.error) == (clock.now(), None)
        assert fire.job_id is not None
        assert (await scheduled_manager.job_info("low", fire.job_id)).type == "ops.ping"
    assert await manager.schedules() == []  # the scheduler said goodbye when it stopped


async def test_server_info_reports_what_the_server_says(manager: Manager, broker: Broker, broker_url: str) -> None:
    report = await manager.server_info()
    if broker_url.startswith("redis"):
        raw = raw_redis(broker_url)
        try:
            info = raw.execute_command("INFO")
        finally:
            raw.close()
        assert report.version == info["redis_version"]
        assert report.is_cluster is ("+cluster" in broker_url)
        assert report.eviction_policy == info["maxmemory_policy"]
        assert report.memory_limit == (info["maxmemory"] or None)
        assert report.memory_used is not None and report.memory_used > 0
        assert report.details["role"] == info["role"]
    else:
        assert (report.backend, report.version) == ("fakeredis", version("fakeredis"))
        assert (report.is_cluster, report.eviction_policy, report.may_evict) == (False, None, False)
        assert int(report.details["keys"]) > 0


async def test_redis_info_is_a_deprecated_alias_of_server_info(manager: Manager) -> None:
    with pytest.warns(DeprecationWarning, match="server_info"):
        former = await manager.redis_info()
    current = await manager.server_info()
    assert (former.backend, type(former)) == (current.backend, ServerReport)
    assert former.details.keys() == current.details.keys()


@pytest.mark.redis
async def test_on_a_cluster_server_info_locates_every_queue(clock: ManualClock) -> None:
    url = os.environ.get("REDIS_CLUSTER_URL")
    if not url:
        pytest.skip("set REDIS_CLUSTER_URL=redis+cluster://host:port to run against a Redis Cluster")
    prefix = f"t{secrets.token_hex(5)}"
    broker = await open_broker(url, prefix=prefix)
    queues = ["alpha", "beta", "gamma", "delta"]
    try:
        async with Client(broker, clock=clock) as client, Manager(broker, clock=clock) as manager:
            for queue in queues:
                await client.enqueue("t", queue=queue)
            report = await manager.server_info()
            assert report.is_cluster and report.version
            located = {location.queue: location for location in report.queue_locations}
            assert sorted(located) == sorted(queues)
            raw = redis.RedisCluster.from_url(url.replace("redis+cluster://", "redis://"))
            try:
                for queue in queues:
                    key = f"{prefix}:{{{queue}}}:pending"
                    node = raw.get_node_from_key(key)
                    assert located[queue].slot == raw.keyslot(key)
                    assert located[queue].nodes[0] == f"{node.host}:{node.port}"
            finally:
                raw.close()
            for queue in queues:
                await manager.delete_queue(queue, force=True)
    finally:
        await broker.close()
