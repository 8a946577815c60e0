"""The scheduler on one process: registration, fires, headers and options, history,
heartbeats, hooks, the run lifecycle and embedding in a task group."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import anyio
import pytest

from queue_core import (
    Job,
    JobState,
    ManualClock,
    errors,
)
from queue_core.scheduling.records import HISTORY_KEEP, encode_fire, history_stream
from queue_core.scheduling.scheduler import FireRecord, ScheduleInfo, Scheduler, list_schedules, schedule_history
from tests.scheduler_kit import T0, SpyBroker, advance, fresh_broker, pending_jobs, recording, running, settle

# --------------------------------------------------------------------------- registration (no broker)


def test_register_checks_the_spec_the_id_and_the_job_options_at_once() -> None:
    scheduler = Scheduler("memory://")
    with pytest.raises(errors.InvalidCronSpec, match="61"):
        scheduler.register_cron("a", "61 * * * *", "t")
    with pytest.raises(errors.InvalidInterval):
        scheduler.register_periodic("a", -5, "t")
    with pytest.raises(errors.InvalidInterval):
        scheduler.register_periodic("a", timedelta(0), "t")
    for bad_id in ["", "has space", "{tag}", "-leading-dash", "x" * 129, None, 7]:
        with pytest.raises(errors.InvalidScheduleId):
            scheduler.register_periodic(bad_id, 5, "t")  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidTimezone):
        scheduler.register_cron("a", "@daily", "t", timezone="Nowhere/Land")
    with pytest.raises(errors.InvalidMaxRetries):
        scheduler.register_periodic("a", 5, "t", max_retries=-1)
    with pytest.raises(errors.InvalidQueueName):
        scheduler.register_periodic("a", 5, "t", queue="bad queue")
    with pytest.raises(errors.ValidationError, match="options"):
        scheduler.register_periodic("a", 5, "t", colour="blue")
    with pytest.raises(errors.InvalidJobType):
        scheduler.register_periodic("a", 5, "")
    with pytest.raises(errors.SerializationError):
        scheduler.register_periodic("a", 5, "t", object())
    for option in ("job_id", "schedule_at", "deadline"):
        with pytest.raises(errors.ValidationError, match=option):
            scheduler.register_periodic("a", 5, "t", **{option: 1_800_000_000})
    with pytest.raises(errors.InvalidHeaders, match="schedule_id"):
        scheduler.register_periodic("a", 5, "t", headers={"schedule_id": "mine"})
    with pytest.raises(errors.InvalidHeaders):  # 63 + the two the scheduler adds > 64
        scheduler.register_periodic("a", 5, "t", headers={f"h{i}": "v" for i in range(63)})
    with pytest.raises(errors.InvalidTimezone):  # time zones are for cron specs only
        from queue_core.scheduling.config import ScheduleConfig

        scheduler.register(ScheduleConfig("a", "t", every=5, timezone="UTC"))
    assert scheduler.entries == {}  # nothing half-registered


def test_duplicate_and_unknown_ids_are_specific_errors() -> None:
    scheduler = Scheduler("memory://")
    entry = scheduler.register_cron("nightly", "@daily", "report.build", {"kind": "daily"}, queue="reports")
    assert (entry.id, entry.type, entry.queue, entry.timezone) == ("nightly", "report.build", "reports", "UTC")
    with pytest.raises(errors.ScheduleAlreadyExists, match="nightly"):
        scheduler.register_periodic("nightly", 60, "other")
    scheduler.unregister("nightly")
    with pytest.raises(errors.ScheduleNotFound, match="nightly") as caught:
        scheduler.unregister("nightly")
    assert isinstance(caught.value, errors.NotFound)
    with pytest.raises(errors.ScheduleNotFound):
        scheduler.next_run("nightly")
    scheduler.register_periodic("nightly", 60, "other")  # the ID is free again


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("sync_interval", 0, errors.InvalidSchedulerOption),
        ("sync_interval", -1, errors.InvalidSchedulerOption),
        ("heartbeat_interval", float("inf"), errors.InvalidSchedulerOption),
        ("catch_up", -1, errors.InvalidSchedulerOption),
        ("catch_up", 1.5, errors.InvalidSchedulerOption),
        ("rescue_after", 0, errors.InvalidSchedulerOption),
        ("claim_ttl", -3, errors.InvalidSchedulerOption),
        ("timezone", "Mars/Base", errors.InvalidTimezone),
        ("id", "bad id", errors.InvalidJobId),
        ("provider", object(), errors.InvalidSchedulerOption),
    ],
)
def test_scheduler_options_are_checked(option: str, value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        Scheduler("memory://", **{option: value})  # type: ignore[arg-type]


def test_a_bad_broker_url_fails_at_construction() -> None:
    with pytest.raises(errors.InvalidBrokerURL):
        Scheduler("localhost:6379")


# --------------------------------------------------------------------------- fires


async def test_each_tick_enqueues_a_fresh_job_with_the_entry_options_and_schedule_headers(broker_url: str) -> None:
    clock = ManualClock(T0)
    async with fresh_broker(broker_url) as broker, recording() as fires:
        scheduler = Scheduler(broker, clock=clock)
        scheduler.register_periodic(
            "ping", 30, "ops.ping", {"n": 1}, queue="low", max_retries=3, timeout=5, headers={"team": "ops"}
        )
        async with running(scheduler):
            await fires.wait_for(1)  # T0 is a multiple of 30 s: it fires at once
            for count in (2, 3):
                await advance(clock, 30)
                await fires.wait_for(count)
        jobs = await pending_jobs(broker, "low")
    assert fires.times("ping") == [T0, T0 + 30, T0 + 60]
    assert sorted(job.id for job in jobs) == [f"ping:{int(T0 + k)}" for k in (0, 30, 60)]
    for job in jobs:
        assert (job.type, job.max_retries, job.timeout) == ("ops.ping", 3, 5)
        fire_time = job.headers["fire_time"]
        assert dict(job.headers) == {"team": "ops", "schedule_id": "ping", "fire_time": fire_time}
        assert job.id == f"ping:{fire_time}"
    assert [fire["job_id"] for fire in fires.of("ping")] == [f"ping:{int(T0 + k)}" for k in (0, 30, 60)]
    assert all(fire["error"] is None for fire in fires.fires)


async def test_the_payload_and_a_delay_apply_to_every_fire(broker_url: str) -> None:
    clock = ManualClock(T0)
    async with fresh_broker(broker_url) as broker, recording() as fires:
        scheduler = Scheduler(broker, clock=clock)
        scheduler.register_periodic("later", 60, "t", {"to": "a@example.com"}, delay=120)
        async with running(scheduler):
            await fires.wait_for(1)
        job_id = fires.fires[0]["job_id"]
        info = await broker.job_info("default", job_id, clock.now())
        payload = await broker.job_payload("default", job_id)
    assert info.state is JobState.SCHEDULED and info.next_process_at == T0 + 120
    assert json.loads(payload) == {"to": "a@example.com"}


async def test_cron_entries_fire_on_their_ticks_only(broker_url: str) -> None:
    clock = ManualClock(T0 + 5)  # 12:00:05, just past the 12:00 tick
    async with fresh_broker(broker_url) as broker, recording() as fires:
        spy = SpyBroker(broker)
        scheduler = Scheduler(spy, clock=clock)
        scheduler.register_cron("quarter", "*/15 * * * *", "t")
        async with running(scheduler):
            await settle()
            assert scheduler.next_run("quarter") == T0 + 900
            await advance(clock, 60)  # 12:01:05: nothing due
            assert fires.fires == [] and spy.done["claim"] == 0
            await advance(clock, 900)  # 12:16:05: the 12:15 tick, late but due
            await fires.wait_for(1)
            assert scheduler.next_run("quarter") == T0 + 1800
    assert fires.times("quarter") == [T0 + 900]


async def test_an_entry_registered_while_running_wakes_the_sleeping_scheduler(broker_url: str) -> None:
    clock = ManualClock(T0 + 1)
    async with fresh_broker(broker_url) as broker, recording() as fires:
        scheduler = Scheduler(broker, clock=clock, sync_interval=3600)
        scheduler.register_cron("daily", "@daily", "t")  # the scheduler sleeps until midnight
        async with running(scheduler):
            scheduler.register_periodic("often", 10, "t")
            await settle()
            assert scheduler.next_run("often") == T0 + 10
            await advance(clock, 9)
            await fires.wait_for(1)
            scheduler.unregister("often")
            await advance(clock, 60)
            assert fires.times("often") == [T0 + 10]
            assert "often" not in scheduler.entries


async def test_fires_are_recorded_and_readable_as_history(broker_url: str) -> None:
    clock = ManualClock(T0)
    async with fresh_broker(broker_url) as broker, recording() as fires:
        scheduler = Scheduler(broker, clock=clock, id="sched-1")
        scheduler.register_periodic("tick", 1, "t")
        async with running(scheduler):
            await fires.wait_for(1)
            for count in range(2, 6):
                await advance(clock, 1)
                await fires.wait_for(count)
        history = await schedule_history(broker, "tick")
        two = await schedule_history(broker, "tick", limit=2)
    assert [record.fire_time for record in history] == [T0 + k for k in (4, 3, 2, 1, 0)]
    assert history[0] == FireRecord("tick", T0 + 4, f"tick:{int(T0 + 4)}", None, T0 + 4)
    assert two == history[:2]


async def test_history_keeps_the_newest_thousand_fires(broker_url: str) -> None:
    clock = ManualClock(T0)
    async with fresh_broker(broker_url) as broker, recording() as fires:
        stream = history_stream("busy")
        for k in range(HISTORY_KEEP):  # an older history, already full
            tick = int((T0 - 10_000 + k) * 1000)
            await broker.record_event(stream, encode_fire("busy", tick, f"old-{k}", None, "earlier", T0 - 10_000 + k),
                                      T0 - 10_000 + k, HISTORY_KEEP)  # fmt: skip
        scheduler = Scheduler(broker, clock=clock)
        scheduler.register_periodic("busy", 1, "t")
        async with running(scheduler):
            await fires.wait_for(1)
            for count in (2, 3):
                await advance(clock, 1)
                await fires.wait_for(count)
        kept = await broker.list_events(stream, 5000)
        newest = await schedule_history(broker, "busy", limit=4)
    assert len(kept) == HISTORY_KEEP
    assert [record.fire_time for record in newest] == [T0 + 2, T0 + 1, T0, T0 - 10_000 + HISTORY_KEEP - 1]


async def test_schedule_history_checks_its_arguments(broker_url: str) -> None:
    async with fresh_broker(broker_url) as broker:
        assert await schedule_history(broker, "never-fired") == []
        with pytest.raises(errors.InvalidScheduleId):
            await schedule_history(broker, "bad id")
        for limit in (0, 1001, True, 2.5):
            with pytest.raises(errors.ValidationError):
                await schedule_history(broker, "x", limit=limit)  # type: ignore[arg-type]


async def test_a_refused_enqueue_is_a_fire_with_an_error(broker_url: str) -> None:
    clock = ManualClock(T0)
    async with fresh_broker(broker_url) as broker, recording() as fires:
        scheduler = Scheduler(broker, clock=clock)
        # One unique job at a time: while the first is pending the second tick is refused.
        scheduler.register_periodic("solo", 60, "t", unique_for=3600, unique_key="solo")
        async with running(scheduler):
            await fires.wait_for(1)
            await advance(clock, 60)
            await fires.wait_for(2)
        history = await schedule_history(broker, "solo")
    first, second = fires.of("solo")
    assert first["error"] is None and first["job_id"] == f"solo:{int(T0)}"
    assert second["job_id"] is None and isinstance(second["error"], errors.DuplicateJob)
    assert history[0].job_id is None and "unique lock" in (history[0].error or "")


async def test_list_schedules_shows_each_entry_with_its_runs_until_the_scheduler_stops(broker_url: str) -> None:
    clock = ManualClock(T0 + 1)
    async with fresh_broker(broker_url) as broker:
        spy = SpyBroker(broker)
        scheduler = Scheduler(spy, clock=clock, id="sched-a", timezone="Europe/Paris", heartbeat_interval=60)
        scheduler.register_cron("morning", "0 9 * * *", "report", queue="reports")
        scheduler.register_periodic("often", 60, "ping")
        scheduler.register_cron("ny", "30 2 * * *", "t", timezone=ZoneInfo("America/New_York"))
        async with running(scheduler):
            assert spy.done["put_heartbeat"] == 1  # started: entries placed and published
            listed = await list_schedules(broker, clock.now())
            assert [info.schedule_id for info in listed] == ["morning", "ny", "often"]
            morning, ny, often = listed
            tomorrow_9 = datetime(2025, 6, 16, 9, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
            assert morning == ScheduleInfo(
                "morning", "0 9 * * *", "report", "reports", "Europe/Paris", tomorrow_9, None, "sched-a"
            )
            assert (ny.timezone, ny.spec) == ("America/New_York", "30 2 * * *")
            assert (often.spec, often.timezone, often.next_run) == ("@every 60s", None, T0 + 60)
            # A heartbeat older than an entry's next run: the runs are worked out for now.
            later = await list_schedules(broker, T0 + 61)
            assert (later[2].prev_run, later[2].next_run) == (T0 + 60, T0 + 120)
        assert await list_schedules(broker, clock.now()) == []


async def test_two_schedulers_list_the_same_entry_once_each(broker_url: str) -> None:
    clock = ManualClock(T0 + 1)
    prefix = f"s{secrets.token_hex(5)}"
    async with fresh_broker(broker_url, prefix) as one, fresh_broker(broker_url, prefix) as two:
        spies = SpyBroker(one), SpyBroker(two)
        a, b = Scheduler(spies[0], clock=clock, id="a"), Scheduler(spies[1], clock=clock, id="b")
        for scheduler in (a, b):
            scheduler.register_periodic("shared", 60, "t")
        async with running(a, b):
            await advance(clock, 59)
            for spy in spies:
                await spy.wait_for("claim", 1)  # each tried the tick; one of them fired it
            beats = [spy.done["put_heartbeat"] for spy in spies]
            await advance(clock, 10)
            for spy, count in zip(spies, beats, strict=True):
                await spy.wait_for("put_heartbeat", count + 1)
            listed = await list_schedules(one, clock.now())
    assert [(info.schedule_id, info.scheduler_id) for info in listed] == [("shared", "a"), ("shared", "b")]
    assert {(info.prev_run, info.next_run) for info in listed} == {(T0 + 60, T0 + 120)}


# --------------------------------------------------------------------------- lifecycle


async def test_embedded_in_a_task_group_nothing_outlives_it(broker_url: str) -> None:
    clock = ManualClock(T0)
    async with fresh_broker(broker_url) as broker, recording() as fires:
        spy = SpyBroker(broker)
        scheduler = Scheduler(spy, clock=clock, id="embedded")
        scheduler.register_periodic("p", 10, "t")
        async with anyio.create_task_group() as tg:
            await tg.start(scheduler.run)  # returns once synced and heartbeating
            assert spy.done["put_heartbeat"] >= 1
            with pytest.raises(errors.SchedulerAlreadyStarted):
                await scheduler.run()
            await fires.wait_for(1)
            tg.cancel_scope.cancel()
        assert spy.done["remove_heartbeat"] == 1
        assert await broker.list_heartbeats("scheduler", clock.now()) == {}
        calls = sum(spy.done.values())
        await advance(clock, 100)
        assert sum(spy.done.values()) == calls  # no task left behind
        # and it can run again
        async with running(scheduler):
            await fires.wait_for(2)
    assert fires.times("p") == [T0, T0 + 100]


async def test_stop_makes_run_return(broker_url: str) -> None:
    clock = ManualClock(T0)
    async with fresh_broker(broker_url) as broker, recording() as fires:
        scheduler = Scheduler(broker, clock=clock)
        scheduler.register_periodic("p", 1, "t")
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(scheduler.run)
                await fires.wait_for(1)
                await advance(clock, 1)
                await fires.wait_for(2)
                scheduler.stop()
        scheduler.stop()  # before run: the next run returns once started
        with anyio.fail_after(20):
            await scheduler.run()


async def test_a_scheduler_opens_and_closes_a_broker_from_its_url() -> None:
    url = f"memory://sched-{secrets.token_hex(4)}"
    clock = ManualClock(T0)
    async with recording() as fires:
        scheduler = Scheduler(url, clock=clock)
        scheduler.register_periodic("p", 5, "t")
        async with running(scheduler):
            await fires.wait_for(1)
    async with fresh_broker(url, "qc") as broker:
        assert [job.id for job in await pending_jobs(broker)] == [f"p:{int(T0)}"]


async def test_a_plugin_that_raises_does_not_stop_the_scheduler(broker_url: str) -> None:
    from queue_core import hookimpl
    from queue_core.plugins import plugin_manager

    class Broken:
        @hookimpl
        def queue_core_schedule_fired(
            self, schedule_id: str, fire_time: float, job_id: str | None, error: object
        ) -> None:
            raise RuntimeError("plugin bug")

    clock = ManualClock(T0)
    broken = Broken()
    plugin_manager().register(broken)
    try:
        async with fresh_broker(broker_url) as broker:
            spy = SpyBroker(broker)
            scheduler = Scheduler(spy, clock=clock)
            scheduler.register_periodic("p", 1, "t")
            async with running(scheduler):
                await spy.wait_for("record_event", 1)
                await advance(clock, 1)
                await spy.wait_for("record_event", 2)
            assert len(await pending_jobs(broker)) == 2
    finally:
        plugin_manager().unregister(broken)


def test_a_job_template_is_built_once_with_the_serializer() -> None:
    class Upper:
        name = "upper"

        def dumps(self, value: object) -> bytes:
            return str(value).upper().encode()

        def loads(self, data: bytes) -> object:
            return data.decode()

    scheduler = Scheduler("memory://", serializer=Upper())
    entry = scheduler.register_periodic("p", 5, "t", "hello")
    assert entry.job == Job("t", b"HELLO")
