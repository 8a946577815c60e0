"""Redis-side faults: F05 a frozen Redis (DEBUG SLEEP, CLIENT PAUSE) shorter and longer
than the lease, F06 connections killed under load, F07 Redis restarted empty, F08 Redis
killed with SIGKILL under AOF ``appendfsync always``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tests.fault.conftest import long_seeds
from tests.fault.nodes import RedisNode
from tests.fault.scenario import LEASE, Scenario

# --------------------------------------------------------------------------- F05

FREEZES = {
    "debug-sleep-1s": ("DEBUG", "SLEEP", "1"),
    "debug-sleep-5s": ("DEBUG", "SLEEP", "5"),
    "client-pause-all-5s": ("CLIENT", "PAUSE", "5000", "ALL"),
    "client-pause-write-5s": ("CLIENT", "PAUSE", "5000", "WRITE"),
}


def freeze(node: RedisNode, command: tuple[str, ...]) -> None:
    """Send the freezing command on its own connection (DEBUG SLEEP blocks its caller)."""

    def send() -> None:
        with node.admin(socket_timeout=15) as conn:
            conn.execute_command(*command)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    if command[0] == "CLIENT":
        thread.join()


def run_f05(make: Callable[..., Scenario], node: RedisNode, variant: str, seed: int) -> None:
    s = make("F05", node, seed=seed)
    s.start_workers(2)
    producer = s.produce(s.jobs(800), rate=200)
    time.sleep(1.5)
    command = FREEZES[variant]
    started = s.event(" ".join(command))
    freeze(node, command)
    seconds = float(command[2]) if command[0] == "DEBUG" else float(command[2]) / 1000
    time.sleep(seconds)
    # Consumption resumes: a job acknowledged after the freeze starts soon after it.
    s.wait_until(lambda: any(e.kind == "S" and e.at > started + seconds for e in s.entries()), 10, "resume")
    resume = min(e.at for e in s.entries() if e.kind == "S" and e.at > started + seconds) - (started + seconds)
    producer.wait()
    s.quiesce()
    row = s.verdict(variant=variant, resume_s=round(resume, 2), resume_bound_s=2.0)
    s.assert_clean(row)
    assert resume <= 2.0 + 1.0, row
    if seconds < LEASE:
        assert row["duplicates"] == 0, row


@pytest.mark.parametrize("variant", list(FREEZES))
def test_f05_redis_frozen(scenario: Callable[..., Scenario], node: RedisNode, variant: str) -> None:
    run_f05(scenario, node, variant, seed=1)


@pytest.mark.long
@pytest.mark.parametrize("seed", long_seeds())
@pytest.mark.parametrize("variant", list(FREEZES))
def test_f05_redis_frozen_more_seeds(
    scenario: Callable[..., Scenario], node: RedisNode, variant: str, seed: int
) -> None:
    run_f05(scenario, node, variant, seed=seed)


# --------------------------------------------------------------------------- F06


def run_f06(make: Callable[..., Scenario], node: RedisNode, seed: int, seconds: float = 6.0) -> None:
    s = make("F06", node, seed=seed)
    workers = s.start_workers(2)
    producer = s.produce(s.jobs(1200), rate=200)
    kills = 0
    s.event(f"CLIENT KILL TYPE normal every 500 ms for {seconds:g}s")
    until = time.monotonic() + seconds
    with node.admin() as conn:
        while time.monotonic() < until:
            time.sleep(0.5)
            kills += int(conn.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"))
        # (b) the blocked consumers: the connections subscribed for wake-ups.
        for client in conn.client_list():
            if client.get("sub", "0") != "0":
                conn.execute_command("CLIENT", "KILL", "ID", client["id"])
                kills += 1
    producer.wait()
    s.quiesce()
    row = s.verdict(connections_killed=kills, false_conflicts=producer.conflicts_first_try)
    s.assert_clean(row)
    assert all(proc.alive() for proc in workers)


def test_f06_connections_killed_under_load(scenario: Callable[..., Scenario], node: RedisNode) -> None:
    run_f06(scenario, node, seed=1)


@pytest.mark.long
@pytest.mark.parametrize("seed", long_seeds())
def test_f06_connections_killed_more_seeds(scenario: Callable[..., Scenario], node: RedisNode, seed: int) -> None:
    run_f06(scenario, node, seed=seed, seconds=20.0)


# --------------------------------------------------------------------------- F07

OUTAGE = 12.0


def test_f07_redis_restarted_empty(scenario: Callable[..., Scenario], node: RedisNode) -> None:
    """Everything in Redis is lost (no persistence, documented); the workers must not
    crash, must reload the scripts, must back off instead of spinning while Redis is
    down, and must run jobs enqueued after the restart within 2 s. The outage is long
    enough (12 s) for every backoff to reach its cap."""
    s = scenario("F07", node)
    workers = s.start_workers(2)
    s.produce_now(s.jobs(30, lambda rng: {"ms": rng.randint(10, 100), "kind": "ok"}))
    s.wait_effects(30)  # idle workers: the common case of an outage
    cpu_before = [w.cpu_seconds() for w in workers]
    down = s.event(f"SHUTDOWN NOSAVE, restart after {OUTAGE:g} s")
    node.stop()
    time.sleep(OUTAGE)
    cpu_down = [w.cpu_seconds() - c for w, c in zip(workers, cpu_before, strict=True)]
    node.start()
    up = s.event("redis back, empty")
    # Only what is enqueued after the restart can be promised.
    after = s.jobs(50, lambda rng: {"ms": 10, "kind": "ok"}, start=1000)
    producer = s.produce_now(after)
    first_id = after[0][0]
    s.wait_until(lambda: any(e.kind == "S" and e.job_id == first_id for e in s.entries()), 10, "first job")
    first = min(e.at for e in s.entries() if e.kind == "S" and e.job_id == first_id) - producer.ack_times[first_id]
    s.quiesce()
    before = [job_id for job_id in s.acked if job_id not in dict(after)]
    logs = "".join(w.log() for w in workers)
    row = s.verdict(
        expect_completed=[job_id for job_id, _ in after],
        restart_to_first_job_s=round(first, 2),
        cpu_s_while_down=[round(c, 2) for c in cpu_down],
        noscript_surfaced=logs.count("NOSCRIPT"),
        lost_by_design=sum(state != "completed" for state, _ in s.states(before).values()),
        downtime_s=round(up - down, 1),
    )
    s.assert_clean(row)
    assert all(w.alive() for w in workers), "a worker crashed"
    assert row["noscript_surfaced"] == 0
    # A hot loop burns a core; backing off costs next to nothing.
    assert max(cpu_down) < 0.1 * OUTAGE, row
    assert first < 2.0, row


# --------------------------------------------------------------------------- F08


def run_f08(make: Callable[..., Scenario], fsync: str, seed: int) -> dict[str, object]:
    node = RedisNode(args=["--appendonly", "yes", "--appendfsync", fsync]).start()
    try:
        s = make("F08", node, seed=seed)
        s.redis_mode = f"single, AOF {fsync}"
        s.start_workers(2)
        producer = s.produce(s.jobs(1000), rate=200)
        time.sleep(1.0 + s.rng.random() * 2)
        s.event(f"kill -9 redis pid {node.pid}, restart from its AOF 2 s later")
        node.kill()
        time.sleep(2.0)
        node.start()
        producer.wait()
        s.quiesce()
        row = s.verdict()
        s.assert_clean(row, lost_ok=fsync != "always")
        return row
    finally:
        node.close()


def test_f08_redis_kill_9_with_aof_always(scenario: Callable[..., Scenario]) -> None:
    row = run_f08(scenario, "always", seed=1)
    assert row["lost"] == 0


@pytest.mark.long
@pytest.mark.parametrize("seed", long_seeds())
@pytest.mark.parametrize("fsync", ["always", "everysec"])
def test_f08_redis_kill_9_more_seeds(scenario: Callable[..., Scenario], fsync: str, seed: int) -> None:
    run_f08(scenario, fsync, seed=seed)
