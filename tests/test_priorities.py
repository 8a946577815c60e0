"""Queue priorities through real dequeues: weighted shares and strict order."""

from __future__ import annotations

from collections import Counter

import pytest

from queue_core import Broker, Client, Delivery, Job
from tests.worker_kit import HookRecorder, make_worker, manual_clock, running

WEIGHTS = {"critical": 6, "default": 3, "low": 1}
DEQUEUES = 2000


async def test_weighted_queues_share_dequeues_by_their_weights(broker: Broker) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, queues=WEIGHTS, concurrency=4)
    served: list[str] = []

    @worker.handler("unit")
    async def unit(delivery: Delivery) -> None:
        served.append(delivery.queue)
        if len(served) == DEQUEUES:
            worker.stop(immediate=True)

    # Enough in every queue that none runs dry within the measured dequeues.
    async with Client(broker, clock=clock) as client:
        for queue in WEIGHTS:
            await client.enqueue_many([Job.create("unit", queue=queue) for _ in range(DEQUEUES * 7 // 10)])
    await worker.run()
    shares = Counter(served[:DEQUEUES])
    whole = sum(WEIGHTS.values())
    for queue, weight in WEIGHTS.items():
        assert shares[queue] / DEQUEUES == pytest.approx(weight / whole, abs=0.02), shares


async def test_strict_priority_serves_a_lighter_queue_only_when_heavier_ones_are_empty(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, queues={"low": 1, "critical": 3}, strict=True, concurrency=1)
    order: list[str] = []
    worker.register("unit", _recorder(order))
    async with Client(broker, clock=clock) as client:
        await client.enqueue_many([Job.create("unit", queue="low") for _ in range(4)])
        await client.enqueue_many([Job.create("unit", queue="critical") for _ in range(8)])
    async with running(worker):
        await hooks.wait_for("succeeded", 12)
    assert order == ["critical"] * 8 + ["low"] * 4


async def test_without_strict_a_lighter_queue_gets_its_share_while_heavier_ones_have_work(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, queues={"low": 1, "critical": 3}, concurrency=1)
    order: list[str] = []
    worker.register("unit", _recorder(order))
    async with Client(broker, clock=clock) as client:
        await client.enqueue_many([Job.create("unit", queue="low") for _ in range(4)])
        await client.enqueue_many([Job.create("unit", queue="critical") for _ in range(8)])
    async with running(worker):
        await hooks.wait_for("succeeded", 12)
    assert order[:8].count("low") == 2  # one in four while both have work


def _recorder(order: list[str]) -> object:
    async def handler(delivery: Delivery) -> None:
        order.append(delivery.queue)

    return handler
