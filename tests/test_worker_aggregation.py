"""A worker given an AggregationPolicy aggregates its queues' groups, and every worker's
janitor gives members of an expired staging set back to their group."""

from __future__ import annotations

from typing import Any

import pytest

from queue_core import AggregationPolicy, Broker, Client, Delivery, GroupMember, Job
from queue_core.errors import InvalidWorkerOption
from queue_core.worker._maintenance import JANITOR_INTERVAL
from tests.worker_kit import (
    CountingBroker,
    HookRecorder,
    make_worker,
    manual_clock,
    running,
    wait_until,
)


def digest(group: str, members: list[GroupMember]) -> Job:
    return Job.create("digest", {"group": group, "items": [m.decode() for m in members]})


async def test_a_worker_with_an_aggregation_policy_turns_ready_groups_into_jobs_it_runs(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, aggregation=AggregationPolicy(digest, grace=2))
    handled: list[Any] = []

    @worker.handler("digest")
    async def send_digest(delivery: Delivery) -> None:
        handled.append(delivery.decode())

    async with Client(broker, clock=clock) as client:
        for n in range(3):
            await client.enqueue("note", n, group="pat")
    async with running(worker):
        clock.advance(2)  # the group's grace passes
        await hooks.wait_for("succeeded", job_type="digest")
    assert [(d["group"], sorted(d["items"])) for d in handled] == [("pat", [0, 1, 2])]


async def test_the_janitor_gives_an_expired_staging_set_back_to_its_group(broker: Broker) -> None:
    clock = manual_clock()
    async with Client(broker, clock=clock) as client:
        for n in range(3):
            await client.enqueue("note", n, group="pat")
    staged = await broker.aggregation_check("default", "pat", clock.now() + 5, 1, None, None, 10)
    assert staged is not None and await broker.list_groups("default") == {}  # an aggregator took them ...
    counting = CountingBroker(broker)
    worker = make_worker(counting, clock)  # ... and died; this worker does not aggregate
    async with running(worker):
        await wait_until(lambda: counting.done["reclaim_staged"] >= 1)
        clock.advance(JANITOR_INTERVAL + 8)  # past the set's stage_for, and the janitor's next round
        await wait_until(lambda: _group_back(broker))


async def _group_back(broker: Broker) -> bool:
    return (await broker.list_groups("default")).get("pat", 0) == 3


def test_aggregation_must_be_a_policy() -> None:
    with pytest.raises(InvalidWorkerOption, match="AggregationPolicy"):
        make_worker(None, manual_clock(), aggregation=digest)
