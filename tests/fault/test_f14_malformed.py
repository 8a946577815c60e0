"""F14: malformed bytes in Redis. One bad record must never block dequeue, recovery,
retention or listing; each is archived with a readable reason (or dropped), and the
healthy jobs keep flowing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio

from queue_core import JobState, Manager, open_broker
from tests.fault.nodes import RedisNode
from tests.fault.scenario import Scenario


def corrupt(s: Scenario, ids: list[str]) -> dict[str, str]:
    """Damage some of the stored jobs; returns job id -> what was done to it."""
    conn, base = s.admin, f"{s.prefix}:{{default}}:"
    now = time.time()
    done = {}
    # (a) random bytes in fields of pending jobs
    conn.hset(base + "j:" + ids[0], "max_retries", b"\x93\x00garbage\xff")
    done[ids[0]] = "random bytes in max_retries"
    conn.hset(base + "j:" + ids[1], "headers", b"{not json")
    done[ids[1]] = "headers not JSON"
    # (b) a truncated payload: the handler's decode fails
    conn.hset(base + "j:" + ids[2], "payload", b'{"ms": 1')
    done[ids[2]] = "truncated payload"
    # (c) a pending job's key of the wrong type: see test_f14_a_pending_job_key_of_the_wrong_type
    # (d) an id in pending with no record
    conn.lpush(base + "pending", "ghost-without-record")
    # (e) active jobs whose leases expired, so the recoverer meets them: one healthy,
    # one with a garbage crash counter, one of the wrong type
    for job_id, damage in ((ids[4], None), (ids[5], b"many"), (ids[6], "type")):
        conn.lrem(base + "pending", 0, job_id)
        conn.hset(base + "j:" + job_id, mapping={"state": "active", "lease": "dead-worker:tok:" + job_id})
        if damage == "type":
            conn.delete(base + "j:" + job_id)
            conn.sadd(base + "j:" + job_id, "oops")
        elif damage is not None:
            conn.hset(base + "j:" + job_id, "crashes", damage)
        conn.zadd(base + "active", {job_id: now - 60})
        conn.zadd(base + "lease", {job_id: -(now - 30)})  # the lease set scores negated expiries
    done[ids[4]] = "active, lease expired (healthy)"
    done[ids[5]] = "active, lease expired, crashes not a number"
    done[ids[6]] = "active, lease expired, job key is a set"
    # (f) invalid UTF-8 in the type
    conn.hset(base + "j:" + ids[7], "type", b"\xff\xfe\xfd")
    done[ids[7]] = "type not UTF-8"
    # (g) a retained completed job that is damaged, and one past its retention
    for job_id, kind in ((ids[8], "hash"), (ids[9], "string")):
        conn.lrem(base + "pending", 0, job_id)
        conn.delete(base + "j:" + job_id)
        if kind == "hash":
            conn.hset(base + "j:" + job_id, mapping={"state": "completed", "type": b"\xff", "retried": "x"})
        else:
            conn.set(base + "j:" + job_id, b"\x00\x01")
        conn.zadd(base + "completed", {job_id: now - 5})  # retention over: the janitor's
    done[ids[8]] = "completed, fields garbage, retention over"
    done[ids[9]] = "completed, job key is a string, retention over"
    return done


async def operator_view(url: str, prefix: str) -> dict[str, Any]:
    """What the Manager and the janitor's purge make of the damaged queue."""
    view: dict[str, Any] = {}
    async with Manager(f"{url}?prefix={prefix}") as manager:
        for state in (JobState.PENDING, JobState.ACTIVE, JobState.ARCHIVED, JobState.COMPLETED):
            try:
                view[state.value] = len(await manager.list_jobs("default", state, page_size=1000))
            except Exception as exc:
                view[state.value] = f"{type(exc).__name__}: {exc}"
    broker = await open_broker(url, prefix=prefix)
    try:
        view["purged"] = await broker.purge_expired(["default"], time.time(), 10_000, 90 * 86400)
    except Exception as exc:
        view["purged"] = f"{type(exc).__name__}: {exc}"
    finally:
        await broker.close()
    return view


def test_f14_malformed_records_are_isolated(scenario: Callable[..., Scenario], node: RedisNode) -> None:
    """Before the fixes that came with this test: one active job with a garbage crash
    counter made every recovery pass of the queue fail (and orphaned that job), and one
    retained job key of the wrong type made every retention pass fail; a payload that
    does not decode was retried with backoff."""
    s = scenario("F14", node)
    producer = s.produce_now(s.jobs(300, lambda rng: {"ms": rng.randint(1, 20), "kind": "ok"}), max_retries=2)
    ids = producer.acked
    damaged = corrupt(s, ids)
    s.event("corrupted: " + ", ".join(damaged.values()) + ", ghost id in pending")
    started = time.monotonic()
    workers = s.start_workers(2)
    healthy = [j for j in ids if j not in damaged or j in (ids[4], ids[5])]
    s.wait_until(lambda: all(st == "completed" for st, _ in s.states(healthy).values()), 30, "healthy jobs done")
    flow = time.monotonic() - started
    s.quiesce(30)
    view = anyio.run(operator_view, node.url, s.prefix)
    outcome = {}
    for job_id, what in damaged.items():
        key = f"{s.prefix}:{{default}}:j:{job_id}"
        kind = s.admin.type(key).decode()
        if kind == "hash":
            state, error = s.admin.hmget(key, "state", "last_error")
            outcome[what] = (state and state.decode(), error and error.decode(errors="replace")[:80])
        else:
            outcome[what] = (f"<{kind}>", None)
    row = s.verdict(expect_completed=healthy, healthy_flow_s=round(flow, 1), damaged=outcome, operator_view=view)
    assert all(w.alive() for w in workers), "a worker crashed"
    assert row["lost"] == 0, row
    assert row["stuck_active"] == 0, row
    for what, (state, error) in outcome.items():
        if what.startswith("completed"):
            assert state == "<none>", (what, state)  # purged by retention, damaged or not
        elif what.startswith("active, lease expired") and "set" not in what:
            # the healthy one, and the one whose crash counter read as 0: recovered, run
            assert state == "completed", (what, state)
        else:
            assert state == "archived" and error, (what, state, error)
    assert all(isinstance(v, int) for v in view.values()), view
    assert row["fsck_violations"] == 0, s._details["fsck"]


def wrong_type_run(make: Callable[..., Scenario], node: RedisNode, state: str) -> dict[str, Any]:
    s = make("F14", node)
    producer = s.produce_now(s.jobs(100, lambda rng: {"ms": 1, "kind": "ok"}), delay=1.0 if state == "scheduled" else 0)
    bad = producer.acked[50]
    key = f"{s.prefix}:{{default}}:j:{bad}"
    s.admin.delete(key)
    s.admin.set(key, b"not a hash")
    s.event(f"the key of {state} job {bad} replaced by a string")
    s.start_workers(1)
    healthy = [j for j in producer.acked if j != bad]
    s.wait_until(lambda: all(st == "completed" for st, _ in s.states(healthy).values()), 30, "healthy jobs done")
    s.quiesce(30)
    row = s.verdict(expect_completed=healthy, damaged_state=state)
    crashed = [j for j, (_, crashes) in s.states(healthy).items() if crashes]
    assert row["lost"] == 0 and not crashed, (row, crashed)
    assert s.admin.type(key) == b"hash" and s.admin.hget(key, "state") == b"archived", s.admin.type(key)
    assert row["fsck_violations"] == 0, s._details["fsck"]
    return row


def test_f14_a_pending_job_key_of_the_wrong_type(scenario: Callable[..., Scenario], node: RedisNode) -> None:
    """Before the fix: dequeue.lua stopped at the key with an error, and the jobs it had
    leased before it in that call were left active outside the active and lease sets:
    never recovered, lost."""
    wrong_type_run(scenario, node, "pending")


def test_f14_a_scheduled_job_key_of_the_wrong_type(scenario: Callable[..., Scenario], node: RedisNode) -> None:
    """Before the fix: forward.lua stopped at the key with an error at every pass, so
    none of the queue's due jobs moved again."""
    wrong_type_run(scenario, node, "scheduled")
