"""One focused example per paragraph of docs/broker-protocol.md.

Where the state machine explores, these pin down: each test sets up the smallest state
that shows one rule of the spec, including its boundary (a time exactly reached), and
names the rule in its docstring. Every test runs on each runtime the driver declares.
"""

from __future__ import annotations

import pytest

from queue_conformance.helpers import DEFAULT, T0, enqueue, ids, info, job, lease, lease_one, require_feature, stats
from queue_conformance.model import DEADLINE_EXCEEDED, LEASE_EXPIRED, poison_reason
from queue_conformance.reports import server_report_problems
from queue_core import (
    Broker,
    EnqueueStatus,
    GroupRequired,
    InvalidPagination,
    JobNotFound,
    JobState,
    QueueNotFound,
    ResultNotFound,
    Settlement,
    Unsupported,
)

pytestmark = pytest.mark.anyio

ENQUEUED, ID_CONFLICT, DUPLICATE = EnqueueStatus.ENQUEUED, EnqueueStatus.ID_CONFLICT, EnqueueStatus.DUPLICATE

# --------------------------------------------------------------------------- enqueue


async def test_due_now_jobs_are_pending_and_come_out_fifo(broker: Broker) -> None:
    """enqueue 3: "else pending, at the tail (FIFO)"; IDs out of name order, so an order by
    ID would fail."""
    outcomes = await enqueue(broker, job("c"), job("a"), job("b"))
    assert [(o.job_id, o.status, o.state) for o in outcomes] == [
        ("c", ENQUEUED, JobState.PENDING),
        ("a", ENQUEUED, JobState.PENDING),
        ("b", ENQUEUED, JobState.PENDING),
    ]
    assert ids(await lease(broker)) == ["c", "a", "b"]


async def test_future_process_time_is_scheduled_past_is_pending(broker: Broker) -> None:
    """enqueue 3: "process_at > now -> scheduled (due at process_at)"; schedule_at in the past is due now."""
    [later, past] = await enqueue(broker, job("later", delay=10), job("past", schedule_at=T0 - 5))
    assert (later.state, past.state) == (JobState.SCHEDULED, JobState.PENDING)
    assert (await info(broker, "later")).next_process_at == T0 + 10
    assert (await info(broker, "past")).next_process_at == T0  # pending since enqueue


async def test_due_now_job_with_group_joins_its_group(broker: Broker) -> None:
    """enqueue 3: "else a job with a group -> aggregating"; a scheduled one waits first."""
    [now_, later] = await enqueue(broker, job("a", group="g"), job("b", group="g", delay=5))
    assert (now_.state, later.state) == (JobState.AGGREGATING, JobState.SCHEDULED)
    counted = await stats(broker)
    assert (counted.aggregating, counted.groups, counted.scheduled, counted.pending) == (1, 1, 1, 0)


async def test_id_conflicts_with_a_job_in_any_state(broker: Broker) -> None:
    """enqueue 1: an existing ID "in any state (including completed and archived)" conflicts,
    and nothing is written."""
    await enqueue(broker, job("done", retention=60), job("failed"), job("waiting"))
    [done, failed] = await lease(broker, limit=2)
    await broker.settle([Settlement.complete(done), Settlement.archive(failed, "boom")], T0)
    again = await enqueue(broker, *(job(i, payload=b"new") for i in ("done", "failed", "waiting")))
    assert [o.status for o in again] == [ID_CONFLICT] * 3
    assert [o.state for o in again] == [None] * 3
    for job_id in ("done", "failed", "waiting"):
        assert await broker.job_payload(DEFAULT, job_id) == b"{}"
    assert (await stats(broker)).size == 2  # archived + pending; completed is not in size


async def test_same_id_twice_in_one_batch_the_second_conflicts(broker: Broker) -> None:
    """enqueue: "Two jobs in one batch with the same ID: the second conflicts"; items are independent."""
    outcomes = await enqueue(broker, job("a"), job("a", payload=b"2"), job("b"))
    assert [o.status for o in outcomes] == [ENQUEUED, ID_CONFLICT, ENQUEUED]
    assert await broker.job_payload(DEFAULT, "a") == b"{}"


async def test_same_id_in_another_queue_is_another_job(broker: Broker) -> None:
    """IDs are per queue: "If a job with that ID exists in the queue"."""
    outcomes = await enqueue(broker, job("a", queue="one"), job("a", queue="two"))
    assert [o.status for o in outcomes] == [ENQUEUED, ENQUEUED]


async def test_duplicate_names_the_holder(broker: Broker) -> None:
    """enqueue 2: a held lock gives DUPLICATE "with holder = the holding job's ID"; also within a batch."""
    outcomes = await enqueue(broker, job("a", unique_for=60, unique_key="k"), job("b", unique_for=60, unique_key="k"))
    assert [(o.status, o.holder) for o in outcomes] == [(ENQUEUED, None), (DUPLICATE, "a")]
    [late] = await enqueue(broker, job("c", unique_for=60, unique_key="k"), now=T0 + 30)
    assert (late.status, late.holder, late.state) == (DUPLICATE, "a", None)
    with pytest.raises(JobNotFound):
        await info(broker, "c")


async def test_unique_without_key_is_keyed_by_type_and_payload(broker: Broker) -> None:
    """Job.lock_key: without unique_key the lock is the content digest (type and payload)."""
    outcomes = await enqueue(
        broker,
        job("a", unique_for=60),
        job("b", unique_for=60),
        job("c", unique_for=60, payload=b"other"),
    )
    assert [o.status for o in outcomes] == [ENQUEUED, DUPLICATE, ENQUEUED]


async def test_unique_lock_ttl_counts_from_process_time(broker: Broker) -> None:
    """enqueue 3: "The unique lock ... is held until process_at + unique_for"."""
    await enqueue(broker, job("a", delay=100, unique_for=10, unique_key="k"))
    [held] = await enqueue(broker, job("b", unique_for=10, unique_key="k"), now=T0 + 109.875)
    [free] = await enqueue(broker, job("c", unique_for=10, unique_key="k"), now=T0 + 110)
    assert (held.status, held.holder) == (DUPLICATE, "a")
    assert free.status is ENQUEUED


async def test_unique_lock_of_a_past_schedule_may_already_be_free(broker: Broker) -> None:
    """The lock runs from process_at even when schedule_at lies in the past."""
    await enqueue(broker, job("a", schedule_at=T0 - 20, unique_for=10, unique_key="k"))
    [second] = await enqueue(broker, job("b", unique_for=10, unique_key="k"))
    assert second.status is ENQUEUED


async def test_id_conflict_leaves_no_stale_lock(broker: Broker) -> None:
    """enqueue 1-2: the ID check comes first and writes nothing, so no lock is left behind."""
    await enqueue(broker, job("a"))
    [conflict] = await enqueue(broker, job("a", unique_for=60, unique_key="k"))
    [other] = await enqueue(broker, job("b", unique_for=60, unique_key="k"))
    assert (conflict.status, other.status) == (ID_CONFLICT, ENQUEUED)


async def test_enqueue_registers_the_queue(broker: Broker) -> None:
    """enqueue 3: "The queue is added to the queue registry"; list_queues is sorted."""
    with pytest.raises(QueueNotFound):
        await stats(broker, "zeta")
    await enqueue(broker, job("a", queue="zeta"), job("b", queue="alpha"))
    assert await broker.list_queues() == ["alpha", "zeta"]


# --------------------------------------------------------------------------- dequeue


async def test_dequeue_tries_queues_in_order_until_the_limit(broker: Broker) -> None:
    """dequeue: "Queues are tried in the given order ... until limit leases are gathered".
    The names sort the other way round ("bulk" < "urgent"), so name order would fail."""
    await enqueue(broker, job("b1", queue="bulk"), job("b2", queue="bulk"), job("u1", queue="urgent"))
    assert ids(await lease(broker, ["urgent", "bulk"], limit=2)) == ["u1", "b1"]
    assert ids(await lease(broker, ["urgent", "bulk"], limit=2)) == ["b2"]
    assert await lease(broker, ["urgent", "bulk"]) == []


async def test_a_leased_job_is_active_with_a_fresh_token(broker: Broker) -> None:
    """dequeue: "active: started at now, lease until now + lease_for, a fresh token (<worker_id>:<random>)"."""
    await enqueue(broker, job("a", max_retries=4, timeout=9, headers={"h": "v"}))
    taken = await lease_one(broker, now=T0 + 1, lease_for=20)
    assert taken.token.startswith("w1:") and len(taken.token) > len("w1:")
    assert taken.expires_at == T0 + 21
    record = taken.record
    assert (record.id, record.queue, record.payload, record.max_retries, record.timeout) == ("a", DEFAULT, b"{}", 4, 9)
    assert (record.retried, record.crashes, record.bounces, dict(record.headers)) == (0, 0, 0, {"h": "v"})
    assert record.enqueued_at == T0
    snapshot = await info(broker, "a", now=T0 + 1)
    assert (snapshot.state, snapshot.started_at, snapshot.lease_expires_at) == (JobState.ACTIVE, T0 + 1, T0 + 21)
    assert snapshot.next_process_at is None


async def test_a_paused_queue_is_skipped(broker: Broker) -> None:
    """Admin: "Dequeue skips a paused queue; enqueue, forwarding and recovery go on"."""
    require_feature(broker, "admin")
    await enqueue(broker, job("p", queue="paused"), job("o", queue="open"))
    assert await broker.pause("paused") is True
    assert await broker.pause("paused") is False
    [late] = await enqueue(broker, job("p2", queue="paused"))
    assert late.status is ENQUEUED
    assert ids(await lease(broker, ["paused", "open"])) == ["o"]
    assert (await stats(broker, "paused")).paused is True
    assert await broker.resume("paused") is True
    assert await broker.resume("paused") is False
    assert ids(await lease(broker, ["paused"])) == ["p", "p2"]


async def test_a_job_past_its_deadline_is_archived_not_leased(broker: Broker) -> None:
    """dequeue: "A job whose deadline <= now is not leased: it is archived with error
    'deadline exceeded before start' and counted as processed and failed"."""
    await enqueue(broker, job("late", deadline=T0 + 5), job("fine", deadline=T0 + 6))
    assert ids(await lease(broker, now=T0 + 5, limit=1)) == ["fine"]
    snapshot = await info(broker, "late", now=T0 + 5)
    assert (snapshot.state, snapshot.last_error, snapshot.archived_at) == (JobState.ARCHIVED, DEADLINE_EXCEEDED, T0 + 5)
    counted = await stats(broker, now=T0 + 5)
    assert (counted.processed_total, counted.failed_total, counted.archived) == (1, 1, 1)


# --------------------------------------------------------------------------- settle


async def test_complete_with_retention_keeps_the_job_and_result(broker: Broker) -> None:
    """settle COMPLETE, retention > 0: "completed, completed_at = now, purged at now + retention, result stored"."""
    await enqueue(broker, job("a", retention=60))
    taken = await lease_one(broker)
    assert await broker.settle([Settlement.complete(taken, b"42")], T0 + 2) == [True]
    snapshot = await info(broker, "a", now=T0 + 2)
    assert (snapshot.state, snapshot.completed_at, snapshot.expires_at) == (JobState.COMPLETED, T0 + 2, T0 + 62)
    assert (snapshot.started_at, snapshot.lease_expires_at) == (None, None)
    assert (snapshot.has_result, snapshot.result_size) == (True, 2)
    assert await broker.job_result(DEFAULT, "a") == b"42"
    counted = await stats(broker, now=T0 + 2)
    assert (counted.completed, counted.processed_total, counted.failed_total) == (1, 1, 0)


async def test_complete_without_retention_deletes_the_job(broker: Broker) -> None:
    """settle COMPLETE: "Else the job is deleted"; still counted as processed."""
    await enqueue(broker, job("a"))
    assert await broker.settle([Settlement.complete(await lease_one(broker), b"x")], T0) == [True]
    with pytest.raises(JobNotFound):
        await info(broker, "a")
    assert (await stats(broker)).processed_total == 1


async def test_complete_keeps_a_result_written_earlier(broker: Broker) -> None:
    """settle COMPLETE: "a result written earlier is kept"; write_result is fenced like settle."""
    await enqueue(broker, job("a", retention=60))
    taken = await lease_one(broker)
    assert await broker.write_result(taken, b"partial") is True
    await broker.settle([Settlement.complete(taken)], T0)
    assert await broker.job_result(DEFAULT, "a") == b"partial"
    assert await broker.write_result(taken, b"late") is False
    assert await broker.job_result(DEFAULT, "a") == b"partial"


async def test_retry_counts_a_failure_but_a_bounce_does_not(broker: Broker) -> None:
    """settle RETRY: failure -> retried += 1, processed and failed +1; bounce -> bounces += 1, nothing counted."""
    await enqueue(broker, job("fail"), job("bounce"))
    [fail, bounce] = await lease(broker, limit=2)
    results = await broker.settle(
        [
            Settlement.retry(fail, T0 + 30, "boom"),
            Settlement.retry(bounce, T0 + 40, "busy", counts_as_failure=False),
        ],
        T0 + 1,
    )
    assert results == [True, True]
    failed, bounced = await info(broker, "fail", now=T0 + 1), await info(broker, "bounce", now=T0 + 1)
    assert (failed.state, failed.next_process_at, failed.retried, failed.bounces) == (JobState.RETRY, T0 + 30, 1, 0)
    assert (failed.last_error, failed.last_failed_at) == ("boom", T0 + 1)
    assert (bounced.state, bounced.next_process_at, bounced.retried, bounced.bounces) == (JobState.RETRY, T0 + 40, 0, 1)
    assert (bounced.last_error, bounced.last_failed_at) == ("busy", T0 + 1)
    counted = await stats(broker, now=T0 + 1)
    assert (counted.retry, counted.processed_total, counted.failed_total) == (2, 1, 1)


async def test_archive_records_the_error_and_counts_a_failure(broker: Broker) -> None:
    """settle ARCHIVE: "archived at now; last_error, last_failed_at = now"; processed and failed +1."""
    await enqueue(broker, job("a"))
    await broker.settle([Settlement.archive(await lease_one(broker), "gave up")], T0 + 3)
    snapshot = await info(broker, "a", now=T0 + 3)
    assert (snapshot.state, snapshot.archived_at, snapshot.last_error, snapshot.last_failed_at) == (
        JobState.ARCHIVED,
        T0 + 3,
        "gave up",
        T0 + 3,
    )
    counted = await stats(broker, now=T0 + 3)
    assert (counted.archived, counted.processed_total, counted.failed_total) == (1, 1, 1)


async def test_requeue_puts_the_job_at_the_head_uncounted(broker: Broker) -> None:
    """settle REQUEUE: "pending at the head (next to be dequeued)"; nothing counted."""
    await enqueue(broker, job("a"), job("b"))
    first = await lease_one(broker)
    assert await broker.settle([Settlement.requeue(first)], T0 + 1) == [True]
    assert ids(await lease(broker, now=T0 + 1)) == ["a", "b"]
    counted = await stats(broker, now=T0 + 1)
    assert (counted.processed_total, counted.failed_total) == (0, 0)


async def test_revoke_deletes_counts_processed_and_releases_the_lock(broker: Broker) -> None:
    """settle REVOKE: "deleted; the unique lock released"; processed +1."""
    await enqueue(broker, job("a", unique_for=600, unique_key="k"))
    await broker.settle([Settlement.revoke(await lease_one(broker))], T0)
    with pytest.raises(JobNotFound):
        await info(broker, "a")
    [again] = await enqueue(broker, job("b", unique_for=600, unique_key="k"))
    assert again.status is ENQUEUED
    counted = await stats(broker)
    assert (counted.processed_total, counted.failed_total) == (1, 0)


async def test_unique_lock_released_on_complete_kept_on_archive(broker: Broker) -> None:
    """settle: COMPLETE releases the lock; ARCHIVE keeps it "only when release_unique" releases it."""
    await enqueue(
        broker,
        job("done", unique_for=600, unique_key="k1"),
        job("kept", unique_for=600, unique_key="k2"),
        job("released", unique_for=600, unique_key="k3"),
    )
    done, kept, released = await lease(broker, limit=3)
    await broker.settle(
        [
            Settlement.complete(done),
            Settlement.archive(kept, "boom"),
            Settlement.archive(released, "boom", release_unique=True),
        ],
        T0,
    )
    outcomes = await enqueue(broker, *(job(f"new-{k}", unique_for=600, unique_key=k) for k in ("k1", "k2", "k3")))
    assert [(o.status, o.holder) for o in outcomes] == [(ENQUEUED, None), (DUPLICATE, "kept"), (ENQUEUED, None)]


async def test_a_lock_taken_over_after_expiry_is_not_released_by_the_old_holder(broker: Broker) -> None:
    """settle COMPLETE: "The unique lock is released if this job holds it"."""
    await enqueue(broker, job("old", unique_for=5, unique_key="k"))
    old = await lease_one(broker)
    await enqueue(broker, job("new", unique_for=600, unique_key="k"), now=T0 + 5)
    await broker.settle([Settlement.complete(old)], T0 + 6)
    [third] = await enqueue(broker, job("third", unique_for=600, unique_key="k"), now=T0 + 6)
    assert (third.status, third.holder) == (DUPLICATE, "new")


async def test_settling_twice_is_fenced(broker: Broker) -> None:
    """settle: "False when the job is gone, not active, or held under another token"."""
    await enqueue(broker, job("a", retention=60), job("b"))
    first = await lease_one(broker)
    assert await broker.settle([Settlement.complete(first)], T0) == [True]
    assert await broker.settle([Settlement.archive(first, "late"), Settlement.requeue(first)], T0) == [False, False]
    assert (await info(broker, "a")).state is JobState.COMPLETED
    second = await lease_one(broker)
    await broker.settle([Settlement.requeue(second)], T0)
    again = await lease_one(broker)
    assert again.token != second.token
    assert await broker.settle([Settlement.complete(second), Settlement.complete(again)], T0) == [False, True]


async def test_leases_are_fenced_after_recovery(broker: Broker) -> None:
    """Fenced: once the lease expired "and the job was recovered", the old token writes nothing."""
    await enqueue(broker, job("a", retention=60))
    stale = await lease_one(broker, lease_for=1)
    recovery = await broker.recover_expired([DEFAULT], T0 + 1, max_crashes=5)
    assert recovery.requeued == ["a"]
    assert await broker.settle([Settlement.complete(stale, b"x")], T0 + 2) == [False]
    assert await broker.write_result(stale, b"x") is False
    renewal = await broker.extend_leases([stale], T0 + 2, 30)
    assert renewal.lost == [stale]
    snapshot = await info(broker, "a", now=T0 + 2)
    assert (snapshot.state, snapshot.has_result, snapshot.crashes) == (JobState.PENDING, False, 1)


# --------------------------------------------------------------------------- leases


async def test_extend_renews_an_expired_lease_nobody_recovered(broker: Broker) -> None:
    """extend_leases: the lease moves to now + lease_for "even if it had expired, as long
    as no one recovered the job"."""
    await enqueue(broker, job("a"))
    taken = await lease_one(broker, lease_for=1)
    renewal = await broker.extend_leases([taken], T0 + 10, 30)
    assert (renewal.lost, renewal.cancelled) == ([], [])
    assert (await info(broker, "a", now=T0 + 10)).lease_expires_at == T0 + 40
    recovery = await broker.recover_expired([DEFAULT], T0 + 39.875, max_crashes=5)
    assert (recovery.requeued, recovery.archived) == ([], [])
    assert await broker.settle([Settlement.complete(taken)], T0 + 39.875) == [True]


async def test_write_result_never_creates_a_job(broker: Broker) -> None:
    """write_result: "A result never creates a job record"."""
    await enqueue(broker, job("a"))
    taken = await lease_one(broker)
    await broker.settle([Settlement.complete(taken)], T0)
    assert await broker.write_result(taken, b"x") is False
    with pytest.raises(JobNotFound):
        await broker.job_result(DEFAULT, "a")


# --------------------------------------------------------------------------- maintenance


async def test_forward_moves_due_jobs_scheduled_first_earliest_first(broker: Broker) -> None:
    """forward_due: "queue by queue in the given order, scheduled before retry, earliest
    first ... to the tail of pending. Returns how many moved"."""
    await enqueue(broker, job("r"))
    await broker.settle([Settlement.retry(await lease_one(broker), T0 + 1, "boom")], T0)
    await enqueue(broker, job("s2", delay=2), job("s1", delay=1), job("s-late", delay=50))
    assert await broker.forward_due([DEFAULT], T0 + 2, limit=2) == 2
    assert await broker.forward_due([DEFAULT], T0 + 2, limit=1000) == 1
    assert await broker.forward_due([DEFAULT], T0 + 2, limit=1000) == 0
    assert ids(await lease(broker, now=T0 + 2)) == ["s1", "s2", "r"]
    assert (await info(broker, "s-late", now=T0 + 2)).state is JobState.SCHEDULED


async def test_forward_sends_a_job_with_a_group_to_its_group(broker: Broker) -> None:
    """forward_due: "a job with a group joins its group (at now)"."""
    await enqueue(broker, job("a", group="g", delay=5))
    assert await broker.forward_due([DEFAULT], T0 + 5) == 1
    snapshot = await info(broker, "a", now=T0 + 5)
    assert snapshot.state is JobState.AGGREGATING
    counted = await stats(broker, now=T0 + 5)
    assert (counted.aggregating, counted.groups, counted.pending) == (1, 1, 0)


async def test_next_due_is_the_earliest_scheduled_or_retry_time(broker: Broker) -> None:
    """next_due: "The smallest due time among the queues' scheduled and retry jobs, or None"."""
    assert await broker.next_due([DEFAULT]) is None
    await enqueue(broker, job("s", delay=30), job("r"))
    await broker.settle([Settlement.retry(await lease_one(broker), T0 + 12.5, "boom")], T0)
    await enqueue(broker, job("other", queue="other", delay=1))
    assert await broker.next_due([DEFAULT]) == T0 + 12.5
    assert await broker.next_due([DEFAULT, "other"]) == T0 + 1


async def test_recovery_requeues_to_the_head_and_counts_a_failure(broker: Broker) -> None:
    """recover_expired: expiry <= now -> "crashes += 1, last_error = 'lease expired',
    last_failed_at = now; head of pending"; counts processed and failed."""
    await enqueue(broker, job("a"), job("b"))
    await lease_one(broker, lease_for=5)
    recovery = await broker.recover_expired([DEFAULT], T0 + 5, max_crashes=1)
    assert (recovery.requeued, recovery.archived) == (["a"], [])
    snapshot = await info(broker, "a", now=T0 + 5)
    assert (snapshot.crashes, snapshot.last_error, snapshot.last_failed_at) == (1, LEASE_EXPIRED, T0 + 5)
    counted = await stats(broker, now=T0 + 5)
    assert (counted.processed_total, counted.failed_total) == (1, 1)
    assert ids(await lease(broker, now=T0 + 5)) == ["a", "b"]


async def test_recovery_archives_once_crashes_exceed_the_limit(broker: Broker) -> None:
    """recover_expired: "once crashes > max_crashes, to the archive", named a poison job."""
    await enqueue(broker, job("a"))
    await lease_one(broker, lease_for=1)
    assert (await broker.recover_expired([DEFAULT], T0 + 1, max_crashes=1)).requeued == ["a"]
    await lease_one(broker, now=T0 + 1, lease_for=1)
    recovery = await broker.recover_expired([DEFAULT], T0 + 2, max_crashes=1)
    assert (recovery.requeued, recovery.archived) == ([], ["a"])
    snapshot = await info(broker, "a", now=T0 + 2)
    assert (snapshot.state, snapshot.crashes, snapshot.last_error, snapshot.archived_at) == (
        JobState.ARCHIVED,
        2,
        poison_reason(2),
        T0 + 2,
    )


async def test_recovery_leaves_live_leases_alone_and_goes_earliest_first(broker: Broker) -> None:
    """recover_expired: only leases with expiry <= now, "earliest expiry first"."""
    await enqueue(broker, job("a"), job("b"), job("c"))
    await lease_one(broker, lease_for=3)
    await lease_one(broker, lease_for=2)
    await lease_one(broker, lease_for=4)
    recovery = await broker.recover_expired([DEFAULT], T0 + 3, max_crashes=5)
    assert recovery.requeued == ["b", "a"]
    assert (await info(broker, "c", now=T0 + 3)).state is JobState.ACTIVE


async def test_purge_deletes_completed_jobs_whose_retention_ended(broker: Broker) -> None:
    """purge_expired: "completed jobs whose retention ended (expiry <= now)"."""
    await enqueue(broker, job("short", retention=10), job("long", retention=11))
    await broker.settle([Settlement.complete(t) for t in await lease(broker)], T0)
    assert await broker.purge_expired([DEFAULT], T0 + 10, 100, 86_400) == 1
    with pytest.raises(JobNotFound):
        await info(broker, "short", now=T0 + 10)
    assert (await info(broker, "long", now=T0 + 10)).state is JobState.COMPLETED


async def test_purge_caps_the_archive_by_count_oldest_first(broker: Broker) -> None:
    """purge_expired: "the oldest archived jobs beyond the newest archive_max_size"."""
    await enqueue(broker, job("a"), job("b"), job("c"))
    for offset, taken in enumerate(await lease(broker)):
        await broker.settle([Settlement.archive(taken, "boom")], T0 + offset)
    assert await broker.purge_expired([DEFAULT], T0 + 5, 1, 86_400) == 2
    assert (await stats(broker, now=T0 + 5)).archived == 1
    assert (await info(broker, "c", now=T0 + 5)).state is JobState.ARCHIVED


async def test_purge_caps_the_archive_by_age(broker: Broker) -> None:
    """purge_expired: "archived jobs archived before now - archive_max_age"."""
    await enqueue(broker, job("old"), job("edge"))
    old, edge = await lease(broker)
    await broker.settle([Settlement.archive(old, "boom")], T0)
    await broker.settle([Settlement.archive(edge, "boom")], T0 + 0.125)
    assert await broker.purge_expired([DEFAULT], T0 + 60.125, 100, 60) == 1
    assert (await info(broker, "edge", now=T0 + 60.125)).state is JobState.ARCHIVED


async def test_purging_an_archived_holder_frees_its_lock(broker: Broker) -> None:
    """docs/broker-protocol.md: a unique lock is released when its job is deleted; purge deletes."""
    await enqueue(broker, job("a", unique_for=600, unique_key="k"))
    await broker.settle([Settlement.archive(await lease_one(broker), "boom")], T0)
    assert await broker.purge_expired([DEFAULT], T0, 0, 86_400) == 1
    [again] = await enqueue(broker, job("b", unique_for=600, unique_key="k"))
    assert again.status is ENQUEUED


# --------------------------------------------------------------------------- inspection


async def test_daily_counters_follow_the_utc_day_of_now(broker: Broker) -> None:
    """Counters are "a total and one per UTC day of now"; daily_stats is newest (today) first."""
    midnight = 1_750_032_000.0  # 2025-06-16T00:00:00Z; T0 is 16m40s before it
    await enqueue(broker, job("a"), job("b"), job("c"))
    a, b, c = await lease(broker)
    await broker.settle([Settlement.complete(a), Settlement.archive(b, "boom")], midnight - 1)
    await broker.settle([Settlement.archive(c, "boom")], midnight)
    days = await broker.daily_stats(DEFAULT, 3, midnight + 10)
    assert [(d.date, d.processed, d.failed) for d in days] == [
        ("2025-06-16", 1, 1),
        ("2025-06-15", 2, 1),
        ("2025-06-14", 0, 0),
    ]
    today = await stats(broker, now=midnight + 10)
    assert (today.processed_today, today.failed_today, today.processed_total, today.failed_total) == (1, 1, 3, 2)


async def test_latency_is_the_wait_of_the_job_at_the_head(broker: Broker) -> None:
    """queue_stats: "latency = now - pending_since of the job at the head of pending (0 when empty)"."""
    assert (await enqueue(broker, job("a")))[0].ok
    assert (await stats(broker, now=T0 + 7)).latency == 7
    taken = await lease_one(broker, now=T0 + 7)
    assert (await stats(broker, now=T0 + 8)).latency == 0
    await broker.settle([Settlement.requeue(taken)], T0 + 8)
    counted = await stats(broker, now=T0 + 9.5)
    assert (counted.latency, counted.timestamp) == (1.5, T0 + 9.5)


async def test_job_info_times_belong_to_their_state(broker: Broker) -> None:
    """job_info: started_at and lease_expires_at "only while active", expires_at only
    while completed, archived_at only while archived."""
    await enqueue(broker, job("a"))
    taken = await lease_one(broker)
    await broker.settle([Settlement.retry(taken, T0 + 5, "boom")], T0 + 1)
    retrying = await info(broker, "a", now=T0 + 1)
    assert (retrying.started_at, retrying.lease_expires_at, retrying.archived_at, retrying.expires_at) == (
        None,
        None,
        None,
        None,
    )
    await broker.forward_due([DEFAULT], T0 + 5)
    pending = await info(broker, "a", now=T0 + 5)
    assert (pending.state, pending.next_process_at, pending.last_error) == (JobState.PENDING, T0 + 5, "boom")


async def test_payload_and_result_lookups_say_what_is_missing(broker: Broker) -> None:
    """job_payload, job_result: raw bytes, JobNotFound, ResultNotFound."""
    await enqueue(broker, job("a", payload=b"\x00raw\xff"))
    assert await broker.job_payload(DEFAULT, "a") == b"\x00raw\xff"
    with pytest.raises(ResultNotFound):
        await broker.job_result(DEFAULT, "a")
    with pytest.raises(JobNotFound):
        await broker.job_payload(DEFAULT, "nope")
    with pytest.raises(JobNotFound):
        await broker.job_info(DEFAULT, "nope", T0)


async def test_list_jobs_pages_through_a_state_in_its_order(broker: Broker) -> None:
    """list_jobs: "One 1-based page of the jobs in state: pending in dequeue order,
    active by start, scheduled/retry by due time, archived newest first, completed by
    expiry, aggregating (requires group) by arrival"."""
    await enqueue(broker, job("x1"), job("x2"), job("x3"), job("p1"), job("p2"))
    x1, x2, x3, p1 = await lease(broker, limit=4)
    await broker.settle([Settlement.archive(x1, "boom"), Settlement.archive(x3, "boom")], T0 + 1)
    await broker.settle([Settlement.archive(x2, "boom"), Settlement.requeue(p1)], T0 + 2)

    async def listed(state: JobState, page: int = 1, size: int = 10) -> list[str]:
        return [snapshot.id for snapshot in await broker.list_jobs(DEFAULT, state, page, size, T0 + 2)]

    assert await listed(JobState.PENDING) == ["p1", "p2"]
    assert await listed(JobState.ARCHIVED) == ["x2", "x3", "x1"]  # newest first; ties: greater ID first
    pages = [await listed(JobState.ARCHIVED, page, 2) for page in (1, 2, 3)]
    assert pages == [["x2", "x3"], ["x1"], []]
    await enqueue(broker, job("s2", delay=20), job("s1", delay=10), job("g2", group="g"), job("g1", group="g"))
    assert await listed(JobState.SCHEDULED) == ["s1", "s2"]
    assert [s.id for s in await broker.list_jobs(DEFAULT, JobState.AGGREGATING, 1, 10, T0, "g")] == ["g1", "g2"]
    snapshot = (await broker.list_jobs(DEFAULT, JobState.PENDING, 1, 1, T0 + 2))[0]
    assert snapshot == await info(broker, "p1", now=T0 + 2)


async def test_list_jobs_refuses_what_it_cannot_page(broker: Broker) -> None:
    """list_jobs: InvalidPagination for a page below 1 or a size outside 1-1000,
    QueueNotFound, and GroupRequired for aggregating jobs without a group."""
    await enqueue(broker, job("a"))
    for page, size in ((0, 10), (1, 0), (1, 1001)):
        with pytest.raises(InvalidPagination):
            await broker.list_jobs(DEFAULT, JobState.PENDING, page, size, T0)
    with pytest.raises(QueueNotFound):
        await broker.list_jobs("nowhere", JobState.PENDING, 1, 10, T0)
    with pytest.raises(GroupRequired):
        await broker.list_jobs(DEFAULT, JobState.AGGREGATING, 1, 10, T0)


async def test_server_info_and_memory_usage_are_the_drivers_own(broker: Broker) -> None:
    """server_info: "what the server says about itself" (a ServerReport, fields of their
    types); memory_usage: bytes, QueueNotFound, and Unsupported "unless
    capabilities.memory_usage"."""
    assert server_report_problems(await broker.server_info()) == []
    if not broker.capabilities.memory_usage:
        with pytest.raises(Unsupported):
            await broker.memory_usage(DEFAULT)
        return
    with pytest.raises(QueueNotFound):
        await broker.memory_usage(DEFAULT)
    await enqueue(broker, job("a", payload=b"x" * 1000))
    assert await broker.memory_usage(DEFAULT) > 1000
