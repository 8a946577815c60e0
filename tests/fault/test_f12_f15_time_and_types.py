"""F12 clock skew between processes, F13 several schedulers with crashes, F15 unknown job
types during a rolling deploy."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import anyio
import pytest

from queue_core import Scheduler, SyncClient
from tests.fault import ledger
from tests.fault.nodes import RedisNode
from tests.fault.procs import Proc
from tests.fault.scenario import Scenario

# --------------------------------------------------------------------------- F12

SKEW = 45.0


def run_f12(make: Callable[..., Scenario], node: RedisNode, skew: float, clock: str | None) -> dict[str, object]:
    s = make("F12", node)
    s.worker("honest")
    s.worker("skewed", skew=skew, **({"clock": clock} if clock else {}))
    s.produce_now(s.jobs(60, lambda rng: {"ms": rng.randint(500, 1500), "kind": "ok"}))
    delayed = s.produce_now(s.jobs(40, lambda rng: {"ms": 10, "kind": "ok"}, start=100), delay=2.0)
    s.quiesce()
    starts = ledger.of_kind(s.entries(), "S")
    early = [j for j in delayed.acked if min(e.at for e in starts[j]) < delayed.ack_times[j] + 2.0 - 0.1]
    late = sorted(min(e.at for e in starts[j]) - (delayed.ack_times[j] + 2.0) for j in delayed.acked)
    reclaimed = [j for j, (_, crashes) in s.states(s.acked).items() if crashes]
    return s.verdict(skew_s=skew, clock=clock or "broker (default)", spurious_reclaims=len(reclaimed),
                     early_fires=len(early), late_fire_max_s=round(late[-1], 2))  # fmt: skip


@pytest.mark.parametrize("skew", [SKEW, -SKEW], ids=["+45s", "-45s"])
def test_f12_a_skewed_worker_judges_leases_and_schedules_by_the_brokers_clock(
    scenario: Callable[..., Scenario], node: RedisNode, skew: float
) -> None:
    row = run_f12(scenario, node, skew, None)
    assert (row["spurious_reclaims"], row["early_fires"], row["duplicates"], row["lost"]) == (0, 0, 0, 0), row


@pytest.mark.long
@pytest.mark.parametrize("skew", [SKEW, -SKEW], ids=["+45s", "-45s"])
def test_f12_negative_control_the_machines_own_clock_goes_wrong(
    scenario: Callable[..., Scenario], node: RedisNode, skew: float
) -> None:
    """The same run with the skewed worker on its own clock: early fires (+45 s) or
    live leases reclaimed (-45 s). Shows that the positive test can fail."""
    row = run_f12(scenario, node, skew, "system")
    assert row["early_fires"] or row["spurious_reclaims"], row


# --------------------------------------------------------------------------- F13


def scheduler_proc(s: Scenario, name: str) -> Proc:
    config = {"role": "scheduler", "url": f"{s.url}?prefix={s.prefix}", "options": {"rescue_after": 2.0},
              "schedules": [{"id": "every-1s", "every": 1.0}, {"id": "every-2s", "every": 2.0}]}  # fmt: skip
    proc = Proc(config, s.dir, name)
    s.procs.append(proc)
    return proc.start()


def ticks(s: Scenario, schedule: str) -> list[str]:
    pattern = f"{s.prefix}:{{default}}:j:{schedule}:*"
    return sorted(k.decode().split(f":j:{schedule}:", 1)[1] for k in s.admin.scan_iter(match=pattern))


def test_f13_several_schedulers_with_crashes_fire_each_tick_once(
    scenario: Callable[..., Scenario], node: RedisNode
) -> None:
    s = scenario("F13", node)
    a, b = scheduler_proc(s, "sched-a"), scheduler_proc(s, "sched-b")
    time.sleep(3.0)
    s.event(f"kill -9 scheduler pid {a.pid}")
    a.kill()
    time.sleep(2.5)
    a.start()
    s.event("scheduler restarted")
    time.sleep(3.0)
    s.event(f"kill -9 scheduler pid {b.pid}")
    b.kill()
    time.sleep(3.0)  # a alone; rescue_after 2 s covers a tick b claimed and never enqueued
    a.signal(signal.SIGTERM)
    a.wait(10)
    every_1s, every_2s = ticks(s, "every-1s"), ticks(s, "every-2s")
    seconds = [int(t) for t in every_1s]  # tick texts are epoch seconds
    missing = (seconds[-1] - seconds[0] + 1 - len(seconds)) if seconds else 0
    row = s.verdict(expect_completed=[], check_fsck=True, ticks_1s=len(every_1s), ticks_2s=len(every_2s),
                    missed_ticks=missing)  # fmt: skip
    assert len(every_1s) >= 9 and missing == 0, (every_1s, row)
    assert row["fsck_violations"] == 0


# --------------------------------------------------------------------------- F15


def test_f15_unknown_types_in_a_rolling_deploy_wait_for_the_new_worker(
    scenario: Callable[..., Scenario], node: RedisNode
) -> None:
    s = scenario("F15", node)
    grace = 4.0
    v1 = s.worker("v1", options={"unknown_type_grace": grace})
    with SyncClient(s.url, broker_options={"prefix": s.prefix}) as client:
        ids = [client.enqueue("report.v2", {"ms": 10}, retention=3600, max_retries=0).id for _ in range(30)]
    s.wait_until(lambda: s.counts()["retry"] == 30, 10, "v1 put the v2 jobs back")
    s.event("rolling deploy: v1 stopped, v2 started")
    v1.signal(signal.SIGTERM)
    v1.wait(10)
    s.worker("v2", types=["work", "report.v2"], options={"unknown_type_grace": grace})
    s.quiesce(30)
    base = f"{s.prefix}:{{default}}:j:"
    fields = [s.admin.hmget(base + job_id, "state", "retried", "bounces") for job_id in ids]
    row = s.verdict(expect_completed=[], v2_jobs=len(ids),
                    completed_by_v2=sum(f[0] == b"completed" for f in fields),
                    retries_used=sum(int(f[1] or 0) for f in fields))  # fmt: skip
    # retried 0 is not stored (a counter is stored once it is not 0, docs/redis.md)
    assert all(f == [b"completed", None, b"1"] for f in fields), fields
    assert row["fsck_violations"] == 0


def test_f15_an_unknown_type_nobody_serves_is_archived_after_the_grace(
    scenario: Callable[..., Scenario], node: RedisNode
) -> None:
    s = scenario("F15", node)
    s.worker("v1", options={"unknown_type_grace": 2.0})
    with SyncClient(s.url, broker_options={"prefix": s.prefix}) as client:
        job_id = client.enqueue("nobody.serves.this", None, max_retries=5).id
    s.wait_until(lambda: s.counts()["archived"] == 1, 15, "archived")
    retried, error = s.admin.hmget(f"{s.prefix}:{{default}}:j:{job_id}", "retried", "last_error")
    s.verdict(expect_completed=[], last_error=error.decode())
    assert retried is None  # 0: a counter is stored once it is not 0 (docs/redis.md)
    assert b"no handler registered for job type 'nobody.serves.this'" in error and b"within 2s" in error


def test_f12_without_a_clock_the_scheduler_judges_time_by_the_brokers_clock(node: RedisNode) -> None:
    from queue_core.broker_clock import BrokerClock

    async def main() -> object:
        scheduler = Scheduler(f"{node.url}?prefix=f12sched")
        async with anyio.create_task_group() as tg:
            await tg.start(scheduler.run)
            clock = scheduler.clock
            scheduler.stop()
        return clock

    clock = anyio.run(main)
    assert isinstance(clock, BrokerClock) and clock.round_trip is not None
