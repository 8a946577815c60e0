"""The settler: several outcomes per broker call when several are ready, still fenced."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import anyio

from queue_core import Broker, BrokerUnavailable, Job, JobState, Settlement
from queue_core.worker._settler import Settler
from tests.worker_kit import NOW, CountingBroker, manual_clock

LOG = logging.getLogger("queue_core")


class GatedBroker(CountingBroker):
    """Holds the first settle call until ``gate`` is set; may fail the first ``failures`` calls."""

    def __init__(self, inner: Broker, failures: int = 0) -> None:
        super().__init__(inner)
        self.gate = anyio.Event()
        self.failures = failures
        self.batches: list[int] = []

    async def settle(self, settlements: Sequence[Settlement], now: float) -> list[bool]:
        self.batches.append(len(settlements))
        if len(self.batches) == 1:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise BrokerUnavailable("connection reset")
        return await self._inner.settle(settlements, now)


async def leases(broker: Broker, count: int) -> list[Any]:
    await broker.enqueue([Job("t", retention=60).with_id() for _ in range(count)], NOW)
    return await broker.dequeue(["default"], NOW, 30, "w", count)


async def test_settlements_that_arrive_while_one_is_written_go_out_together(broker: Broker) -> None:
    gated = GatedBroker(broker)
    settler = Settler(gated, manual_clock(), LOG)
    taken = await leases(broker, 5)
    results: dict[str, bool | None] = {}

    async def settle(lease: Any) -> None:
        results[lease.job_id] = await settler.settle(Settlement.complete(lease))

    async with anyio.create_task_group() as tg:
        tg.start_soon(settler.run)
        await anyio.sleep(0)
        tg.start_soon(settle, taken[0])
        while not gated.batches:  # the first call is out, and held
            await anyio.sleep(0)
        for lease in taken[1:]:
            tg.start_soon(settle, lease)
        for _ in range(20):
            await anyio.sleep(0)  # the other four queue up behind the first call
        gated.gate.set()
        while len(results) < 5:
            await anyio.sleep(0)
        tg.cancel_scope.cancel()
    assert gated.batches == [1, 4]
    assert results == {lease.job_id: True for lease in taken}
    for lease in taken:
        assert (await broker.job_info("default", lease.job_id, NOW)).state is JobState.COMPLETED


async def test_a_stale_lease_in_a_batch_is_refused_and_the_others_are_applied(broker: Broker) -> None:
    counting = CountingBroker(broker)
    settler = Settler(counting, manual_clock(), LOG)
    first, second = await leases(broker, 2)
    await broker.recover_expired(["default"], NOW + 31, 5)  # both taken back ...
    now_held = await broker.dequeue(["default"], NOW + 31, 30, "other", 2)  # ... and leased anew
    current = {lease.job_id: lease for lease in now_held}
    settlements = [Settlement.complete(first), Settlement.complete(current[second.job_id])]
    async with anyio.create_task_group() as tg:
        tg.start_soon(settler.run)
        await anyio.sleep(0)
        assert await anyio_gather([settler.settle(s) for s in settlements]) == [False, True]
        tg.cancel_scope.cancel()
    assert counting.calls["settle"] == 1
    assert (await broker.job_info("default", first.job_id, NOW)).state is JobState.ACTIVE
    assert (await broker.job_info("default", second.job_id, NOW)).state is JobState.COMPLETED


async def test_a_failed_call_is_tried_again(broker: Broker) -> None:
    gated = GatedBroker(broker, failures=1)
    gated.gate.set()
    settler = Settler(gated, manual_clock(), LOG)
    (lease,) = await leases(broker, 1)
    assert await settler.settle(Settlement.complete(lease)) is True
    assert gated.batches == [1, 1]


async def test_an_unreachable_broker_gives_none_within_the_timeout(broker: Broker) -> None:
    gated = GatedBroker(broker, failures=100)
    gated.gate.set()
    settler = Settler(gated, manual_clock(), LOG, tries=2)
    (lease,) = await leases(broker, 1)
    assert await settler.settle(Settlement.complete(lease)) is None
    assert (await broker.job_info("default", lease.job_id, NOW)).state is JobState.ACTIVE


async def test_an_outcome_is_written_after_an_outage_shorter_than_its_lease(broker: Broker) -> None:
    """Before: the write was given up after 3 tries (about 0.6 s); the job, finished,
    stayed active until its lease ran out and then ran again."""
    gated = GatedBroker(broker, failures=4)
    gated.gate.set()
    clock = manual_clock()
    settler = Settler(gated, clock, LOG)
    (lease,) = await leases(broker, 1)
    assert await settler.settle(Settlement.complete(lease), until=clock.now() + 30) is True
    assert gated.batches == [1] * 5
    assert (await broker.job_info("default", lease.job_id, NOW)).state is JobState.COMPLETED


class SlowOutage(GatedBroker):
    """Every failed call takes 10 s of the test's clock."""

    def __init__(self, inner: Broker, clock: Any) -> None:
        super().__init__(inner, failures=100)
        self.clock = clock

    async def settle(self, settlements: Sequence[Settlement], now: float) -> list[bool]:
        self.clock.advance(10)
        return await super().settle(settlements, now)


async def test_an_outcome_write_is_given_up_once_the_lease_would_have_run_out(broker: Broker) -> None:
    clock = manual_clock()
    slow = SlowOutage(broker, clock)
    slow.gate.set()
    settler = Settler(slow, clock, LOG, tries=1)
    (lease,) = await leases(broker, 1)
    assert await settler.settle(Settlement.complete(lease), until=clock.now() + 25) is None
    assert slow.batches == [1, 1, 1]  # at +10, +20 and +30 s: the lease ran out at +25


async def anyio_gather(awaitables: list[Any]) -> list[Any]:
    results: list[Any] = [None] * len(awaitables)

    async def one(index: int, awaitable: Any) -> None:
        results[index] = await awaitable

    async with anyio.create_task_group() as tg:
        for index, awaitable in enumerate(awaitables):
            tg.start_soon(one, index, awaitable)
    return results
