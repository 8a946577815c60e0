"""Exactly once per tick: several schedulers on one broker, restarts after downtime,
missed ticks and catch-up, a claimer that dies before enqueueing, broker errors."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from queue_core import Broker, ManualClock, errors
from queue_core.scheduling.scheduler import Scheduler, schedule_history
from tests.scheduler_kit import (
    T0,
    SpyBroker,
    advance,
    fresh_broker,
    new_prefix,
    pending_jobs,
    recording,
    running,
    start_crashable,
)


@asynccontextmanager
async def shared_brokers(url: str, count: int) -> AsyncIterator[list[Broker]]:
    """``count`` separate connections to one broker namespace, as separate processes have."""
    prefix = new_prefix()
    async with fresh_broker(url, prefix) as a, fresh_broker(url, prefix) as b, fresh_broker(url, prefix) as c:
        yield [a, b, c][:count]


async def test_three_schedulers_enqueue_exactly_one_job_per_tick(broker_url: str) -> None:
    clock = ManualClock(T0 + 1)
    async with shared_brokers(broker_url, 3) as brokers, recording() as fires:
        spies = [SpyBroker(broker) for broker in brokers]
        schedulers = [Scheduler(spy, clock=clock, id=f"s{n}") for n, spy in enumerate(spies)]
        for scheduler in schedulers:
            scheduler.register_periodic("every-10s", 10, "t")
            scheduler.register_cron("every-minute", "* * * * *", "t", queue="cron")
        async with running(*schedulers):
            for step in range(1, 31):  # five minutes in 10 s steps
                await advance(clock, 10)
                minutes = (10 * step + 1) // 60
                for spy in spies:  # every scheduler tried every tick...
                    await spy.wait_for("claim", step + minutes)
                await fires.wait_for(step + minutes)  # ...and one of them fired it
        jobs = await pending_jobs(brokers[0]) + await pending_jobs(brokers[0], "cron")
    ticks_10s = [T0 + 10 * k for k in range(1, 31)]
    ticks_minute = [T0 + 60 * k for k in range(1, 6)]
    assert sorted(fires.times("every-10s")) == ticks_10s
    assert sorted(fires.times("every-minute")) == ticks_minute
    assert len(jobs) == len(ticks_10s) + len(ticks_minute)
    assert Counter(job.headers["schedule_id"] for job in jobs) == {"every-10s": 30, "every-minute": 5}
    assert len({job.id for job in jobs}) == len(jobs)
    # The work spread over the schedulers: whoever claimed first fired.
    assert sum(spy.done["enqueue"] for spy in spies) == len(jobs)


async def test_a_restarted_scheduler_does_not_fire_a_tick_again(broker_url: str) -> None:
    clock = ManualClock(T0)
    async with shared_brokers(broker_url, 1) as (broker,), recording() as fires:
        first = Scheduler(broker, clock=clock, id="before")
        first.register_periodic("p", 60, "t")
        async with running(first):
            await fires.wait_for(1)  # the T0 tick
        spy = SpyBroker(broker)
        second = Scheduler(spy, clock=clock, id="after")  # a new process, the same minute
        second.register_periodic("p", 60, "t")
        async with running(second):
            await spy.wait_for("claim", 1)  # it reached the T0 tick too, and lost the claim
            await advance(clock, 60)
            await fires.wait_for(2)
        assert len(await pending_jobs(broker)) == 2
    assert fires.times("p") == [T0, T0 + 60]


async def test_ticks_missed_while_no_scheduler_ran_are_skipped_by_default(broker_url: str) -> None:
    clock = ManualClock(T0)
    async with shared_brokers(broker_url, 1) as (broker,), recording() as fires:
        first = Scheduler(broker, clock=clock)
        first.register_periodic("p", 60, "t")
        async with running(first):
            await fires.wait_for(1)
        clock.advance(5 * 60 + 30)  # down for five ticks
        second = Scheduler(broker, clock=clock)
        second.register_periodic("p", 60, "t")
        async with running(second):
            await advance(clock, 30)
            await fires.wait_for(2)
    assert fires.times("p") == [T0, T0 + 6 * 60]


async def test_catch_up_fires_the_most_recent_missed_ticks_once(broker_url: str) -> None:
    clock = ManualClock(T0)
    async with shared_brokers(broker_url, 2) as (one, two), recording() as fires:
        first = Scheduler(one, clock=clock)
        first.register_periodic("p", 60, "t")
        async with running(first):
            await fires.wait_for(1)
        clock.advance(5 * 60 + 30)  # ticks T0+60 ... T0+300 pass with no scheduler running
        # Two schedulers come back, both asked to catch up two ticks.
        back = [Scheduler(broker, clock=clock, catch_up=2) for broker in (one, two)]
        for scheduler in back:
            scheduler.register_periodic("p", 60, "t")
        async with running(*back):
            await fires.wait_for(3)
            await advance(clock, 30)
            await fires.wait_for(4)
        jobs = await pending_jobs(one)
    assert sorted(fires.times("p")) == [T0, T0 + 240, T0 + 300, T0 + 360]
    assert len(jobs) == 4


async def test_catch_up_never_fires_a_schedule_that_never_fired(broker_url: str) -> None:
    clock = ManualClock(T0 + 30)
    async with shared_brokers(broker_url, 1) as (broker,), recording() as fires:
        spy = SpyBroker(broker)
        scheduler = Scheduler(spy, clock=clock, catch_up=3)
        scheduler.register_periodic("new", 10, "t")
        async with running(scheduler):
            await spy.wait_for("list_events", 1)  # it looked for the last fire
            await fires.wait_for(1)
            await advance(clock, 10)
            await fires.wait_for(2)
    assert fires.times("new") == [T0 + 30, T0 + 40]


async def test_a_stalled_scheduler_fires_the_latest_tick_and_catch_up_ones(broker_url: str) -> None:
    for catch_up, expected in [(0, [T0, T0 + 50]), (2, [T0, T0 + 30, T0 + 40, T0 + 50])]:
        clock = ManualClock(T0)
        async with shared_brokers(broker_url, 1) as (broker,), recording() as fires:
            scheduler = Scheduler(broker, clock=clock, catch_up=catch_up)
            scheduler.register_periodic("p", 10, "t")
            async with running(scheduler):
                await fires.wait_for(1)
                await advance(clock, 55)  # one wake-up for five ticks
                await fires.wait_for(len(expected))
        assert sorted(fires.times("p")) == expected


async def test_a_tick_whose_claimer_died_before_enqueueing_is_rescued_once(broker_url: str) -> None:
    clock = ManualClock(T0 + 5)
    claimed = anyio.Event()

    async def hang(inner: Any, *args: Any) -> Any:
        claimed.set()
        await anyio.sleep_forever()

    async with shared_brokers(broker_url, 2) as (one, two), recording() as fires:
        doomed_broker = SpyBroker(one)
        doomed_broker.sabotage("enqueue", hang)  # it claims, then never gets the job out
        doomed = Scheduler(doomed_broker, clock=clock, id="doomed", rescue_after=30)
        doomed.register_periodic("p", 60, "t")
        spy = SpyBroker(two)
        peer = Scheduler(spy, clock=clock, id="peer", rescue_after=30)
        peer.register_periodic("p", 60, "t")
        async with anyio.create_task_group() as tg:
            crash = await start_crashable(tg, doomed)
            await advance(clock, 55)  # T0 + 60
            with anyio.fail_after(20):
                await claimed.wait()
            async with running(peer):
                await spy.wait_for("claim", 1)  # the peer lost the claim and keeps watch
                crash.cancel()  # the claimer "crashes"
                await advance(clock, 29)
                assert fires.fires == []
                await advance(clock, 1)  # 30 s after the peer lost the claim: rescue
                await fires.wait_for(1)
                await advance(clock, 30)  # the next tick, as usual
                await fires.wait_for(2)
        jobs = await pending_jobs(two)
        history = await schedule_history(two, "p")
    assert [fire["fire_time"] for fire in fires.fires] == [T0 + 60, T0 + 120]
    assert sorted(job.id for job in jobs) == [f"p:{int(T0 + 60)}", f"p:{int(T0 + 120)}"]
    assert [record.fire_time for record in history] == [T0 + 120, T0 + 60]
    assert spy.done["claim"] == 3  # the tick, the rescue claim, the next tick


async def test_a_recorded_tick_is_not_rescued(broker_url: str) -> None:
    clock = ManualClock(T0 + 1)
    async with fresh_broker(broker_url) as broker, recording() as fires:
        spy = SpyBroker(broker)  # both schedulers' calls, counted together
        schedulers = [Scheduler(spy, clock=clock, rescue_after=30) for _ in range(2)]
        for scheduler in schedulers:
            scheduler.register_periodic("p", 60, "t")
        async with running(*schedulers):
            await advance(clock, 59)
            await spy.wait_for("claim", 2)
            await fires.wait_for(1)
            await advance(clock, 30)
            await spy.wait_for("list_events", 1)  # the loser checks the history: the fire is there
            await advance(clock, 30)
            await spy.wait_for("claim", 4)
            await fires.wait_for(2)  # the next tick
        jobs = await pending_jobs(broker)
    assert len(jobs) == 2
    assert spy.done["claim"] == 4  # two per tick, no rescue claim


async def test_without_rescue_a_dead_claimers_tick_is_lost(broker_url: str) -> None:
    clock = ManualClock(T0 + 5)
    claimed = anyio.Event()

    async def hang(inner: Any, *args: Any) -> Any:
        claimed.set()
        await anyio.sleep_forever()

    async with shared_brokers(broker_url, 2) as (one, two), recording() as fires:
        doomed_broker = SpyBroker(one)
        doomed_broker.sabotage("enqueue", hang)
        doomed = Scheduler(doomed_broker, clock=clock, rescue_after=None)
        doomed.register_periodic("p", 60, "t")
        peer = Scheduler(two, clock=clock, rescue_after=None)
        peer.register_periodic("p", 60, "t")
        async with anyio.create_task_group() as tg:
            crash = await start_crashable(tg, doomed)
            await advance(clock, 55)
            with anyio.fail_after(20):
                await claimed.wait()
            async with running(peer):
                crash.cancel()
                await advance(clock, 60)
                await fires.wait_for(1)
    assert fires.times("p") == [T0 + 120]  # at most once: T0 + 60 was lost with its claimer


async def test_an_enqueue_retried_after_a_broker_error_adds_no_second_job(broker_url: str) -> None:
    clock = ManualClock(T0)
    failures = 0

    async def lands_then_fails(inner: Any, *args: Any) -> Any:
        # The first call reaches the broker, but the reply is lost on the way back.
        nonlocal failures
        result = await inner(*args)
        if failures == 0:
            failures += 1
            raise errors.BrokerUnavailable("connection reset")
        return result

    async with fresh_broker(broker_url) as broker, recording() as fires:
        spy = SpyBroker(broker)
        spy.sabotage("enqueue", lands_then_fails)
        scheduler = Scheduler(spy, clock=clock)
        scheduler.register_periodic("p", 60, "t")
        async with running(scheduler):
            await spy.wait_for("enqueue", 1)
            await advance(clock, 0.1)  # the retry's backoff
            await fires.wait_for(1)
        jobs = await pending_jobs(broker)
    assert spy.done["enqueue"] == 2
    assert [job.id for job in jobs] == [f"p:{int(T0)}"]
    assert fires.fires[0]["job_id"] == f"p:{int(T0)}" and fires.fires[0]["error"] is None


async def test_an_unreachable_broker_makes_a_fire_with_an_error_after_the_retries(broker_url: str) -> None:
    clock = ManualClock(T0)

    async def down(inner: Any, *args: Any) -> Any:
        raise errors.BrokerUnavailable("connection refused")

    async with fresh_broker(broker_url) as broker, recording() as fires:
        spy = SpyBroker(broker)
        spy.sabotage("enqueue", down)
        scheduler = Scheduler(spy, clock=clock, rescue_after=10)  # retries during 5 s
        scheduler.register_periodic("p", 60, "t")
        async with running(scheduler):
            # Attempts at +0, +2, +4 and +6 s; backoffs 0.1, 0.2, 0.4 s, then 0.8 s would
            # pass the 5 s budget: the fourth failure is the last.
            for attempt in range(1, 5):
                await spy.wait_for("enqueue", attempt)
                if attempt < 4:
                    await advance(clock, 2)
            await fires.wait_for(1)
        history = await schedule_history(broker, "p")
    assert fires.fires[0]["job_id"] is None and isinstance(fires.fires[0]["error"], errors.BrokerUnavailable)
    assert history[0].error == "connection refused"
