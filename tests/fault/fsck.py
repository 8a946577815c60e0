"""fsck for queue-core's Redis layout: after a fault, is every job in exactly one place?

Reads the keys of one queue with plain commands (never through the driver under test)
and reports every violation as a line of text:

- each job hash's ``state`` names a known state, and the job is a member of exactly the
  container of that state (pending list, active/scheduled/retry/archived/completed zset,
  its group's zset or a staging set), of no other, and at most once;
- every container member has a job hash (no dangling ids);
- the lease zset and the active zset hold the same ids (after quiesce: no active job
  without a lease, no lease without an active job), and only active jobs carry a
  ``lease`` token;
- the queue's groups set names exactly the groups with members;
- every unique lock names a live job or has a TTL;
- dependencies: each set of dependents (``n:<id>``) belongs to a job that exists and
  holds only waiting jobs that name it in their ``deps``; a waiting job still waiting for
  some dependency is in the set of at least one (else nothing would ever release it);
- no key outside ``<prefix>:`` exists (``scan_all``: on a Redis the scenario owns).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import redis

STATES = ("pending", "scheduled", "active", "retry", "archived", "completed", "aggregating", "waiting")
ZSET_STATES = ("active", "scheduled", "retry", "archived", "completed", "waiting")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def fsck(conn: redis.Redis, prefix: str, queue: str, *, scan_all: bool = True) -> list[str]:
    base = f"{prefix}:{{{queue}}}:"
    problems: list[str] = []
    where: dict[str, list[str]] = defaultdict(list)

    pending = [_text(i) for i in conn.lrange(base + "pending", 0, -1)]
    for job_id, n in Counter(pending).items():
        if n > 1:
            problems.append(f"{job_id}: {n} times in pending")
    for job_id in set(pending):
        where[job_id].append("pending")
    for state in ZSET_STATES:
        for job_id in conn.zrange(base + state, 0, -1):
            where[_text(job_id)].append(state)
    lease = {_text(i) for i in conn.zrange(base + "lease", 0, -1)}
    groups = {_text(g) for g in conn.smembers(base + "groups")}

    job_keys: dict[str, str] = {}
    group_keys: list[str] = []
    unique_keys: list[str] = []
    dependents_keys: list[str] = []
    for key in conn.scan_iter(match=_escape(base) + "*", count=1000):
        name = _text(key)
        rest = name[len(base) :]
        if rest.startswith("j:"):
            job_keys[rest[2:]] = name
        elif rest.startswith("g:"):
            group_keys.append(name)
        elif rest.startswith("u:"):
            unique_keys.append(name)
        elif rest.startswith("n:"):
            dependents_keys.append(name)

    seen_groups = set()
    for key in group_keys:
        rest = key[len(base) + 2 :]
        if ":s:" in rest:
            group, set_id = rest.split(":s:", 1)
            for job_id in conn.zrange(key, 0, -1):
                where[_text(job_id)].append(f"staged:{group}:{set_id}")
        else:
            seen_groups.add(rest)
            for job_id in conn.zrange(key, 0, -1):
                where[_text(job_id)].append(f"group:{rest}")
    if seen_groups - groups:
        problems.append(f"group zsets not in the groups set: {sorted(seen_groups - groups)}")
    if groups - seen_groups:
        problems.append(f"groups set names empty groups: {sorted(groups - seen_groups)}")

    for job_id, key in job_keys.items():
        kind = _text(conn.type(key))
        if kind != "hash":
            problems.append(f"{job_id}: job key is a {kind}, not a hash")
            continue
        state, token = (None if v is None else _text(v) for v in conn.hmget(key, "state", "lease"))
        places = where.get(job_id, [])
        if state not in STATES:
            problems.append(f"{job_id}: unknown state {state!r}")
            continue
        expected = "aggregating" if state == "aggregating" else state
        matching = [p for p in places if p == expected or (expected == "aggregating" and ":" in p)]
        if len(places) != 1 or len(matching) != 1:
            problems.append(f"{job_id}: state {state!r} but found in {places or 'no container'}")
        if state == "active" and job_id not in lease:
            problems.append(f"{job_id}: active without a lease entry")
        if state == "active" and not token:
            problems.append(f"{job_id}: active without a lease token")
        if state != "active" and token:
            problems.append(f"{job_id}: {state} but still carries lease token {token!r}")
    for job_id, places in where.items():
        if job_id not in job_keys:
            problems.append(f"{job_id}: in {places} but has no job hash")
    for job_id in lease - {j for j, p in where.items() if "active" in p}:
        problems.append(f"{job_id}: has a lease entry but is not active")

    for key in unique_keys:
        value = conn.get(key)
        holder = _text(value).rpartition("|")[2] if value is not None else ""
        if holder not in job_keys and conn.pttl(key) < 0:
            problems.append(f"unique lock {key} names no live job and has no TTL")

    problems += _dependency_problems(conn, base, dependents_keys, job_keys)

    if scan_all:
        for key in conn.scan_iter(count=1000):
            if not _text(key).startswith(prefix + ":"):
                problems.append(f"key outside the prefix: {_text(key)!r}")
    return problems


def _dependency_problems(
    conn: redis.Redis, base: str, dependents_keys: list[str], job_keys: dict[str, str]
) -> list[str]:
    problems: list[str] = []
    linked: set[str] = set()
    for key in dependents_keys:
        dep = key[len(base) + 2 :]
        if dep not in job_keys:
            problems.append(f"{key}: the dependents of a job that does not exist")
        for member in (_text(m) for m in conn.smembers(key)):
            state, deps = (None if v is None else _text(v) for v in conn.hmget(base + "j:" + member, "state", "deps"))
            if state != "waiting" or dep not in (deps or "").split(","):
                problems.append(f"{key}: holds {member} (state {state!r}, deps naming it: {dep in (deps or '')})")
            linked.add(member)
    for job_id in (_text(i) for i in conn.zrange(base + "waiting", 0, -1)):
        left = conn.hget(base + "j:" + job_id, "deps_left")
        if int(left or 0) > 0 and job_id not in linked:
            problems.append(f"{job_id}: waits for {int(left or 0)} dependencies but no dependency will release it")
    return problems


def counts(conn: redis.Redis, prefix: str, queue: str) -> dict[str, int]:
    base = f"{prefix}:{{{queue}}}:"
    result = {"pending": int(conn.llen(base + "pending"))}
    for state in ZSET_STATES:
        result[state] = int(conn.zcard(base + state))
    return result


def _escape(pattern: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in pattern)
