"""The scheduler across daylight-saving changes, driven by a ManualClock: cron entries in
America/New_York follow the wall clock (with the cron rules for skipped and repeated
hours), interval entries keep their real-time cadence."""

from __future__ import annotations

from datetime import datetime

from queue_core import ManualClock
from queue_core.scheduling.scheduler import Scheduler
from tests.scheduler_kit import FireRecorder, fresh_broker, recording, running, settle


def utc(text: str) -> float:
    return datetime.fromisoformat(text + "+00:00").timestamp()


async def walk(clock: ManualClock, scheduler: Scheduler, fires: FireRecorder, expected: dict[str, list[float]]) -> None:
    """Move the clock from fire to fire; after each, every entry's next run must be its
    next expected fire (so nothing fired, or was planned, in between)."""
    instants = sorted({when for times in expected.values() for when in times})
    fired = 0
    for when in instants:
        for schedule_id, times in expected.items():
            upcoming = [t for t in times if t >= when]
            assert scheduler.next_run(schedule_id) == upcoming[0] if upcoming else True, (schedule_id, when)
        clock.set(when)
        fired += sum(when in times for times in expected.values())
        await fires.wait_for(fired)
        await settle()
    for schedule_id, times in expected.items():
        assert sorted(fires.times(schedule_id)) == times, schedule_id


async def test_spring_forward_in_new_york(broker_url: str) -> None:
    # 2025-03-09 02:00 EST (07:00 UTC) clocks jump to 03:00 EDT.
    clock = ManualClock(utc("2025-03-08 03:59:59"))  # just before 23:00 EST on the 7th
    async with fresh_broker(broker_url) as broker, recording() as fires:
        scheduler = Scheduler(broker, clock=clock, timezone="America/New_York")
        scheduler.register_cron("daily-0230", "30 2 * * *", "t")
        scheduler.register_cron("hourly", "0 * * * *", "t")
        scheduler.register_periodic("every-90-min", 5400, "t")
        async with running(scheduler):
            await walk(
                clock,
                scheduler,
                fires,
                {
                    "daily-0230": [
                        utc("2025-03-08 07:30"),  # 02:30 EST
                        utc("2025-03-09 07:00"),  # 02:30 does not exist: 03:00 EDT
                        utc("2025-03-10 06:30"),  # 02:30 EDT
                    ],
                    "hourly": [utc(f"2025-03-08 {h:02d}:00") for h in range(4, 24)]
                    + [utc(f"2025-03-09 {h:02d}:00") for h in range(24)]
                    + [utc(f"2025-03-10 {h:02d}:00") for h in range(7)],
                    "every-90-min": [utc("2025-03-08 04:30") + 5400 * k for k in range(34)],
                },
            )


async def test_fall_back_in_new_york(broker_url: str) -> None:
    # 2025-11-02 02:00 EDT (06:00 UTC) clocks go back to 01:00 EST.
    clock = ManualClock(utc("2025-11-02 02:30"))  # 22:30 EDT on the 1st
    async with fresh_broker(broker_url) as broker, recording() as fires:
        scheduler = Scheduler(broker, clock=clock, timezone="America/New_York")
        scheduler.register_cron("hourly", "@hourly", "t")
        scheduler.register_cron("daily-0130", "30 1 * * *", "t")
        scheduler.register_periodic("every-45-min", 2700, "t")
        async with running(scheduler):
            await walk(
                clock,
                scheduler,
                fires,
                {
                    # 23:00 EDT ... 01:00 EDT, 01:00 EST (the repeated hour), 02:00 EST ...
                    "hourly": [utc(f"2025-11-02 {h:02d}:00") for h in range(3, 12)],
                    "daily-0130": [utc("2025-11-02 05:30")],  # the first 01:30 only
                    "every-45-min": [utc("2025-11-02 03:00") + 2700 * k for k in range(12)],
                },
            )
