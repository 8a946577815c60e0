"""The reference broker: docs/broker-protocol.md written as plain Python.

This is the oracle the state machines hold every driver to, so it is written to be read
next to the spec rather than to be fast: each queue is a dict of jobs plus the one
ordering the states cannot give (the pending list); every other ordering is derived on
demand by sorting the jobs in a state. Every move between states is checked against
``queue_core.states``.

Where the prose is silent the model picks one reading and says so here, so a driver
author can see what the kit expects:

- Ties in a time-ordered set (two leases expiring together, two jobs due together) are
  broken by job ID, as a sorted set orders equal scores.
- A time is "reached" when it is ``<= now`` (leases, due times, deadlines, retention)
  and a unique lock is free from its expiry on (``now >= process_at + unique_for``),
  matching "held until". The archive age cap removes jobs archived strictly before
  ``now - archive_max_age``.
- Every entry into pending (enqueue, forward, requeue, recovery) sets ``pending_since``
  to the ``now`` of that call. Recovery treats its jobs one by one, each pushed to the
  head of pending, so the last one recovered is the next one dequeued.
- Archiving because the deadline passed is a failure like any other: it records
  ``last_failed_at`` and keeps the unique lock.
- A result, once written, stays on the job through later attempts.
- A unique lock is released whenever its holder is deleted (completion without
  retention, revocation, purge of an archived job), as docs/broker-protocol.md's settlement
  table has it. Archiving keeps it unless ``release_unique``.
- ``JobRecord.unique_key`` / ``JobInfo.unique_key`` hold the lock's identity
  (``Job.lock_key``: the caller's key, or ``"<type>:<digest>"``).
- ``pause`` on a queue nobody enqueued to sets the flag but does not register the
  queue.
- Dependencies settle in the dependency's own transition (docs/broker-protocol.md,
  dependencies): dependents are visited in job-ID order, a cascade of 'cancel' breadth
  first; a released job goes to the tail of pending (or to scheduled while its process
  time is ahead). Only a job in state waiting is ever released or cancelled by policy.
- ``wait_for_finished`` announcements: every move into completed or archived and every
  deletion announces the job once (``finished`` collects them per step); the state
  machines compare them with the driver's as multisets, since the order between the
  jobs of one call is not fixed.
- Operator actions, aggregation and coordination follow the rules docs/broker-protocol.md
  spells out for them: the order of errors, the cancel flag's life, what keeps a queue
  from deletion, group order and staging deadlines, expiry by the callers' ``now``.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from queue_core import (
    DailyStats,
    EnqueueOutcome,
    EnqueueStatus,
    GroupRequired,
    Job,
    JobInfo,
    JobNotFound,
    JobRecord,
    Lease,
    MinuteMetrics,
    OperationNotAllowed,
    QueueNotEmpty,
    QueueNotFound,
    QueueStats,
    Recovery,
    Renewal,
    ResultNotFound,
    ServerReport,
    SettleKind,
    Settlement,
    Unsupported,
    validation,
)
from queue_core.states import ARCHIVABLE, CANCELLABLE, DELETABLE, RUNNABLE, JobState, is_legal

DEADLINE_EXCEEDED = "deadline exceeded before start"
LEASE_EXPIRED = "lease expired"
CANCELLED = "cancelled"
#: The time each sorted state is ordered by (list_jobs, the bulk actions).
ORDERED_BY = {
    JobState.ACTIVE: "started_at",
    JobState.SCHEDULED: "due_at",
    JobState.RETRY: "due_at",
    JobState.ARCHIVED: "archived_at",
    JobState.COMPLETED: "expires_at",
    JobState.WAITING: "enqueued_at",
}
#: How a bulk action names itself in ``GroupRequired`` (as the Manager does).
GERUNDS = {"run": "running", "archive": "archiving", "delete": "deleting"}
#: The deadline of a staging set an operator took a member out of: due for reclaim now.
SPOILED = -math.inf


def dependency_failed(job_id: str) -> str:
    """The error of a job archived because a dependency was archived or deleted."""
    return f"cancelled: dependency {job_id} did not complete"


def poison_reason(crashes: int) -> str:
    """The error of a job archived by recover_expired: it keeps losing its worker."""
    return f"lease expired {crashes} times (the job may crash its worker)"


def utc_day(now: float) -> str:
    """The UTC date of ``now`` as ``YYYY-MM-DD`` (the key of daily counters)."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


@dataclass
class StoredJob:
    """One job as the broker holds it: the enqueued ``Job`` plus its life so far."""

    job: Job
    state: JobState
    enqueued_at: float
    retried: int = 0
    crashes: int = 0
    bounces: int = 0
    last_error: str | None = None
    last_failed_at: float | None = None
    #: the traceback of the last failed attempt (settle RETRY / ARCHIVE store or clear it).
    traceback: str | None = None
    result: bytes | None = None
    #: an operator asked to cancel it while it ran; withdrawn only by running it again.
    cancel_requested: bool = False
    # Fields that belong to one state; ``_move`` clears them on every transition.
    joined_at: float | None = None  # aggregating: when it joined its group
    staged_in: str | None = None  # aggregating: the staging set holding it, if any
    pending_since: float | None = None
    due_at: float | None = None  # scheduled / retry
    started_at: float | None = None  # active
    lease_expires_at: float | None = None  # active
    token: str | None = None  # active
    completed_at: float | None = None  # completed
    expires_at: float | None = None  # completed
    archived_at: float | None = None  # archived
    #: dependencies still waited for (only changed while the job is waiting).
    waiting_for: set[str] = field(default_factory=set)
    #: results copied from completed dependencies, by dependency ID.
    dependency_results: dict[str, bytes] = field(default_factory=dict)

    @property
    def id(self) -> str:
        assert self.job.job_id is not None
        return self.job.job_id

    def record(self) -> JobRecord:
        job = self.job
        return JobRecord(
            id=self.id,
            type=job.type,
            queue=job.queue,
            payload=job.payload,
            max_retries=job.max_retries,
            retried=self.retried,
            timeout=job.timeout,
            deadline=job.deadline,
            retention=job.retention,
            group=job.group,
            unique_key=job.lock_key,
            headers=dict(job.headers),
            enqueued_at=self.enqueued_at,
            crashes=self.crashes,
            bounces=self.bounces,
            last_error=self.last_error,
        )

    def info(self) -> JobInfo:
        job = self.job
        next_process_at = self.pending_since if self.state is JobState.PENDING else self.due_at
        return JobInfo(
            id=self.id,
            type=job.type,
            queue=job.queue,
            state=self.state,
            payload_size=len(job.payload),
            max_retries=job.max_retries,
            retried=self.retried,
            crashes=self.crashes,
            bounces=self.bounces,
            enqueued_at=self.enqueued_at,
            headers=dict(job.headers),
            timeout=job.timeout,
            deadline=job.deadline,
            retention=job.retention,
            group=job.group,
            unique_key=job.lock_key,
            next_process_at=next_process_at,
            started_at=self.started_at,
            lease_expires_at=self.lease_expires_at,
            completed_at=self.completed_at,
            expires_at=self.expires_at,
            archived_at=self.archived_at,
            last_error=self.last_error,
            last_failed_at=self.last_failed_at,
            has_result=self.result is not None,
            result_size=len(self.result) if self.result is not None else 0,
            depends_on=job.depends_on,
            waiting_for=len(self.waiting_for),
            on_dependency_failure=job.on_dependency_failure if job.depends_on else None,
            last_traceback=self.traceback,
        )


@dataclass
class UniqueLock:
    holder: str
    until: float

    def held_at(self, now: float) -> bool:
        return now < self.until


@dataclass
class StagingSet:
    """Members of one group taken out of it by ``aggregation_check``, until committed
    (deleted with their records) or reclaimed (back to the group)."""

    group: str
    members: list[str]
    deadline: float


@dataclass
class ModelQueue:
    name: str
    registered: bool = False
    paused: bool = False
    jobs: dict[str, StoredJob] = field(default_factory=dict)
    #: pending job IDs, head (next to dequeue) first.
    pending: list[str] = field(default_factory=list)
    #: group name -> IDs of its aggregating jobs not staged (order: ``group_members``).
    groups: dict[str, list[str]] = field(default_factory=dict)
    #: set ID -> staging set.
    staging: dict[str, StagingSet] = field(default_factory=dict)
    #: lock identity (``Job.lock_key``) -> lock.
    locks: dict[str, UniqueLock] = field(default_factory=dict)
    #: job ID -> IDs of the jobs linked to wait for it.
    dependents: dict[str, set[str]] = field(default_factory=dict)
    processed_total: int = 0
    failed_total: int = 0
    processed_by_day: Counter[str] = field(default_factory=Counter)
    failed_by_day: Counter[str] = field(default_factory=Counter)

    def in_state(self, state: JobState) -> list[StoredJob]:
        return [job for job in self.jobs.values() if job.state is state]

    def by_time(self, state: JobState, when: str) -> list[StoredJob]:
        """Jobs in ``state`` ordered by the time attribute ``when``, ties by ID."""
        return sorted(self.in_state(state), key=lambda job: (getattr(job, when), job.id))

    def group_members(self, group: str) -> list[StoredJob]:
        """The group's members (staged ones excluded), oldest first, ties by ID."""
        members = [self.jobs[job_id] for job_id in self.groups.get(group, [])]
        return sorted(members, key=lambda job: (job.joined_at, job.id))

    def holds_work(self) -> bool:
        """Whether ``delete_queue`` without ``force`` must refuse: jobs counted in
        ``QueueStats.size`` other than active ones (checked first)."""
        waiting = (JobState.PENDING, JobState.SCHEDULED, JobState.RETRY, JobState.ARCHIVED, JobState.WAITING)
        return any(job.state in waiting for job in self.jobs.values()) or any(self.groups.values())

    def count(self, now: float, *, failed: bool) -> None:
        day = utc_day(now)
        self.processed_total += 1
        self.processed_by_day[day] += 1
        if failed:
            self.failed_total += 1
            self.failed_by_day[day] += 1

    def release_lock(self, job: StoredJob) -> None:
        """Release the job's unique lock, if this job is the one holding it."""
        key = job.job.lock_key
        if key is not None and key in self.locks and self.locks[key].holder == job.id:
            del self.locks[key]


class ReferenceBroker:
    """The Broker protocol, synchronous, over plain Python state: every concern but
    the waits (``wait_for_jobs``, ``wait_for_cancel``, ``wait_for_finished``) and the
    driver-specific reports (``memory_usage`` is unsupported, ``server_info`` names the
    model).

    ``touched`` collects ``(queue, job_id)`` of every job a call changed (created,
    moved, deleted), and ``changed_queues`` the queues whose own flags changed (pause,
    deletion), so the state machine knows which snapshots to compare. ``finished``
    lists ``(queue, job_id)`` once per announcement ``wait_for_finished`` would make.
    """

    def __init__(self) -> None:
        self.queues: dict[str, ModelQueue] = {}
        self.touched: set[tuple[str, str]] = set()
        self.changed_queues: set[str] = set()
        self.finished: list[tuple[str, str]] = []
        #: whether the last ``dequeue`` archived a job whose deadline had passed.
        self.deadline_archived = False
        self._tokens = itertools.count(1)
        self._set_ids = itertools.count(1)
        # Coordination: global, not per queue.
        self.claims: dict[str, float] = {}  # key -> claimed until
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, as of)
        self.heartbeats: dict[str, dict[str, tuple[float, bytes]]] = {}  # kind -> member -> (until, info)
        self.events: dict[str, dict[bytes, float]] = {}  # stream -> event -> recorded at
        # Metrics history: (queue, minute) -> (expiry, job type -> counts).
        self.metrics: dict[tuple[str, int], tuple[float, dict[str, MinuteMetrics]]] = {}

    # ----------------------------------------------------------------- helpers

    def _queue(self, name: str) -> ModelQueue:
        if name not in self.queues:
            self.queues[name] = ModelQueue(name)
        return self.queues[name]

    def _registered(self, name: str) -> ModelQueue:
        queue = self.queues.get(name)
        if queue is None or not queue.registered:
            raise QueueNotFound(name)
        return queue

    def _job(self, queue: str, job_id: str) -> StoredJob:
        model = self.queues.get(queue)
        if model is None or job_id not in model.jobs:
            raise JobNotFound(queue, job_id)
        return model.jobs[job_id]

    def _move(self, job: StoredJob, target: JobState) -> None:
        """Change state, checked against the transition table; state fields reset."""
        assert is_legal(job.state, target), f"model bug: illegal move {job.state} -> {target}"
        assert job.staged_in is None, "model bug: a staged job moves only once detached"
        job.state = target
        job.joined_at = job.pending_since = job.due_at = job.started_at = job.lease_expires_at = None
        job.token = job.completed_at = job.expires_at = job.archived_at = None
        self.touched.add((job.job.queue, job.id))
        if target in (JobState.COMPLETED, JobState.ARCHIVED):
            self.finished.append((job.job.queue, job.id))

    def _detach(self, queue: ModelQueue, job: StoredJob) -> None:
        """Take a job out of the container of its state before an operator moves it: the
        pending list, its group, or its staging set (which is then due for reclaim at
        once, so its commit is STALE: a member is never both run and aggregated)."""
        if job.state is JobState.PENDING:
            queue.pending.remove(job.id)
        elif job.state is JobState.WAITING:
            self._unlink(queue, job)
        elif job.staged_in is not None:
            staging = queue.staging[job.staged_in]
            staging.members.remove(job.id)
            staging.deadline = SPOILED
            job.staged_in = None
        elif job.state is JobState.AGGREGATING:
            assert job.job.group is not None
            self._leave_group(queue, job.job.group, job.id)

    @staticmethod
    def _leave_group(queue: ModelQueue, group: str, job_id: str) -> None:
        queue.groups[group].remove(job_id)
        if not queue.groups[group]:
            del queue.groups[group]

    def _delete(self, queue: ModelQueue, job: StoredJob, now: float | None = None) -> None:
        """Delete the record; with ``now`` the jobs waiting for it apply their policies
        (without, its dependents were settled already or go with their queue)."""
        assert is_legal(job.state, None), f"model bug: cannot delete a {job.state} job"
        queue.release_lock(job)
        del queue.jobs[job.id]
        self.touched.add((queue.name, job.id))
        self.finished.append((queue.name, job.id))
        if now is not None:
            self._settle_dependents(queue, job.id, "gone", now)
        else:
            queue.dependents.pop(job.id, None)

    # ----------------------------------------------------------------- dependencies

    @staticmethod
    def _unlink(queue: ModelQueue, job: StoredJob) -> None:
        """A waiting job leaves waiting other than by release: no dependency holds it."""
        for dependency in job.job.depends_on:
            linked = queue.dependents.get(dependency)
            if linked is not None:
                linked.discard(job.id)
                if not linked:
                    del queue.dependents[dependency]

    def _release(self, queue: ModelQueue, job: StoredJob, now: float) -> None:
        """A waiting job whose dependencies are settled: pending, or scheduled until due."""
        process_at = job.job.process_at(job.enqueued_at)
        if process_at > now:
            self._move(job, JobState.SCHEDULED)
            job.due_at = process_at
        else:
            self._to_pending(queue, job, now, head=False)

    def _settle_dependents(
        self, queue: ModelQueue, job_id: str, how: str, now: float, result: bytes | None = None
    ) -> None:
        """Job ``job_id`` completed (``done``), was archived or is ``gone``: each job
        waiting for it is released, cancelled (cascading) or kept, by its policy."""
        work: list[tuple[str, str, bytes | None]] = [(job_id, how, result)]
        while work:
            dependency, event, copied = work.pop(0)
            linked = queue.dependents.get(dependency, set())
            for dependent_id in sorted(linked):
                dependent = queue.jobs.get(dependent_id)
                if dependent is None or dependent.state is not JobState.WAITING:
                    continue
                policy = dependent.job.on_dependency_failure
                if event == "done" or policy == "run":
                    if copied is not None:
                        dependent.dependency_results[dependency] = copied
                    linked.discard(dependent_id)
                    dependent.waiting_for.discard(dependency)
                    self.touched.add((queue.name, dependent_id))
                    if not dependent.waiting_for:
                        self._release(queue, dependent, now)
                elif policy == "cancel":
                    self._unlink(queue, dependent)
                    self._to_archive(dependent, now, dependency_failed(dependency))
                    work.append((dependent_id, "archived", None))
            if event != "archived" or not linked:
                queue.dependents.pop(dependency, None)

    def _to_pending(self, queue: ModelQueue, job: StoredJob, now: float, *, head: bool) -> None:
        self._move(job, JobState.PENDING)
        job.pending_since = now
        if head:
            queue.pending.insert(0, job.id)
        else:
            queue.pending.append(job.id)

    def _to_group(self, queue: ModelQueue, job: StoredJob, now: float) -> None:
        self._move(job, JobState.AGGREGATING)
        job.joined_at = now
        self._join_group(queue, job)

    @staticmethod
    def _join_group(queue: ModelQueue, job: StoredJob) -> None:
        assert job.job.group is not None and job.joined_at is not None
        queue.groups.setdefault(job.job.group, []).append(job.id)

    def _to_archive(self, job: StoredJob, now: float, error: str) -> None:
        self._move(job, JobState.ARCHIVED)
        job.archived_at = now
        job.last_error = error
        job.last_failed_at = now

    def _archived(self, queue: ModelQueue, job: StoredJob, now: float) -> None:
        """A job just archived (by any path): the jobs waiting for it apply their policies."""
        self._settle_dependents(queue, job.id, "archived", now)

    def holds(self, lease: Lease) -> bool:
        """Whether ``lease`` still owns its job (settling it would be applied)."""
        return self._holding(lease) is not None

    def _holding(self, lease: Lease) -> StoredJob | None:
        """The job ``lease`` still owns: active under the lease's token."""
        queue = self.queues.get(lease.queue)
        job = queue.jobs.get(lease.job_id) if queue is not None else None
        if job is None or job.state is not JobState.ACTIVE or job.token != lease.token:
            return None
        return job

    def _queues_in(self, names: Sequence[str]) -> Iterator[ModelQueue]:
        return (self.queues[name] for name in names if name in self.queues)

    # ----------------------------------------------------------------- enqueue

    def enqueue(self, jobs: Sequence[Job], now: float) -> list[EnqueueOutcome]:
        return [self._enqueue_one(job, now) for job in jobs]

    def enqueue_flow(self, jobs: Sequence[Job], now: float) -> list[EnqueueOutcome]:
        """Per queue all or nothing: the first refusal (in order) writes nothing of it."""
        outcomes: dict[int, EnqueueOutcome] = {}
        by_queue: dict[str, list[int]] = {}
        for index, job in enumerate(jobs):
            by_queue.setdefault(job.queue, []).append(index)
        for name, indexes in by_queue.items():
            refusal = self._flow_refusal(self._queue(name), [jobs[i] for i in indexes], now)
            for position, index in enumerate(indexes):
                job = jobs[index]
                assert job.job_id is not None
                if refusal is None:
                    outcomes[index] = self._enqueue_one(job, now)
                elif refusal[0] == position:
                    outcomes[index] = refusal[1]
                else:
                    outcomes[index] = EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.FLOW_REJECTED)
        return [outcomes[index] for index in range(len(jobs))]

    @staticmethod
    def _flow_refusal(queue: ModelQueue, jobs: Sequence[Job], now: float) -> tuple[int, EnqueueOutcome] | None:
        ids: set[str] = set()
        locks: dict[str, str] = {}
        for position, job in enumerate(jobs):
            assert job.job_id is not None
            if job.job_id in ids or job.job_id in queue.jobs:
                return position, EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.ID_CONFLICT)
            missing = next((d for d in job.depends_on if d not in ids and d not in queue.jobs), None)
            if missing is not None:
                return position, EnqueueOutcome(
                    job.job_id, job.queue, EnqueueStatus.DEPENDENCY_MISSING, missing=missing
                )
            lock_key = job.lock_key
            if lock_key is not None:
                lock = queue.locks.get(lock_key)
                holder = locks.get(lock_key) or (lock.holder if lock is not None and lock.held_at(now) else None)
                if holder is not None:
                    return position, EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.DUPLICATE, holder=holder)
                locks[lock_key] = job.job_id
            ids.add(job.job_id)
        return None

    def _enqueue_one(self, job: Job, now: float) -> EnqueueOutcome:
        assert job.job_id is not None, "every job carries an ID (Job.with_id)"
        queue = self._queue(job.queue)
        if job.job_id in queue.jobs:
            return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.ID_CONFLICT)
        waits_for: list[str] = []
        cancelled_by: str | None = None
        copies: dict[str, bytes] = {}
        for dependency_id in job.depends_on:
            dependency = queue.jobs.get(dependency_id)
            if dependency is None:
                return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.DEPENDENCY_MISSING, missing=dependency_id)
            if dependency.state is JobState.COMPLETED:
                if dependency.result is not None:
                    copies[dependency_id] = dependency.result
            elif dependency.state is JobState.ARCHIVED:
                if job.on_dependency_failure == "cancel":
                    cancelled_by = cancelled_by or dependency_id
                elif job.on_dependency_failure == "wait":
                    waits_for.append(dependency_id)
            else:
                waits_for.append(dependency_id)
        process_at = job.process_at(now)
        lock_key = job.lock_key
        if lock_key is not None:
            lock = queue.locks.get(lock_key)
            if lock is not None and lock.held_at(now):
                return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.DUPLICATE, holder=lock.holder)
            assert job.unique_for is not None
            queue.locks[lock_key] = UniqueLock(job.job_id, process_at + job.unique_for)
        if cancelled_by is not None or waits_for:
            state = JobState.ARCHIVED if cancelled_by is not None else JobState.WAITING
            stored = StoredJob(job, state, enqueued_at=now, dependency_results=copies)
            queue.jobs[job.job_id] = stored
            self.touched.add((job.queue, job.job_id))
            queue.registered = True
            # counted even when archived at once (unlinked: nothing will settle it)
            stored.waiting_for = set(waits_for)
            if cancelled_by is not None:
                stored.archived_at = stored.last_failed_at = now
                stored.last_error = dependency_failed(cancelled_by)
            else:
                for dependency_id in waits_for:
                    queue.dependents.setdefault(dependency_id, set()).add(job.job_id)
            return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.ENQUEUED, state=state)
        if process_at > now:
            state = JobState.SCHEDULED
        elif job.group is not None:
            state = JobState.AGGREGATING
        else:
            state = JobState.PENDING
        assert is_legal(None, state), f"model bug: cannot enqueue to {state}"
        stored = StoredJob(job, state, enqueued_at=now, dependency_results=copies)
        queue.jobs[job.job_id] = stored
        self.touched.add((job.queue, job.job_id))
        if state is JobState.SCHEDULED:
            stored.due_at = process_at
        elif state is JobState.AGGREGATING:
            stored.joined_at = now
            self._join_group(queue, stored)
        else:
            stored.pending_since = now
            queue.pending.append(job.job_id)
        queue.registered = True
        return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.ENQUEUED, state=stored.state)

    # ----------------------------------------------------------------- processing

    def dequeue(self, queues: Sequence[str], now: float, lease_for: float, worker_id: str, limit: int) -> list[Lease]:
        leases: list[Lease] = []
        self.deadline_archived = False
        for queue in self._queues_in(queues):
            if queue.paused:
                continue
            while queue.pending and len(leases) < limit:
                job = queue.jobs[queue.pending.pop(0)]
                if job.job.deadline is not None and job.job.deadline <= now:
                    self._to_archive(job, now, DEADLINE_EXCEEDED)
                    self.deadline_archived = True
                    queue.count(now, failed=True)
                    self._archived(queue, job, now)
                    continue
                self._move(job, JobState.ACTIVE)
                job.started_at = now
                job.lease_expires_at = now + lease_for
                job.token = f"{worker_id}:model-{next(self._tokens)}"
                leases.append(Lease(job.record(), job.token, job.lease_expires_at))
        return leases

    def settle(self, settlements: Sequence[Settlement], now: float) -> list[bool]:
        return [self._settle_one(settlement, now) for settlement in settlements]

    def _settle_one(self, settlement: Settlement, now: float) -> bool:
        job = self._holding(settlement.lease)
        if job is None:
            return False
        queue = self.queues[job.job.queue]
        kind = settlement.kind
        if kind is SettleKind.COMPLETE:
            queue.release_lock(job)
            queue.count(now, failed=False)
            result = settlement.result if settlement.result is not None else job.result
            self._settle_dependents(queue, job.id, "done", now, result)
            if job.job.retention > 0:
                self._move(job, JobState.COMPLETED)
                job.completed_at = now
                job.expires_at = now + job.job.retention
                if settlement.result is not None:
                    job.result = settlement.result
            else:
                self._delete(queue, job)
        elif kind is SettleKind.RETRY:
            assert settlement.retry_at is not None and settlement.error is not None
            self._move(job, JobState.RETRY)
            job.due_at = settlement.retry_at
            job.last_error = settlement.error
            job.last_failed_at = now
            job.traceback = settlement.traceback
            if settlement.counts_as_failure:
                job.retried += 1
                queue.count(now, failed=True)
            else:
                job.bounces += 1
        elif kind is SettleKind.ARCHIVE:
            assert settlement.error is not None
            self._to_archive(job, now, settlement.error)
            job.traceback = settlement.traceback
            if settlement.release_unique:
                queue.release_lock(job)
            queue.count(now, failed=True)
            self._archived(queue, job, now)
        elif kind is SettleKind.REQUEUE:
            self._to_pending(queue, job, now, head=True)
        elif kind is SettleKind.REVOKE:
            queue.count(now, failed=False)
            self._delete(queue, job, now)
        else:  # pragma: no cover - SettleKind is closed
            raise AssertionError(f"unknown settle kind {kind!r}")
        return True

    def extend_leases(self, leases: Sequence[Lease], now: float, lease_for: float) -> Renewal:
        lost: list[Lease] = []
        cancelled: list[Lease] = []
        for lease in leases:
            job = self._holding(lease)
            if job is None:
                lost.append(lease)
                continue
            job.lease_expires_at = now + lease_for
            self.touched.add((job.job.queue, job.id))
            if job.cancel_requested:
                cancelled.append(lease)
        return Renewal(lost=lost, cancelled=cancelled)

    def lose_lease(self, queue_name: str, job_id: str) -> bool:
        """The testing interface's crash window: the job stays active under its token,
        but nothing records when its lease expires until a renewal."""
        queue = self.queues.get(queue_name)
        job = queue.jobs.get(job_id) if queue is not None else None
        if job is None or job.state is not JobState.ACTIVE:
            return False
        job.lease_expires_at = None
        self.touched.add((queue_name, job_id))
        return True

    def write_result(self, lease: Lease, result: bytes) -> bool:
        job = self._holding(lease)
        if job is None:
            return False
        job.result = result
        self.touched.add((job.job.queue, job.id))
        return True

    # ----------------------------------------------------------------- maintenance

    def forward_due(self, queues: Sequence[str], now: float, limit: int = 1000) -> int:
        moved = 0
        for queue in self._queues_in(queues):
            for state in (JobState.SCHEDULED, JobState.RETRY):
                for job in queue.by_time(state, "due_at"):
                    if moved >= limit or job.due_at is None or job.due_at > now:
                        break
                    if job.job.group is not None:
                        self._to_group(queue, job, now)
                    else:
                        self._to_pending(queue, job, now, head=False)
                    moved += 1
        return moved

    def next_due(self, queues: Sequence[str]) -> float | None:
        due = [
            job.due_at
            for queue in self._queues_in(queues)
            for job in queue.jobs.values()
            if job.state in (JobState.SCHEDULED, JobState.RETRY) and job.due_at is not None
        ]
        return min(due, default=None)

    def recover_expired(self, queues: Sequence[str], now: float, max_crashes: int) -> Recovery:
        requeued: list[str] = []
        archived: list[str] = []
        for queue in self._queues_in(queues):
            active = queue.by_time(JobState.ACTIVE, "started_at")
            # Expired leases first (by expiry), then jobs without a lease entry (by start).
            expired = sorted(
                (job for job in active if job.lease_expires_at is not None and job.lease_expires_at <= now),
                key=lambda job: (job.lease_expires_at, job.id),
            )
            orphans = [job for job in active if job.lease_expires_at is None]
            for job in [*expired, *orphans]:
                job.crashes += 1
                if job.crashes > max_crashes:
                    self._to_archive(job, now, poison_reason(job.crashes))
                    archived.append(job.id)
                    self._archived(queue, job, now)
                else:
                    self._to_pending(queue, job, now, head=True)
                    job.last_error = LEASE_EXPIRED
                    job.last_failed_at = now
                    requeued.append(job.id)
                queue.count(now, failed=True)
        return Recovery(requeued=requeued, archived=archived)

    def purge_expired(self, queues: Sequence[str], now: float, archive_max_size: int, archive_max_age: float) -> int:
        deleted = 0
        for queue in self._queues_in(queues):
            for job in queue.by_time(JobState.COMPLETED, "expires_at"):
                assert job.expires_at is not None
                if job.expires_at <= now:
                    self._delete(queue, job, now)
                    deleted += 1
            cutoff = now - archive_max_age
            archive = queue.by_time(JobState.ARCHIVED, "archived_at")  # oldest first
            too_old = [job for job in archive if job.archived_at is not None and job.archived_at < cutoff]
            kept = archive[len(too_old) :]
            beyond_cap = kept[: max(0, len(kept) - archive_max_size)]
            for job in [*too_old, *beyond_cap]:
                self._delete(queue, job, now)
                deleted += 1
        return deleted

    # ----------------------------------------------------------------- inspection

    def list_queues(self) -> list[str]:
        return sorted(name for name, queue in self.queues.items() if queue.registered)

    def queue_stats(self, queue: str, now: float) -> QueueStats:
        model = self._registered(queue)
        counts = Counter(job.state for job in model.jobs.values())
        in_groups = sum(len(members) for members in model.groups.values())
        head = model.jobs[model.pending[0]] if model.pending else None
        latency = now - head.pending_since if head is not None and head.pending_since is not None else 0.0
        day = utc_day(now)
        return QueueStats(
            queue=queue,
            pending=counts[JobState.PENDING],
            active=counts[JobState.ACTIVE],
            scheduled=counts[JobState.SCHEDULED],
            retry=counts[JobState.RETRY],
            archived=counts[JobState.ARCHIVED],
            completed=counts[JobState.COMPLETED],
            aggregating=in_groups,
            groups=len(model.groups),
            waiting=counts[JobState.WAITING],
            paused=model.paused,
            processed_total=model.processed_total,
            failed_total=model.failed_total,
            processed_today=model.processed_by_day[day],
            failed_today=model.failed_by_day[day],
            latency=latency,
            timestamp=now,
        )

    def daily_stats(self, queue: str, days: int, now: float) -> list[DailyStats]:
        model = self._registered(queue)
        today = datetime.fromtimestamp(now, UTC)
        dates = ((today - timedelta(days=back)).strftime("%Y-%m-%d") for back in range(days))
        return [DailyStats(queue, day, model.processed_by_day[day], model.failed_by_day[day]) for day in dates]

    def job_info(self, queue: str, job_id: str, now: float) -> JobInfo:
        return self._job(queue, job_id).info()

    def dependency_results(self, queue: str, job_id: str) -> dict[str, bytes]:
        return dict(self._job(queue, job_id).dependency_results)

    def job_dependents(self, queue: str, job_id: str) -> list[str]:
        self._job(queue, job_id)
        model = self.queues[queue]
        linked = model.dependents.get(job_id, set())
        return sorted(d for d in linked if d in model.jobs and model.jobs[d].state is JobState.WAITING)

    def job_payload(self, queue: str, job_id: str) -> bytes:
        return self._job(queue, job_id).job.payload

    def job_result(self, queue: str, job_id: str) -> bytes:
        job = self._job(queue, job_id)
        if job.result is None:
            raise ResultNotFound(queue, job_id)
        return job.result

    def list_jobs(
        self, queue: str, state: JobState, page: int, page_size: int, now: float, group: str | None = None
    ) -> list[JobInfo]:
        page, page_size = validation.page(page, page_size)
        model = self._registered(queue)
        if state is JobState.AGGREGATING:
            if not group:
                raise GroupRequired("listing")
            jobs = model.group_members(validation.group_name(group))
        elif state is JobState.PENDING:
            jobs = [model.jobs[job_id] for job_id in model.pending]
        elif state is JobState.ARCHIVED:
            jobs = model.by_time(state, "archived_at")[::-1]  # newest first (ties: greater ID first)
        else:
            jobs = model.by_time(state, ORDERED_BY[state])
        start = (page - 1) * page_size
        return [job.info() for job in jobs[start : start + page_size]]

    def memory_usage(self, queue: str, samples: int = 20) -> int:
        raise Unsupported("the reference model stores no bytes to measure")

    def server_info(self) -> ServerReport:
        return ServerReport(backend="reference")

    # ----------------------------------------------------------------- admin

    def pause(self, queue: str) -> bool:
        model = self._queue(queue)
        if model.paused:
            return False
        model.paused = True
        self.changed_queues.add(queue)
        return True

    def resume(self, queue: str) -> bool:
        model = self._queue(queue)
        if not model.paused:
            return False
        model.paused = False
        self.changed_queues.add(queue)
        return True

    def _operand(
        self, queue: str, job_id: str, action: str, allowed: frozenset[JobState]
    ) -> tuple[ModelQueue, StoredJob]:
        """The queue and the job an operator acts on: ``QueueNotFound``, then
        ``JobNotFound``, then ``OperationNotAllowed`` for a state ``action`` refuses."""
        model = self._registered(queue)
        job = self._job(queue, job_id)
        if job.state not in allowed:
            raise OperationNotAllowed(f"cannot {action} job {job_id!r}: it is {job.state.value}")
        return model, job

    def _run(self, queue: ModelQueue, job: StoredJob, now: float) -> None:
        """To the tail of pending, withdrawing any cancel request."""
        self._detach(queue, job)
        self._to_pending(queue, job, now, head=False)
        job.cancel_requested = False

    def _archive(self, queue: ModelQueue, job: StoredJob, now: float) -> None:
        """Archived by an operator: no error recorded, nothing counted, the lock kept."""
        self._detach(queue, job)
        self._move(job, JobState.ARCHIVED)
        job.archived_at = now
        self._archived(queue, job, now)

    def _drop(self, queue: ModelQueue, job: StoredJob, now: float) -> None:
        self._detach(queue, job)
        self._delete(queue, job, now)

    def run_job(self, queue: str, job_id: str, now: float) -> JobState:
        model, job = self._operand(queue, job_id, "run", RUNNABLE)
        former = job.state
        self._run(model, job, now)
        return former

    def archive_job(self, queue: str, job_id: str, now: float) -> JobState:
        model, job = self._operand(queue, job_id, "archive", ARCHIVABLE)
        former = job.state
        self._archive(model, job, now)
        return former

    def delete_job(self, queue: str, job_id: str, now: float) -> JobState:
        model, job = self._operand(queue, job_id, "delete", DELETABLE)
        former = job.state
        self._drop(model, job, now)
        return former

    def request_cancel(self, queue: str, job_id: str, now: float) -> JobState:
        model, job = self._operand(queue, job_id, "cancel", CANCELLABLE)
        former = job.state
        if former is JobState.ACTIVE:
            job.cancel_requested = True
        else:
            self._detach(model, job)
            self._to_archive(job, now, CANCELLED)
            self._archived(model, job, now)
        return former

    def _bulk(
        self, action: str, queue: str, state: JobState, allowed: frozenset[JobState], group: str | None
    ) -> tuple[ModelQueue, list[StoredJob]]:
        """The jobs a bulk action takes, in the order it takes them (the state's
        container: pending head first, a group oldest first, a sorted set by score)."""
        if state not in allowed:
            raise OperationNotAllowed(f"cannot {action} all {state.value} jobs")
        if state is JobState.AGGREGATING and not group:
            raise GroupRequired(GERUNDS[action])
        model = self._registered(queue)
        if state is JobState.AGGREGATING:
            assert group is not None
            return model, model.group_members(group)
        if state is JobState.PENDING:
            return model, [model.jobs[job_id] for job_id in model.pending]
        return model, model.by_time(state, ORDERED_BY[state])

    def run_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        model, jobs = self._bulk("run", queue, state, RUNNABLE, group)
        for job in jobs:
            self._run(model, job, now)
        return len(jobs)

    def archive_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        model, jobs = self._bulk("archive", queue, state, ARCHIVABLE, group)
        for job in jobs:
            # a waiting job that an earlier one cancelled (policy cancel) is archived already
            if job.state is not JobState.ARCHIVED:
                self._archive(model, job, now)
        return len(jobs)

    def delete_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        model, jobs = self._bulk("delete", queue, state, DELETABLE, group)
        for job in jobs:
            self._drop(model, job, now)
        return len(jobs)

    def delete_queue(self, queue: str, force: bool) -> None:
        model = self._registered(queue)
        if model.in_state(JobState.ACTIVE):
            raise OperationNotAllowed(f"cannot delete queue {queue!r}: jobs are active")
        if not force and model.holds_work():
            raise QueueNotEmpty(f"queue {queue!r} still has jobs")
        for job in list(model.jobs.values()):
            job.staged_in = None
            self._delete(model, job)
        model.pending.clear()
        model.dependents.clear()
        model.groups.clear()
        model.staging.clear()
        model.registered = model.paused = False
        model.processed_total = model.failed_total = 0  # the daily counters stay until they expire
        self.changed_queues.add(queue)

    # ----------------------------------------------------------------- aggregation

    def list_groups(self, queue: str) -> dict[str, int]:
        model = self._registered(queue)
        return {group: len(members) for group, members in model.groups.items()}

    def aggregation_check(
        self,
        queue: str,
        group: str,
        now: float,
        grace: float,
        max_delay: float | None,
        max_size: int | None,
        stage_for: float,
    ) -> str | None:
        model = self.queues.get(queue)
        members = model.group_members(group) if model is not None else []
        if model is None or not members:
            return None
        oldest, newest = members[0].joined_at, members[-1].joined_at
        assert oldest is not None and newest is not None
        ready = (
            (max_size is not None and len(members) >= max_size)
            or (max_delay is not None and now - oldest >= max_delay)
            or now - newest >= grace
        )
        if not ready:
            return None
        taken = members[:max_size] if max_size is not None else members
        set_id = f"model-set-{next(self._set_ids)}"
        for job in taken:
            self._leave_group(model, group, job.id)
            job.staged_in = set_id
            self.touched.add((queue, job.id))
        model.staging[set_id] = StagingSet(group, [job.id for job in taken], now + stage_for)
        return set_id

    def _staging(self, queue: str, group: str, set_id: str) -> StagingSet | None:
        model = self.queues.get(queue)
        staging = model.staging.get(set_id) if model is not None else None
        return staging if staging is not None and staging.group == group else None

    def read_staged(self, queue: str, group: str, set_id: str) -> list[JobRecord]:
        staging = self._staging(queue, group, set_id)
        if staging is None:
            return []
        jobs = [self.queues[queue].jobs[job_id] for job_id in staging.members]
        return [job.record() for job in sorted(jobs, key=lambda job: (job.joined_at, job.id))]

    def commit_staged(self, queue: str, group: str, set_id: str, job: Job, now: float) -> EnqueueOutcome:
        job = job.with_options(queue=queue, group=None)
        assert job.job_id is not None, "every aggregate job carries an ID (Job.with_id)"
        staging = self._staging(queue, group, set_id)
        if staging is None or staging.deadline <= now:
            return EnqueueOutcome(job.job_id, queue, EnqueueStatus.STALE)
        outcome = self._enqueue_one(job, now)
        if not outcome.ok:
            staging.deadline = now  # due for reclaim at once
            return outcome
        model = self.queues[queue]
        for member_id in staging.members:
            member = model.jobs[member_id]
            member.staged_in = None
            self._delete(model, member, now)
        del model.staging[set_id]
        return outcome

    def reclaim_staged(self, queue: str, now: float) -> int:
        model = self.queues.get(queue)
        if model is None:
            return 0
        returned = 0
        for set_id, staging in list(model.staging.items()):
            if staging.deadline > now:
                continue
            for member_id in staging.members:
                member = model.jobs[member_id]
                member.staged_in = None
                self._join_group(model, member)  # with the time it first joined
                self.touched.add((queue, member_id))
                returned += 1
            del model.staging[set_id]
        return returned

    # ----------------------------------------------------------------- coordination

    def put_heartbeat(self, kind: str, member_id: str, info: bytes, now: float, ttl: float) -> None:
        self.heartbeats.setdefault(kind, {})[member_id] = (now + ttl, info)

    def remove_heartbeat(self, kind: str, member_id: str) -> None:
        self.heartbeats.get(kind, {}).pop(member_id, None)

    def list_heartbeats(self, kind: str, now: float) -> dict[str, bytes]:
        members = self.heartbeats.get(kind, {})
        for member_id in [member_id for member_id, (until, _) in members.items() if until <= now]:
            del members[member_id]
        return {member_id: info for member_id, (_, info) in members.items()}

    def claim(self, key: str, now: float, ttl: float) -> bool:
        until = self.claims.get(key)
        if until is not None and now < until:
            return False
        self.claims[key] = now + ttl
        return True

    def take_tokens(self, key: str, rate: float, burst: int, now: float) -> float:
        tokens, at = self.buckets.get(key, (float(burst), now))
        tokens = min(burst, tokens + max(0.0, now - at) * rate)  # a clock gone back mints nothing
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / rate
        self.buckets[key] = (tokens, max(now, at))
        return wait

    def record_event(self, stream: str, event: bytes, now: float, keep: int) -> None:
        events = self.events.setdefault(stream, {})
        events[event] = now
        oldest_first = sorted(events, key=lambda recorded: (events[recorded], recorded))
        for dropped in oldest_first[: max(0, len(events) - keep)]:
            del events[dropped]

    def list_events(self, stream: str, limit: int) -> list[tuple[float, bytes]]:
        events = self.events.get(stream, {})
        newest_first = sorted(((at, event) for event, at in events.items()), reverse=True)
        return newest_first[: max(0, limit)]

    # ----------------------------------------------------------------- metrics history

    def record_metrics(self, samples: Sequence[MinuteMetrics], now: float, keep: float) -> None:
        batches: dict[tuple[str, int], list[MinuteMetrics]] = {}
        for sample in samples:
            batches.setdefault((sample.queue, sample.minute), []).append(sample)
        for (queue, minute), batch in batches.items():
            # One queue's minute is one atomic step: its expiry is judged once, before
            # the counts are added.
            expiry, counts = self.metrics.get((queue, minute), (None, {}))
            if expiry is not None and expiry <= now:
                expiry, counts = None, {}  # expired: starts again from nothing
            expiry = minute + keep if expiry is None else max(expiry, minute + keep)
            for sample in batch:
                known = counts.get(sample.job_type)
                counts[sample.job_type] = sample if known is None else known.plus(sample)
            self.metrics[(queue, minute)] = (expiry, counts)

    def read_metrics(self, queue: str, since: int, until: int, now: float) -> list[MinuteMetrics]:
        found = []
        for (name, minute), (expiry, counts) in sorted(self.metrics.items()):
            if name == queue and since <= minute <= until and expiry > now:
                found += [counts[job_type] for job_type in sorted(counts)]
        return found

    # ----------------------------------------------------------------- for the machine

    def take_finished(self, queue: str) -> list[str]:
        """The announcements for ``queue`` not taken yet (for the reference driver)."""
        taken = [job_id for name, job_id in self.finished if name == queue]
        self.finished = [(name, job_id) for name, job_id in self.finished if name != queue]
        return taken

    def known_jobs(self) -> Iterable[tuple[str, str]]:
        """Every ``(queue, job_id)`` currently stored."""
        return [(queue.name, job_id) for queue in self.queues.values() for job_id in queue.jobs]

    def group_size(self, queue: str, group: str) -> int:
        """How many members wait in the group (staged ones not counted)."""
        model = self.queues.get(queue)
        return len(model.groups.get(group, [])) if model is not None else 0
