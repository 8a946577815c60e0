"""Workflows under faults (P20): chains and fan-ins written with ``enqueue_flow``.

- F22: a worker killed with SIGKILL at a dependency's completion: right after the
  handler's effect, before the completion is sent; and right after the completion script
  returned, before the worker does anything else. The release of the dependents is part
  of that script, so there is no instant between the two to kill in: the first kill
  leaves the dependents waiting until the dependency runs again and completes, the second
  finds them released already.
- F23: Redis (AOF, ``appendfsync always``) killed with SIGKILL and restarted on the same
  port and directory while chains and fan-ins run and more flows are being written.
- F24: a fan-in of 10,000 jobs (500 per push) completing under 4 worker processes, one
  of them killed with SIGKILL half-way and restarted.

Every scenario asserts, beyond the usual verdict (0 lost, every duplicate explained by a
lease expiry, fsck clean): no job started before its dependencies completed, every
callback and chain end ran exactly once, nothing is left waiting.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

from tests.fault import ledger
from tests.fault.conftest import long_seeds
from tests.fault.flows import Flows, flow_verdict, produce_flows, quick, quiesce_flows, slow
from tests.fault.nodes import RedisNode
from tests.fault.procs import Proc
from tests.fault.scenario import Scenario

# --------------------------------------------------------------------------- F22


def supervise(s: Scenario, workers: list[Proc], flows: Flows, timeout: float = 120.0) -> int:
    """Restart every worker that died (as a process supervisor would) until the flows
    are done; returns how many restarts it took."""
    restarts = 0
    deadline = time.monotonic() + timeout
    while True:
        for proc in workers:
            if not proc.alive():
                s.event(f"worker {proc.name} pid {proc.pid} died (SIGKILL), restarted")
                proc.start(wait=False)
                restarts += 1
        effects = ledger.effects(s.entries())
        if all(effects.get(end) for end in flows.ends):
            return restarts
        if time.monotonic() > deadline:
            raise TimeoutError(f"{s.name}: flows not done within {timeout}s; counts {s.counts()}")
        time.sleep(0.05)


def run_f22(make: Callable[..., Scenario], node: RedisNode, seed: int, chains: int = 8, fan_ins: int = 6) -> None:
    s = make("F22", node, seed=seed)
    flows = Flows()
    before_completion: list[str] = []  # killed after the effect, before the completion
    after_completion: list[str] = []  # killed right after the completion applied
    die = {"ms": 50, "kind": "die_after_effect"}
    for n in range(chains):  # the middle link of each chain, the first member of each fan-in
        victim = flows.chain(f"F22-c{n:02d}", 5, s.rng, special={2: die} if n % 2 else None)[2]
        (before_completion if n % 2 else after_completion).append(str(victim.job_id))
    for n in range(fan_ins):
        victim = flows.fan_in(f"F22-g{n:02d}", 10, s.rng, special={0: die} if n % 2 else None)[0]
        (before_completion if n % 2 else after_completion).append(str(victim.job_id))
    # One job at a time per worker: a kill orphans nothing but its victim, so every
    # callback and chain end runs exactly once (no lease expiry can touch them).
    workers = s.start_workers(3, die_after_completing=after_completion, options={"concurrency": 1})
    produce_flows(s, flows)
    restarts = supervise(s, workers, flows)
    quiesce_flows(s)
    entries = s.entries()
    effects, completions = ledger.effects(entries), ledger.of_kind(entries, "C")
    starts = ledger.of_kind(entries, "S")
    dependents_of: dict[str, list[str]] = {str(job.job_id): [] for job in flows.jobs}
    for job in flows.jobs:
        for dep in job.depends_on:
            dependents_of[dep].append(str(job.job_id))
    markers = os.listdir(s.ledger_dir)
    for victim in before_completion:
        assert f"effect-{victim}" in markers, f"{victim} did not kill its worker"
        # the killed attempt's effect, then the run after its lease expired: only a run
        # after the kill can have completed it, so its dependents start after that run
        assert len(effects[victim]) >= 2, (victim, effects[victim])
        rerun_effect = sorted(e.at for e in effects[victim])[1]
        for dependent in dependents_of[victim]:
            assert min(e.at for e in starts[dependent]) > rerun_effect, f"{dependent} ran before {victim} completed"
    for victim in after_completion:
        assert f"completed-{victim}" in markers, f"{victim} did not kill its worker"
        # completed once, by the worker killed right after: its dependents were released
        # by that same script (no later completion exists that could have released them)
        assert len(effects[victim]) == 1 and len(completions[victim]) == 1, (victim, effects[victim])
    row = flow_verdict(s, flows, kills=len(before_completion) + len(after_completion), restarts=restarts,
                       killed_before_completion=len(before_completion),
                       killed_after_completion=len(after_completion))  # fmt: skip
    assert restarts == row["kills"], row
    assert row["duplicates"] >= len(before_completion), row


def test_f22_a_worker_killed_at_a_dependencys_completion(scenario: Callable[..., Scenario], node: RedisNode) -> None:
    run_f22(scenario, node, seed=1)


@pytest.mark.long
@pytest.mark.parametrize("seed", long_seeds())
def test_f22_more_seeds(scenario: Callable[..., Scenario], node: RedisNode, seed: int) -> None:
    run_f22(scenario, node, seed=seed, chains=16, fan_ins=10)


# --------------------------------------------------------------------------- F23

#: longer than the outage plus a renewal period, as in F21: no lease expires while Redis
#: is down, so nothing runs twice and every callback runs exactly once.
F23_LEASE = 10.0
F23_DOWN = 2.0


def run_f23(make: Callable[..., Scenario], seed: int, restarts: int = 1) -> None:
    node = RedisNode(args=["--appendonly", "yes", "--appendfsync", "always"]).start()
    try:
        s = make("F23", node, seed=seed)
        s.redis_mode = "single, AOF always"
        first, second = Flows(), Flows()
        for n in range(12):
            first.chain(f"F23-c{n:02d}", 15, s.rng, slow)
        for n in range(6):
            first.fan_in(f"F23-g{n:02d}", 40, s.rng, slow)
        for n in range(6):  # written while Redis goes down: retried with the same IDs
            second.chain(f"F23-d{n:02d}", 10, s.rng, slow)
            second.fan_in(f"F23-h{n:02d}", 20, s.rng, slow)
        produce_flows(s, first).wait()
        workers = s.start_workers(3, options={"lease_for": F23_LEASE})
        waiting = set(first.dependents)
        s.wait_until(lambda: len({e.job_id for e in s.entries() if e.kind == "S"} & waiting) >= 30, 60,
                     "30 dependents started")  # fmt: skip
        late = produce_flows(s, second)
        kills: list[tuple[float, float]] = []
        for _ in range(restarts):
            down = s.event(f"kill -9 redis pid {node.pid}, restart from its AOF {F23_DOWN:g} s later")
            node.kill()
            time.sleep(F23_DOWN)
            node.start()
            kills.append((down, s.event("redis back")))
            time.sleep(2.0)
        quiesce_flows(s)
        flows = Flows(first.flows + second.flows, first.ends + second.ends, first.dependents + second.dependents)
        starts = ledger.of_kind(s.entries(), "S")
        down, up = kills[0]
        # the flows were in flight: dependents started both before the first kill and after
        dependents_started = [min(e.at for e in starts[j]) for j in flows.dependents]
        row = flow_verdict(s, flows, redis_restarts=restarts,
                           dependents_started_before_kill=sum(at < down for at in dependents_started),
                           dependents_started_after_restart=sum(at > up for at in dependents_started),
                           flow_retries=late.errors,
                           flows_stored_by_earlier_try=late.stored_by_earlier_try)  # fmt: skip
        assert row["dependents_started_before_kill"] > 0 and row["dependents_started_after_restart"] > 0, row
        assert row["duplicates"] == 0, row
        assert all(w.alive() for w in workers), "a worker crashed"
    finally:
        node.close()


def test_f23_redis_restarted_mid_flow_with_aof_always(scenario: Callable[..., Scenario]) -> None:
    run_f23(scenario, seed=1)


@pytest.mark.long
@pytest.mark.parametrize("seed", long_seeds())
def test_f23_more_seeds(scenario: Callable[..., Scenario], seed: int) -> None:
    run_f23(scenario, seed=seed, restarts=3)


# --------------------------------------------------------------------------- F24


def run_f24(make: Callable[..., Scenario], node: RedisNode, seed: int, members: int) -> None:
    s = make("F24", node, seed=seed)
    flows = Flows()
    flows.fan_in("F24", members, s.rng, quick)
    callback = flows.ends[0]
    workers = s.start_workers(4)
    written = time.time()
    producer = produce_flows(s, flows)
    producer.wait()
    s.wait_effects(members // 2, timeout=120)
    victim = workers[s.rng.randrange(4)]
    what = f"kill -9 worker {victim.name} pid {victim.pid} after {members // 2} effects, restarted 1 s later"
    killed_at = s.event(what)
    victim.kill()
    time.sleep(1.0)
    victim.start()
    s.wait_until(lambda: bool(ledger.effects(s.entries()).get(callback)), 300, "the callback")
    entries = s.entries()
    callback_at = min(e.at for e in entries if e.kind == "E" and e.job_id == callback)
    last_member = max(e.at for e in entries if e.kind == "E" and e.job_id != callback)
    quiesce_flows(s, timeout=300)
    seconds = callback_at - written
    flow_verdict(s, flows, members=members, workers=4, seconds_to_callback=round(seconds, 2),
                 jobs_per_s=round((members + 1) / seconds),
                 callback_after_last_member_s=round(callback_at - last_member, 3),
                 write_s=round(producer.ack_times[callback] - written, 2),
                 killed_before_callback=killed_at < callback_at)  # fmt: skip


def test_f24_a_fan_in_of_500_under_4_workers(scenario: Callable[..., Scenario], node: RedisNode) -> None:
    run_f24(scenario, node, seed=1, members=500)


@pytest.mark.long
def test_f24_a_fan_in_of_10000_under_4_workers(scenario: Callable[..., Scenario], node: RedisNode) -> None:
    run_f24(scenario, node, seed=2, members=10_000)
