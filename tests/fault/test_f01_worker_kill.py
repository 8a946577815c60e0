"""F01: a worker killed with SIGKILL mid-job (P1 at-least-once, P2 bounded recovery, P5).

Two workers on the short profile (lease 2 s, sweep 1 s); a producer enqueues at about
200 jobs/s, 5% of them long (1-3 s) so that the kills land on running jobs. Worker 1 is
killed with SIGKILL twice and restarted a second later each time. Every acknowledged job
must complete; a job run twice must be one whose lease expired (its crash count says
so); every orphan is running again within lease + sweep + 1 s -- but for one the kills
caught ``max_crashes`` times: on its last chance, it waits to run alone (quarantine,
docs/guarantees.md P6), and is counted apart.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.fault.conftest import long_seeds
from tests.fault.fault_worker import PROFILE
from tests.fault.nodes import RedisNode
from tests.fault.scenario import RECOVERY_BOUND, Scenario

# A 2-core box running Redis, two workers and the producer: allow one second of
# scheduling noise on top of the promised bound before failing.
SLACK = 1.0
#: the longest job of the mix: a job on its last chance waits for the attempts running on
#: the worker that takes it, and its worker takes nothing else while it runs (P2, P6).
LONGEST_JOB = 3.0


def run(make: Callable[..., Scenario], node: RedisNode, seed: int, jobs: int = 1000, kills: int = 2) -> None:
    s = make("F01", node, seed=seed)
    w1, _w2 = s.start_workers(2)
    s.produce(s.jobs(jobs), rate=200)
    recovery: list[float] = []
    crashes: Counter[str] = Counter()  # each orphaning is a lease that expires: a crash
    quarantined = 0
    for _ in range(kills):
        time.sleep(1.0)
        pid = w1.pid
        at = s.event(f"kill -9 worker pid {pid}")
        w1.kill()
        time.sleep(1.0)
        w1.start()
        s.wait_until(lambda at=at, pid=pid: all(t != float("inf") for t in s.recovery_times(at, {pid})), 20,
                     "orphans re-leased")  # fmt: skip
        crashes.update(s.orphans(at, {pid}).keys())
        last_chance = {job_id for job_id, count in crashes.items() if count >= PROFILE["max_crashes"]}
        quarantined = len(last_chance)
        recovery += s.recovery_times(at, {pid}, skip=last_chance)
    s.quiesce()
    row = s.verdict(recovery=recovery, bound=RECOVERY_BOUND, quarantined=quarantined)
    s.assert_clean(row)
    assert row["recovery_s_max"] <= RECOVERY_BOUND + SLACK + (LONGEST_JOB if quarantined else 0.0), row


def test_f01_worker_kill_9_mid_job(scenario: Callable[..., Scenario], node: RedisNode) -> None:
    run(scenario, node, seed=1)


@pytest.mark.long
@pytest.mark.parametrize("seed", long_seeds())
def test_f01_worker_kill_9_mid_job_more_seeds(scenario: Callable[..., Scenario], node: RedisNode, seed: int) -> None:
    run(scenario, node, seed=seed, jobs=2000, kills=3)
