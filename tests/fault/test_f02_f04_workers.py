"""Worker-side faults: F02 a zombie worker (SIGSTOP past its lease, then SIGCONT: fencing),
F03 a poison job that kills its worker, F04 graceful shutdown with jobs in flight."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.fault import ledger
from tests.fault.conftest import long_seeds
from tests.fault.nodes import RedisNode
from tests.fault.scenario import LEASE, Scenario

# --------------------------------------------------------------------------- F02


def long_jobs(rng: random.Random) -> dict[str, Any]:
    return {"ms": rng.randint(3000, 5000), "kind": "ok"}


def run_f02(make: Callable[..., Scenario], node: RedisNode, seed: int, pause: float = 3 * LEASE) -> None:
    s = make("F02", node, seed=seed)
    w1, _w2 = s.start_workers(2)
    # "ready" comes before a worker's wake-up subscription is live; a job enqueued in that
    # gap waits for the idle safety net (10 s) on that worker (a known limit).
    time.sleep(0.5)
    s.produce_now(s.jobs(12, long_jobs))
    s.wait_until(lambda: len({e.pid for e in s.entries() if e.kind == "S"}) == 2, 10, "both workers busy")
    s.event(f"SIGSTOP worker pid {w1.pid} for {pause:g}s")
    w1.pause()
    time.sleep(pause)
    resumed = s.event(f"SIGCONT worker pid {w1.pid}")
    w1.resume()
    s.quiesce()
    time.sleep(0.5)  # let the zombie log what it refused
    row = s.verdict()
    log = w1.log()
    late = [e for e in s.entries() if e.pid == w1.pid and e.kind == "E" and e.at > resumed]
    row.update(
        zombie_handlers_stopped=log.count("the broker no longer grants its lease"),
        zombie_writes_refused=log.count("refused, the lease was lost"),
        zombie_late_effects=len(late),
    )
    s.assert_clean(row)
    # The zombie's late effects are the duplicates: each one's job was recovered (its
    # crash count covers it), and none of its late completions was applied.
    assert row["duplicates"] >= len(late) - row["zombie_writes_refused"]


def test_f02_zombie_worker_is_fenced(scenario: Callable[..., Scenario], node: RedisNode) -> None:
    run_f02(scenario, node, seed=1)


@pytest.mark.long
@pytest.mark.parametrize("seed", long_seeds())
def test_f02_zombie_worker_is_fenced_more_seeds(scenario: Callable[..., Scenario], node: RedisNode, seed: int) -> None:
    run_f02(scenario, node, seed=seed, pause=2 * LEASE + seed % 3)


# --------------------------------------------------------------------------- F03


def run_f03(make: Callable[..., Scenario], node: RedisNode, poison: int, max_crashes: int, normal: int) -> None:
    s = make("F03", node)
    options = {"max_crashes": max_crashes}
    workers = s.start_workers(2, options=options)
    jobs = s.jobs(normal, lambda rng: {"ms": rng.randint(5, 30), "kind": "ok"})
    bad = [(f"F03-poison-{i}", {"kind": "poison"}) for i in range(poison)]
    s.produce_now(bad + jobs, max_retries=25)
    restarts = 0
    started = time.monotonic()
    deadline = started + 90

    def poison_archived() -> bool:
        states = s.states(job_id for job_id, _ in bad)
        return all(state == "archived" for state, _ in states.values())

    # The supervisor: restart whatever died.
    while not poison_archived():
        assert time.monotonic() < deadline, f"poison jobs not archived: {s.states(j for j, _ in bad)}"
        for proc in workers:
            if not proc.alive():
                s.event(f"worker pid {proc.pid} died (exit {proc.process.returncode if proc.process else '?'})")
                restarts += 1
                proc.start()
        time.sleep(0.1)
    quarantine = time.monotonic() - started
    s.quiesce()
    normal_ids = [job_id for job_id, _ in jobs]
    collateral = [j for j, (state, _) in s.states(normal_ids).items() if state == "archived"]
    row = s.verdict(expect_archived=[job_id for job_id, _ in bad], worker_restarts=restarts,
                    time_to_quarantine_s=round(quarantine, 1), collateral_archived=len(collateral))  # fmt: skip
    # A job running beside a poison job loses its worker too and counts that crash; from
    # then on it runs alone (quarantine), so it never collects another poison job's
    # crashes: no innocent job is archived.
    s.assert_clean(row)
    assert not collateral, row
    base = f"{s.prefix}:{{default}}:j:"
    for job_id, _ in bad:
        retried, crashes, error = s.admin.hmget(base + job_id, "retried", "crashes", "last_error")
        # counted apart from retries: crashes, never a retry (a counter is stored once not 0)
        assert (int(retried or 0), int(crashes or 0)) == (0, max_crashes + 1)
        assert b"may crash its worker" in error
    # one death per crash of a poison job, but two poison jobs may die in the same process
    assert max_crashes + 1 <= restarts <= poison * (max_crashes + 1), row


def test_f03_poison_job_is_archived_after_max_crashes(scenario: Callable[..., Scenario], node: RedisNode) -> None:
    run_f03(scenario, node, poison=1, max_crashes=2, normal=200)


@pytest.mark.long
def test_f03_three_poison_jobs_among_500(scenario: Callable[..., Scenario], node: RedisNode) -> None:
    run_f03(scenario, node, poison=3, max_crashes=3, normal=500)


# --------------------------------------------------------------------------- F04


def shutdown_jobs(rng: random.Random) -> dict[str, Any]:
    return {"ms": rng.randint(100, 6000), "kind": "ok"}


@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGTERM, signal.SIGTERM), (signal.SIGINT,)],
                         ids=["SIGTERM", "SIGTERM-twice", "SIGINT"])  # fmt: skip
def test_f04_graceful_shutdown_with_jobs_in_flight(
    scenario: Callable[..., Scenario], node: RedisNode, signals: tuple[signal.Signals, ...]
) -> None:
    s = scenario("F04", node)
    grace = 2.0
    w1 = s.worker(options={"shutdown_timeout": grace, "concurrency": 10})
    s.produce_now(s.jobs(10, shutdown_jobs))
    s.wait_until(lambda: len(ledger.of_kind(s.entries(), "S")) == 10, 10, "ten jobs running")
    at = s.event(" then ".join(sig.name for sig in signals) + f" to worker pid {w1.pid}")
    for sig in signals:
        w1.signal(sig)
        time.sleep(0.1)
    assert w1.wait(grace + 5) == 0
    exit_s = time.time() - at
    running_at_stop = {e.job_id for e in s.entries() if e.kind == "S"} - set(ledger.effects(s.entries()))
    requeued = s.counts()["pending"]
    w2 = s.worker()  # the jobs it put back are run by the next worker
    s.quiesce()
    row = s.verdict(shutdown_s=round(exit_s, 2), bound_s=grace + 1, requeued=requeued)
    s.assert_clean(row)
    base = f"{s.prefix}:{{default}}:j:"
    for job_id in running_at_stop:
        retried, crashes = s.admin.hmget(base + job_id, "retried", "crashes")
        # a counter is stored once it is not 0 (docs/redis.md)
        assert (int(retried or 0), int(crashes or 0)) == (0, 0), f"shutdown consumed an attempt of {job_id}"
    assert requeued == len(running_at_stop)
    # One signal: the drain runs for the grace period; two: at once.
    assert exit_s <= (grace if len(signals) == 1 else 0.5) + 1.5, row
    assert w2.alive()
