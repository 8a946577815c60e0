"""Waking without polling: an idle worker's broker calls stay few, new work and newly due
jobs wake it, and forwarding happens when a job is due, not on a fixed tick."""

from __future__ import annotations

from typing import Any

import anyio

from queue_core import Broker, Client, Delivery, ManualClock
from tests.worker_kit import (
    CountingBroker,
    HookRecorder,
    enqueue,
    lambda_async,
    make_worker,
    manual_clock,
    running,
    settle_down,
    wait_until,
)

#: broker calls that are waits for a notification, not requests.
WAITS = {"wait_for_jobs", "wait_for_cancel"}


def requests(counting: CountingBroker) -> int:
    return sum(n for name, n in counting.done.items() if name not in WAITS)


async def test_an_idle_worker_makes_few_broker_calls_per_second_of_its_clock(broker: Broker) -> None:
    clock = manual_clock()
    counting = CountingBroker(broker)
    worker = make_worker(counting, clock, queues={"a": 3, "b": 2, "c": 1}, sweep_interval=5, heartbeat_interval=5)
    worker.register("t", lambda_async(lambda d: None))
    async with running(worker):
        await wait_until(lambda: counting.calls["wait_for_jobs"] >= 1)
        await settle_down()
        before = requests(counting)
        for _ in range(60):  # one minute, a second at a time
            clock.advance(1)
            await settle_down(10)
        spent = requests(counting) - before
    # Heartbeat and recoverer every 5 s, janitor every 30 s (one reclaim per queue): about 50
    # calls a minute. Looking for due jobs every second would add 60 more.
    assert spent <= 60, counting.done
    assert counting.done["next_due"] <= 3, counting.done


async def test_a_job_scheduled_earlier_than_any_other_wakes_an_idle_worker_for_its_due_time(
    broker: Broker, hooks: HookRecorder
) -> None:
    clock = manual_clock()
    counting = CountingBroker(broker)
    worker = make_worker(counting, clock)
    worker.register("later", lambda_async(lambda d: None))
    async with running(worker):
        await wait_until(lambda: counting.calls["wait_for_jobs"] >= 1)
        await settle_down()
        looked = counting.done["next_due"]
        job_id = await enqueue(broker, clock, "later", delay=2)
        # The enqueue notifies: the idle worker looks at the new due time at once ...
        await wait_until(lambda: counting.done["next_due"] > looked)
        clock.advance(1.9)
        await settle_down()
        assert not hooks.of("started")
        clock.advance(0.1)  # ... and forwards the job when it is due, not at a periodic look
        await hooks.wait_for("succeeded", job_id=job_id)


async def test_a_later_scheduled_job_does_not_wake_the_worker(broker: Broker) -> None:
    clock = manual_clock()
    counting = CountingBroker(broker)
    worker = make_worker(counting, clock)
    worker.register("later", lambda_async(lambda d: None))
    await enqueue(broker, clock, "later", delay=2)
    async with running(worker):
        # The first wait only subscribes; the second is the long one that must stay asleep.
        await wait_until(lambda: counting.calls["wait_for_jobs"] >= 2)
        await settle_down()
        waits = counting.calls["wait_for_jobs"]
        async with Client(broker, clock=clock) as client:
            await client.enqueue("later", delay=60)  # due after the one already waiting
        await settle_down()
        assert counting.calls["wait_for_jobs"] == waits


async def test_a_busy_worker_still_forwards_when_due(broker: Broker, hooks: HookRecorder) -> None:
    clock = manual_clock()
    worker = make_worker(broker, clock, concurrency=1)
    release = anyio.Event()

    @worker.handler("block")
    async def block(delivery: Delivery) -> None:
        await release.wait()

    worker.register("later", lambda_async(lambda d: None))
    blocker = await enqueue(broker, clock, "block")
    async with running(worker):
        await hooks.wait_for("started", job_id=blocker)
        later = await enqueue(broker, clock, "later", delay=0.5)
        clock.advance(0.5)  # while the only slot is busy, the forwarder still moves it on time
        await wait_until(lambda: _pending(broker, clock))
        release.set()
        await hooks.wait_for("succeeded", job_id=later)


async def _pending(broker: Broker, clock: ManualClock) -> bool:
    stats = await broker.queue_stats("default", clock.now())
    return stats.pending == 1


class FreezingBroker(CountingBroker):
    """A broker whose ``dequeue`` hangs while it is frozen, as a Redis under ``DEBUG SLEEP``
    does. A call cut short by the caller is counted in ``cut`` and never arrives."""

    def __init__(self, inner: Broker) -> None:
        super().__init__(inner)
        self.thawed = anyio.Event()
        self.thawed.set()
        self.cut = 0

    def freeze(self) -> None:
        self.thawed = anyio.Event()

    async def dequeue(self, *args: Any, **kwargs: Any) -> Any:
        try:
            await self.thawed.wait()
        except anyio.get_cancelled_exc_class():
            self.cut += 1
            raise
        return await self.__getattr__("dequeue")(*args, **kwargs)


async def test_a_dequeue_unanswered_within_the_lease_is_tried_again_not_taken_for_an_empty_queue(
    broker: Broker, hooks: HookRecorder
) -> None:
    # P8: the fetcher gives up on a dequeue after lease_for (leases it would take are lost
    # to it by then). That is the broker in trouble, to be tried again within 1 s, not an
    # empty queue: waiting for a notification then could last until the listener's safety
    # net, since an enqueue to a queue that is not empty notifies no one.
    clock = manual_clock()
    freezing = FreezingBroker(broker)
    worker = make_worker(freezing, clock, lease_for=0.2)
    worker.register("t", lambda_async(lambda d: None))
    async with running(worker):
        await wait_until(lambda: freezing.calls["wait_for_jobs"] >= 2)  # subscribed, idle
        await settle_down()
        freezing.freeze()
        job_id = await enqueue(broker, clock, "t")  # the notification makes the idle worker dequeue
        await wait_until(lambda: freezing.cut >= 1)
        waits = freezing.done["wait_for_jobs"]
        freezing.thawed.set()
        await hooks.wait_for("started", job_id=job_id)
        # Taken on the fetcher's own next try, not when the listener's wait ran out.
        assert freezing.done["wait_for_jobs"] == waits
