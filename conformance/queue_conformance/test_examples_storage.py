"""Crash windows and storage hygiene, through the optional testing interface.

Two clauses of the protocol cannot be reached through the protocol alone:

- ``recover_expired`` reclaims "active jobs with no lease at all": every active job the
  protocol makes has a lease entry, so the kit creates the crash window with
  ``BrokerTestHooks.lose_lease``;
- what a driver leaves behind: once every job is finished and retention, archive caps
  and unique locks have run out, storage returns to its baseline, and everything a
  driver writes is owned by a live job, queue or schedule, or expires on its own.
  ``BrokerTestHooks.footprint`` reports the storage, so the kit can check it.

Both need the ``"testing"`` feature; without it these examples are skipped.
"""

from __future__ import annotations

from typing import cast

import pytest

from queue_conformance.helpers import (
    DEFAULT,
    T0,
    enqueue,
    grown,
    ids,
    info,
    job,
    lease,
    lease_one,
    require_feature,
    stats,
)
from queue_conformance.model import LEASE_EXPIRED, poison_reason
from queue_core import Broker, BrokerTestHooks, Footprint, Job, JobState, Settlement

pytestmark = pytest.mark.anyio

DAY = 86_400.0


def hooks(broker: Broker) -> BrokerTestHooks:
    require_feature(broker, "testing")
    return cast(BrokerTestHooks, broker)


# --------------------------------------------------------------------------- orphans


async def test_an_active_job_without_a_lease_entry_is_recovered_at_once(broker: Broker) -> None:
    """recover_expired: reclaims "active jobs with no lease at all", whatever ``now``:
    back to the head of pending, a crash counted, processed and failed counted."""
    await enqueue(broker, job("a"), job("b"))
    taken = await lease_one(broker, lease_for=300)
    assert await hooks(broker).lose_lease(DEFAULT, "a") is True
    snapshot = await info(broker, "a", now=T0 + 1)
    assert (snapshot.state, snapshot.lease_expires_at) == (JobState.ACTIVE, None)
    recovery = await broker.recover_expired([DEFAULT], T0 + 1, 5)
    assert (recovery.requeued, recovery.archived) == (["a"], [])
    snapshot = await info(broker, "a", now=T0 + 1)
    assert (snapshot.state, snapshot.crashes, snapshot.last_error, snapshot.last_failed_at) == (
        JobState.PENDING,
        1,
        LEASE_EXPIRED,
        T0 + 1,
    )
    counted = await stats(broker, now=T0 + 1)
    assert (counted.active, counted.pending, counted.processed_total, counted.failed_total) == (0, 2, 1, 1)
    assert ids(await lease(broker, now=T0 + 1)) == ["a", "b"]  # at the head
    assert await broker.settle([Settlement.complete(taken)], T0 + 2) == [False]  # the old lease is fenced


async def test_an_orphan_beyond_max_crashes_is_archived(broker: Broker) -> None:
    """recover_expired: "to the archive once crashes exceeds max_crashes" holds for a job
    without a lease entry too."""
    await enqueue(broker, job("a"))
    await lease_one(broker, lease_for=300)
    await hooks(broker).lose_lease(DEFAULT, "a")
    recovery = await broker.recover_expired([DEFAULT], T0, 0)
    assert (recovery.requeued, recovery.archived) == ([], ["a"])
    snapshot = await info(broker, "a")
    assert (snapshot.state, snapshot.last_error, snapshot.archived_at) == (JobState.ARCHIVED, poison_reason(1), T0)


async def test_expired_leases_are_recovered_before_orphans(broker: Broker) -> None:
    """recover_expired takes expired leases (by expiry) and then jobs without a lease entry
    (by start), each pushed to the head in turn: the last one recovered comes out first."""
    await enqueue(broker, job("orphan"), job("expired"), job("fresh"))
    await lease_one(broker, lease_for=300)  # orphan, started at T0
    await lease_one(broker, now=T0 + 1, lease_for=4)  # expired at T0 + 5
    await lease_one(broker, now=T0 + 1, lease_for=300)  # fresh: left alone
    await hooks(broker).lose_lease(DEFAULT, "orphan")
    recovery = await broker.recover_expired([DEFAULT], T0 + 5, 5)
    assert recovery.requeued == ["expired", "orphan"]
    assert ids(await lease(broker, now=T0 + 5)) == ["orphan", "expired"]
    assert (await info(broker, "fresh", now=T0 + 5)).state is JobState.ACTIVE


async def test_an_orphan_still_fenced_by_its_token_until_recovered(broker: Broker) -> None:
    """A lost lease entry loses only the expiry: the lease's token still owns the job, so
    its worker may renew it (writing the entry again) and settle it."""
    await enqueue(broker, job("a", retention=60))
    taken = await lease_one(broker, lease_for=30)
    await hooks(broker).lose_lease(DEFAULT, "a")
    assert await broker.write_result(taken, b"r") is True
    renewal = await broker.extend_leases([taken], T0 + 1, 30)
    assert renewal.lost == []
    assert (await info(broker, "a", now=T0 + 1)).lease_expires_at == T0 + 31
    recovery = await broker.recover_expired([DEFAULT], T0 + 2, 5)
    assert (recovery.requeued, recovery.archived) == ([], [])
    assert await broker.settle([Settlement.complete(taken)], T0 + 3) == [True]
    assert await broker.job_result(DEFAULT, "a") == b"r"


async def test_losing_the_lease_of_a_job_that_is_not_active_changes_nothing(broker: Broker) -> None:
    """BrokerTestHooks.lose_lease: False (nothing changed) when the job is not active."""
    await enqueue(broker, job("a"), job("later", delay=10))
    assert await hooks(broker).lose_lease(DEFAULT, "a") is False
    assert await hooks(broker).lose_lease(DEFAULT, "later") is False
    assert await hooks(broker).lose_lease(DEFAULT, "unknown") is False
    assert await hooks(broker).lose_lease("nowhere", "a") is False
    assert ids(await lease(broker)) == ["a"]


# --------------------------------------------------------------------------- hygiene


async def idle_footprint(broker: Broker) -> Footprint:
    """The baseline: a broker in use (it answered a ping, so whatever a driver keeps for
    itself is written) that holds no queue."""
    await broker.ping()
    return await hooks(broker).footprint()


async def finished_cycle(broker: Broker, tag: str, now: float) -> float:
    """Every kind of job life in two queues, each finished: completed (kept, then past
    retention), deleted on completion, revoked, retried then completed, archived (then
    trimmed by the caps), recovered after a crash, cancelled, run by an operator,
    scheduled and forwarded, deduplicated by unique locks (then past them), aggregated
    in a group, and a queue paused and resumed. IDs and lock keys carry ``tag``, so two
    cycles touch different jobs. Returns the time when all of it has run out."""
    admin = "admin" in broker.capabilities.features
    grouped = "aggregation" in broker.capabilities.features
    jobs: list[Job] = [
        job(f"{tag}-kept", retention=60, unique_for=30, unique_key=f"{tag}-k"),
        job(f"{tag}-gone"),
        job(f"{tag}-revoked", unique_for=600, unique_key=f"{tag}-r"),
        job(f"{tag}-retried", max_retries=3),
        job(f"{tag}-archived", unique_for=600, unique_key=f"{tag}-a"),
        job(f"{tag}-crashed"),
        job(f"{tag}-other", queue="other", retention=5),
        job(f"{tag}-later", delay=30, queue="other"),
    ]
    if admin:
        jobs += [job(f"{tag}-cancelled", delay=50), job(f"{tag}-run", delay=3600, unique_for=60, unique_key=f"{tag}-u")]
    if grouped:
        jobs += [job(f"{tag}-g1", group="g"), job(f"{tag}-g2", group="g")]
    outcomes = await broker.enqueue(jobs, now)
    assert all(outcome.ok for outcome in outcomes), outcomes
    [dupe] = await broker.enqueue([job(f"{tag}-dupe", unique_for=30, unique_key=f"{tag}-k")], now)
    assert not dupe.ok
    if admin:
        assert await broker.pause(DEFAULT) is True
        assert await broker.resume(DEFAULT) is True
        await broker.request_cancel(DEFAULT, f"{tag}-cancelled", now)
        await broker.run_job(DEFAULT, f"{tag}-run", now)
    leases = {taken.job_id: taken for taken in await broker.dequeue([DEFAULT, "other"], now, 10, "w1", 20)}
    settle = [
        Settlement.complete(leases[f"{tag}-kept"], b"result"),
        Settlement.complete(leases[f"{tag}-gone"], b"result"),
        Settlement.revoke(leases[f"{tag}-revoked"]),
        Settlement.retry(leases[f"{tag}-retried"], now + 1, "boom"),
        Settlement.archive(leases[f"{tag}-archived"], "boom"),
        Settlement.complete(leases[f"{tag}-other"]),
    ]
    if admin:
        settle.append(Settlement.complete(leases[f"{tag}-run"]))
    assert all(await broker.settle(settle, now + 1))
    assert await broker.write_result(leases[f"{tag}-crashed"], b"partial") is True
    # the crashed job's lease runs out; recovery gives it back and it completes
    await broker.recover_expired([DEFAULT], now + 11, 5)
    await broker.forward_due([DEFAULT, "other"], now + 31)
    for taken in await broker.dequeue([DEFAULT, "other"], now + 31, 10, "w2", 20):
        assert await broker.settle([Settlement.complete(taken)], now + 31) == [True]
    if grouped:
        set_id = await broker.aggregation_check(DEFAULT, "g", now + 31, 1.0, None, None, 60.0)
        assert set_id is not None
        aggregate = job(f"{tag}-aggregate")
        assert (await broker.commit_staged(DEFAULT, "g", set_id, aggregate, now + 31)).ok
        [taken] = await broker.dequeue([DEFAULT], now + 31, 10, "w2", 1)
        assert await broker.settle([Settlement.complete(taken)], now + 31) == [True]
    done = now + 3601  # retention, unique locks and the scheduled job's wait have all passed
    await broker.purge_expired([DEFAULT, "other"], done, 0, 0.0)
    for queue in (DEFAULT, "other"):
        counted = await stats(broker, queue, now=done)
        assert counted.size + counted.completed == 0, counted
    return done


async def test_deleted_queues_leave_nothing_that_never_expires(broker: Broker) -> None:
    """Storage hygiene: once every job is finished and past retention, archive caps and
    locks, and the queues are deleted, no storage that never expires is left beyond the
    fresh broker's; what remains (daily counters, say) expires on its own."""
    require_feature(broker, "admin")
    baseline = await idle_footprint(broker)
    done = await finished_cycle(broker, "c1", T0)
    for queue in await broker.list_queues():
        await broker.delete_queue(queue, force=False)
    after = await hooks(broker).footprint()
    assert grown(baseline, after) == {}, f"left behind without expiry: {grown(baseline, after)}"
    assert await broker.list_queues() == []
    assert done > T0


async def test_finished_work_leaves_a_live_queue_at_its_footprint(broker: Broker) -> None:
    """Storage hygiene on live queues: a second finished cycle of other jobs, other lock
    keys, days later, leaves no more storage that never expires than the first did:
    whatever a job, a lock or a day writes is deleted with the job or expires."""
    hooks(broker)
    first_done = await finished_cycle(broker, "c1", T0)
    first = await hooks(broker).footprint()
    second_start = first_done + 3 * DAY  # other UTC days: daily counters under new names
    await finished_cycle(broker, "c2", second_start)
    second = await hooks(broker).footprint()
    assert grown(first, second) == {}, f"grew without expiry: {grown(first, second)}"


async def test_coordination_leaves_nothing_that_never_expires(broker: Broker) -> None:
    """Storage hygiene for coordination: claims, token buckets and heartbeats (removed or
    pruned once expired) leave no storage that never expires. Event histories are owned
    by their schedules and bounded by ``keep``, so they are not part of this check."""
    require_feature(broker, "coordination")
    baseline = await idle_footprint(broker)
    assert await broker.claim("tick", T0, 60) is True
    assert await broker.take_tokens("api", 1.0, 2, T0) == 0
    await broker.put_heartbeat("worker", "w1", b"{}", T0, 30)
    await broker.put_heartbeat("worker", "w2", b"{}", T0, 30)
    await broker.put_heartbeat("scheduler", "s1", b"{}", T0, 30)
    await broker.remove_heartbeat("worker", "w1")
    assert await broker.list_heartbeats("worker", T0 + 31) == {}
    assert await broker.list_heartbeats("scheduler", T0 + 31) == {}
    after = await hooks(broker).footprint()
    assert grown(baseline, after) == {}, f"left behind without expiry: {grown(baseline, after)}"


async def test_the_footprint_names_what_the_broker_stores(broker: Broker) -> None:
    """BrokerTestHooks.footprint: a stored job shows as storage that does not expire (it is
    owned by the job until it finishes), and its broker's footprint grows with it."""
    before = await hooks(broker).footprint()
    await enqueue(broker, job("a"))
    after = await hooks(broker).footprint()
    assert after.size > before.size
    assert grown(before, after) != {}
