"""The Broker protocol: every storage operation queue-core needs, and its contract.

A driver implements these methods; the core (Client, Worker, Manager, Scheduler) calls
nothing else. Rules that hold for every method:

- **Atomic.** Each call is one state transition inside the broker. The core never reads
  and then writes; a method either happens wholly or not at all.
- **Time is an argument.** Methods that depend on time take ``now`` (epoch seconds,
  sub-second precision) from the caller's ``Clock``. A driver never reads its own clock
  to decide a transition or an answer; storage it lets expire on its own clock (Redis
  TTLs) is only collected, well after the callers' ``now`` has passed the expiry.
- **Fenced.** Methods that settle or touch an active job take its ``Lease``; if the
  lease's token no longer owns the job (it expired and was recovered, or the job was
  deleted), the write is refused and reported, never applied.
- **Errors at the edge.** A driver raises only ``QueueError`` subclasses:
  ``BrokerUnavailable`` for connection trouble, ``Unsupported`` for an operation its
  ``Capabilities`` leave out. "Not found" is a specific error or a ``False`` result as
  each method says.

The protocol is split by concern; ``Broker`` is all of them together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from queue_core.job import Job
from queue_core.metrics import MinuteMetrics
from queue_core.states import JobState

# --------------------------------------------------------------------------- value types


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a driver supports; the conformance kit and the core consult this."""

    name: str
    async_backends: frozenset[str] = frozenset({"asyncio", "trio"})
    #: ``wait_for_jobs`` returns early on new work (no polling needed).
    blocking_wait: bool = True
    #: every script touches one hash slot; works on Redis Cluster.
    cluster_safe: bool = False
    #: the Manager can estimate memory per queue.
    memory_usage: bool = False
    #: names of the optional concerns implemented: "aggregation", "coordination", "admin",
    #: "metrics", "dependencies" (``depends_on``, ``enqueue_flow``, ``DependencyBroker``).
    features: frozenset[str] = frozenset()
    #: ``TransactionalBroker``: jobs can be enqueued inside the caller's own database
    #: transaction (``Client.enqueue(..., connection=...)``); a storage that is not the
    #: application's database (Redis) cannot offer it.
    transactional: bool = False


class EnqueueStatus(StrEnum):
    ENQUEUED = "enqueued"
    ID_CONFLICT = "id_conflict"  # a job with this ID exists in the queue, in any state
    DUPLICATE = "duplicate"  # the unique lock is held by another job
    STALE = "stale"  # commit_staged: the staging set was already committed or reclaimed
    DEPENDENCY_MISSING = "dependency_missing"  # a job in depends_on does not exist in the queue
    FLOW_REJECTED = "flow_rejected"  # enqueue_flow: another job of the queue's flow was refused


@dataclass(frozen=True, slots=True)
class EnqueueOutcome:
    job_id: str
    queue: str
    status: EnqueueStatus
    #: the state the job entered (pending, scheduled or aggregating) when enqueued.
    state: JobState | None = None
    #: for DUPLICATE: the ID of the job holding the lock, when known.
    holder: str | None = None
    #: for DEPENDENCY_MISSING: the dependency that does not exist.
    missing: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is EnqueueStatus.ENQUEUED


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A stored job as the worker receives it with a lease."""

    id: str
    type: str
    queue: str
    payload: bytes
    max_retries: int
    retried: int = 0
    timeout: float | None = None
    deadline: float | None = None
    retention: float = 0.0
    group: str | None = None
    unique_key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    enqueued_at: float = 0.0
    #: times the job's lease expired while it ran (crash recoveries), apart from retries.
    crashes: int = 0
    #: transient bounces (RateLimited / TransientError) so far, apart from retries.
    bounces: int = 0
    last_error: str | None = None
    #: why the stored record could not be decoded (e.g. "invalid literal for int()..."),
    #: or None; the worker archives such a job with last_error "malformed job record: <why>".
    malformed: str | None = None


@dataclass(frozen=True, slots=True)
class Lease:
    """A worker's claim on one active job, valid until ``expires_at`` unless renewed."""

    record: JobRecord
    token: str
    expires_at: float

    @property
    def job_id(self) -> str:
        return self.record.id

    @property
    def queue(self) -> str:
        return self.record.queue


class SettleKind(StrEnum):
    COMPLETE = "complete"  # success: completed (retention > 0) or deleted
    RETRY = "retry"  # to the retry set until ``retry_at``
    ARCHIVE = "archive"  # to the archive, with ``error``
    REQUEUE = "requeue"  # back to the head of pending, no retry used, no stats
    REVOKE = "revoke"  # deleted, counted as processed


@dataclass(frozen=True, slots=True)
class Settlement:
    """How one leased job ends its attempt. Build with the class methods."""

    lease: Lease
    kind: SettleKind
    error: str | None = None
    retry_at: float | None = None
    #: RETRY only: False for a transient bounce (no retry used, no failure counted).
    counts_as_failure: bool = True
    result: bytes | None = None
    #: ARCHIVE only: release the job's unique lock now instead of letting it expire.
    release_unique: bool = False
    #: RETRY and ARCHIVE: the failed attempt's traceback, stored with the job as
    #: ``JobInfo.last_traceback`` (None clears it: a signal or a bounce has none).
    traceback: str | None = None

    @classmethod
    def complete(cls, lease: Lease, result: bytes | None = None) -> Settlement:
        return cls(lease, SettleKind.COMPLETE, result=result)

    @classmethod
    def retry(
        cls,
        lease: Lease,
        retry_at: float,
        error: str,
        *,
        counts_as_failure: bool = True,
        traceback: str | None = None,
    ) -> Settlement:
        return cls(
            lease,
            SettleKind.RETRY,
            error=error,
            retry_at=retry_at,
            counts_as_failure=counts_as_failure,
            traceback=traceback,
        )

    @classmethod
    def archive(
        cls, lease: Lease, error: str, *, release_unique: bool = False, traceback: str | None = None
    ) -> Settlement:
        return cls(lease, SettleKind.ARCHIVE, error=error, release_unique=release_unique, traceback=traceback)

    @classmethod
    def requeue(cls, lease: Lease) -> Settlement:
        return cls(lease, SettleKind.REQUEUE)

    @classmethod
    def revoke(cls, lease: Lease) -> Settlement:
        return cls(lease, SettleKind.REVOKE)


@dataclass(frozen=True, slots=True)
class Renewal:
    """What ``extend_leases`` found."""

    #: leases this worker no longer holds; their handlers must stop and write nothing.
    lost: list[Lease] = field(default_factory=list)
    #: leases (renewed) of jobs an operator asked to cancel; the worker archives them.
    cancelled: list[Lease] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Recovery:
    """What ``recover_expired`` moved."""

    requeued: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A snapshot of one job, without payload or result bytes."""

    id: str
    type: str
    queue: str
    state: JobState
    payload_size: int
    max_retries: int
    retried: int
    crashes: int
    bounces: int
    enqueued_at: float
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None
    deadline: float | None = None
    retention: float = 0.0
    group: str | None = None
    unique_key: str | None = None
    #: scheduled / retry: when due. pending: when it became pending.
    next_process_at: float | None = None
    started_at: float | None = None
    lease_expires_at: float | None = None
    completed_at: float | None = None
    #: completed: when the retention ends and the job is purged.
    expires_at: float | None = None
    archived_at: float | None = None
    last_error: str | None = None
    last_failed_at: float | None = None
    has_result: bool = False
    result_size: int = 0
    #: the jobs it was enqueued to wait for, in the order given.
    depends_on: tuple[str, ...] = ()
    #: how many of them it still waits for (meaningful while waiting).
    waiting_for: int = 0
    #: its policy when a dependency fails (None without dependencies).
    on_dependency_failure: str | None = None
    #: why the stored record is damaged (a key of the wrong type, fields that do not
    #: decode, no record behind a listed id), without the "malformed job record: " that
    #: begins the last_error of a record archived for it; None for a healthy record. A damaged
    #: record is still listed, shown, counted, deletable and archivable.
    malformed: str | None = None
    #: the traceback of the last failed attempt (bounded), or None.
    last_traceback: str | None = None

    @property
    def job_id(self) -> str:
        """The same as ``id`` (the name ``EnqueueOutcome`` and ``Job`` use)."""
        return self.id


@dataclass(frozen=True, slots=True)
class QueueStats:
    queue: str
    pending: int
    active: int
    scheduled: int
    retry: int
    archived: int
    completed: int
    aggregating: int
    groups: int
    paused: bool
    processed_total: int
    failed_total: int
    processed_today: int
    failed_today: int
    #: seconds the oldest pending job has waited (0 when none is pending).
    latency: float
    timestamp: float
    #: jobs waiting for their dependencies.
    waiting: int = 0

    @property
    def size(self) -> int:
        """Jobs in the queue in every state but completed."""
        return (
            self.pending + self.active + self.scheduled + self.retry + self.archived + self.aggregating + self.waiting
        )

    def count(self, state: JobState) -> int:
        return int(getattr(self, state.value))


@dataclass(frozen=True, slots=True)
class DailyStats:
    queue: str
    date: str  # YYYY-MM-DD, UTC
    processed: int
    failed: int

    @property
    def succeeded(self) -> int:
        return self.processed - self.failed


#: The eviction policy a driver reports for a server that never drops stored data to make
#: room (Redis' own name for it). A worker warns about any other policy.
NO_EVICTION = "noeviction"


@dataclass(frozen=True, slots=True)
class QueueLocation:
    """Where a queue lives on a clustered server: its hash slot and the nodes serving it."""

    queue: str
    slot: int
    #: "host:port", the primary first, then its replicas.
    nodes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ServerReport:
    """What the broker's server says about itself (``Broker.server_info``), in terms every
    driver can fill. ``None`` means the driver does not know or the server has no such
    notion; driver-specific figures go into ``details``."""

    #: the server software: "redis", "valkey", "fakeredis", ...
    backend: str
    #: its version, as the server spells it.
    version: str | None = None
    #: True when the data is spread over several nodes (Redis Cluster).
    is_cluster: bool = False
    #: on a cluster, where each known queue lives, by queue name; None where not known.
    queue_locations: tuple[QueueLocation, ...] | None = None
    #: the server's policy for dropping data under memory pressure: ``NO_EVICTION`` when
    #: it never does, None when it has no such notion (it never drops data either).
    eviction_policy: str | None = None
    #: bytes the server uses, and its configured limit (None: unknown or unlimited).
    memory_used: int | None = None
    memory_limit: int | None = None
    #: a few driver-specific figures for operators (Redis: uptime, clients, role...).
    details: Mapping[str, str] = field(default_factory=dict)

    @property
    def may_evict(self) -> bool:
        """Whether the server may drop stored data (jobs, leases, locks) to make room."""
        return self.eviction_policy not in (None, NO_EVICTION)


# --------------------------------------------------------------------------- the protocol


@runtime_checkable
class Lifecycle(Protocol):
    capabilities: Capabilities

    async def ping(self) -> None:
        """Raise ``BrokerUnavailable`` unless the broker answers."""

    async def close(self) -> None:
        """Release connections. Idempotent."""

    async def server_time(self) -> float:
        """The broker's own clock (epoch seconds), for measuring clock offset."""


@runtime_checkable
class EnqueueBroker(Protocol):
    async def enqueue(self, jobs: Sequence[Job], now: float) -> list[EnqueueOutcome]:
        """Store each job; one outcome per job, in order.

        Every job must carry a ``job_id`` (``Job.with_id``). A job goes to ``scheduled``
        when ``job.process_at(now) > now``, else to ``aggregating`` when it has a group,
        else to ``pending`` (tail: FIFO). A job whose ID exists in its queue in any state
        gets ``ID_CONFLICT``; a unique job whose lock is held gets ``DUPLICATE``; in both
        cases nothing is written for that job and no lock is left behind. The unique
        lock's TTL counts from the job's process time. Items are independent: one item's
        conflict does not stop the others. A driver may split the batch into chunks, each
        atomic on its own.

        Dependencies (``job.depends_on``, all in the job's queue) are looked up when the
        job is stored; a job earlier in the same batch counts. One that does not exist
        gives ``DEPENDENCY_MISSING`` (``missing`` names it) and nothing is written for the
        job. A completed dependency is satisfied (its result, if any, is copied to the
        job); an archived one applies the job's policy at once (``cancel``: the job is
        stored archived with ``last_error`` "cancelled: dependency <id> did not
        complete"; ``run``: satisfied; ``wait``: waited for). Any other is waited for.
        A job still waiting for at least one is stored ``waiting`` (ordered by enqueue
        time); else it goes where it would without dependencies.
        """


@runtime_checkable
class TransactionalBroker(Protocol):
    """Enqueue inside a transaction of the application's own database connection, so a
    job exists exactly when the data it is about does. Optional: a driver that offers it
    declares ``Capabilities.transactional``."""

    async def enqueue_in(self, connection: object, jobs: Sequence[Job], now: float) -> list[EnqueueOutcome]:
        """``enqueue`` written through ``connection`` (a connection of the driver's
        database client, normally with a transaction open), with the same outcomes.

        Nothing of it is visible to other connections, and no waiter is woken, until the
        caller commits; at commit the jobs are there and ``wait_for_jobs`` waiters wake.
        When the caller rolls back nothing was written: no job, no unique lock, no queue
        registration, no wake-up. Outcomes are decided when the call runs (a unique lock
        or an ID another open transaction is writing waits for that transaction).
        ``InvalidConnection`` for an object that is not such a connection (nothing written).
        """

    def transaction(self) -> AbstractAsyncContextManager[object]:
        """A new connection to the broker's database with a transaction open, as
        ``enqueue_in`` takes it: committed when the block exits normally, rolled back
        when it raises. For tests, and for callers without a connection of their own."""


@runtime_checkable
class DependencyBroker(Protocol):
    """Jobs that wait for other jobs of their queue.

    Release is part of the dependency's own transition: the script (or transaction)
    that completes, archives or deletes a job also settles every job waiting for it, so
    no crash can separate the two. When a waiting job's last dependency completes it
    becomes pending (tail) -- or scheduled when its process time is still ahead -- and
    a completing dependency's result (the settled one, else one written earlier) is
    copied onto each waiting dependent. When a dependency is archived (by any path) or
    deleted (by an operator, a purge, a revocation, an aggregation), each job waiting
    for it applies its policy: ``cancel`` archives it as cancelled (not counted as
    failed) and its own dependents apply theirs in turn; ``run`` counts the dependency
    as satisfied; ``wait`` keeps waiting (for an archived dependency to be run again and
    complete, or for an operator to run, archive or delete the waiting job). Only a job
    in state ``waiting`` is ever released, so each is released at most once; running a
    waiting job by hand releases it and drops its links.
    """

    async def enqueue_flow(self, jobs: Sequence[Job], now: float) -> list[EnqueueOutcome]:
        """``enqueue`` with every queue's jobs written in one atomic step or not at all.

        Per queue: if any of its jobs would get ``ID_CONFLICT``, ``DUPLICATE`` or
        ``DEPENDENCY_MISSING`` (dependencies may name jobs earlier in ``jobs``), nothing of
        that queue is written; that job gets its status and the queue's others
        ``FLOW_REJECTED``. Queues are independent of each other (no dependency crosses
        queues), so a rejected queue never leaves another's dependents released early.
        """

    async def dependency_results(self, queue: str, job_id: str) -> dict[str, bytes]:
        """The results copied onto the job from its completed dependencies, by
        dependency ID (``JobNotFound``). A dependency that completed without a result is
        absent."""

    async def job_dependents(self, queue: str, job_id: str) -> list[str]:
        """IDs of the jobs waiting for this one, sorted (``JobNotFound``)."""


@runtime_checkable
class ProcessingBroker(Protocol):
    async def dequeue(
        self, queues: Sequence[str], now: float, lease_for: float, worker_id: str, limit: int
    ) -> list[Lease]:
        """Take up to ``limit`` pending jobs, trying ``queues`` in the given order.

        Paused queues are skipped. Within a queue jobs come out FIFO (requeued jobs first).
        Each job becomes active with a lease until ``now + lease_for`` and a fresh token.
        A job whose deadline is at or before ``now`` is archived ("deadline exceeded")
        instead of leased. A pending ID without a stored record is dropped.
        """

    async def settle(self, settlements: Sequence[Settlement], now: float) -> list[bool]:
        """End attempts; one bool per settlement, False when its lease was lost (fenced).

        COMPLETE: retention > 0 -> completed until ``now + retention`` with the result;
        else deleted. Counts processed; releases the unique lock held by this job.
        RETRY: to the retry set at ``retry_at`` with ``error`` recorded; if
        ``counts_as_failure``, ``retried`` += 1 and processed/failed counted, else
        ``bounces`` += 1 and nothing counted. ARCHIVE: archived with ``error``; counts
        processed and failed; archive caps applied (trimmed bodies deleted). RETRY and
        ARCHIVE store ``traceback`` as the job's ``last_traceback`` (None clears it).
        REQUEUE: head of pending, nothing counted. REVOKE: deleted, counts processed,
        releases the unique lock.
        """

    async def extend_leases(self, leases: Sequence[Lease], now: float, lease_for: float) -> Renewal:
        """Push each still-held lease to ``now + lease_for``; report lost and cancelled."""

    async def write_result(self, lease: Lease, result: bytes) -> bool:
        """Store the result on an active job this lease still holds; False when fenced."""

    async def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        """Return when work may have arrived in ``queues``, or after ``timeout`` seconds.

        May return early spuriously; callers dequeue and wait again. With
        ``capabilities.blocking_wait`` an enqueue to an empty queue wakes waiters at once,
        and so does an enqueue of a scheduled job that is due earlier than every other
        scheduled job of its queue (so a worker's forwarder can sleep until the next due
        time instead of polling for new, earlier ones). A call that has returned normally
        has subscribed (``timeout=0`` subscribes and returns): such work arriving before
        the next call wakes that call at once.
        """

    async def wait_for_finished(self, queue: str, timeout: float) -> list[str]:
        """IDs of jobs of ``queue`` announced as finished, waiting up to ``timeout``
        seconds for the first announcement; ``[]`` when none came.

        A job is announced once each time it enters ``completed`` or ``archived`` or is
        deleted, by any method (settle, dequeue past a deadline, recover_expired,
        purge_expired, the operator actions, commit_staged, delete_queue). The first
        call for a queue subscribes (``timeout=0`` subscribes and returns); from then on
        every announcement is kept for the next call, however late it comes, until
        ``close``. A call returns what was kept and what arrives while it waits, in
        announcement order, so a job that finished twice between calls (completed, then
        purged) comes twice. Calls for one queue do not overlap (the core makes one at a
        time per broker and queue); calls for different queues may. A lost connection
        raises ``BrokerUnavailable``: the next call subscribes again, and announcements
        made in between are lost (the caller looks at the jobs again).
        """


@runtime_checkable
class MaintenanceBroker(Protocol):
    """Idempotent duties, safe to run from every worker at once."""

    async def forward_due(self, queues: Sequence[str], now: float, limit: int = 1000) -> int:
        """Move up to ``limit`` due scheduled/retry jobs to pending (or to their group).

        Returns how many moved; callers repeat while it returns ``limit``.
        """

    async def next_due(self, queues: Sequence[str]) -> float | None:
        """The earliest due time among scheduled and retry jobs, or None."""

    async def recover_expired(self, queues: Sequence[str], now: float, max_crashes: int) -> Recovery:
        """Reclaim active jobs whose lease expired at or before ``now``, and active jobs
        with no lease at all.

        Each is claimed atomically (two callers never both recover one job): its
        ``crashes`` grows by one and it goes back to the head of pending, or to the
        archive once ``crashes`` exceeds ``max_crashes``. Counts processed and failed.
        """

    async def purge_expired(
        self, queues: Sequence[str], now: float, archive_max_size: int, archive_max_age: float
    ) -> int:
        """Delete completed jobs past retention and archived jobs beyond the caps
        (more than ``archive_max_size`` newest, or archived before ``now -
        archive_max_age``). Returns how many job bodies were deleted."""


@runtime_checkable
class InspectionBroker(Protocol):
    async def list_queues(self) -> list[str]:
        """Every known queue, sorted."""

    async def queue_stats(self, queue: str, now: float) -> QueueStats:
        """Counts per state, counters, pause flag and latency (``QueueNotFound``)."""

    async def daily_stats(self, queue: str, days: int, now: float) -> list[DailyStats]:
        """Processed/failed per UTC day for the last ``days`` days, newest first."""

    async def job_info(self, queue: str, job_id: str, now: float) -> JobInfo:
        """The job's snapshot (``JobNotFound``)."""

    async def list_jobs(
        self, queue: str, state: JobState, page: int, page_size: int, now: float, group: str | None = None
    ) -> list[JobInfo]:
        """One 1-based page of the jobs in ``state``: pending in dequeue order, active by
        start, scheduled/retry by due time, archived newest first, completed by expiry,
        aggregating (one group's, staged members excluded) by arrival; ties by job ID.

        Raises ``InvalidPagination``, then ``QueueNotFound``, then ``GroupRequired`` for
        aggregating jobs without a ``group`` (ignored for other states)."""

    async def job_payload(self, queue: str, job_id: str) -> bytes:
        """The stored payload bytes (``JobNotFound``)."""

    async def job_result(self, queue: str, job_id: str) -> bytes:
        """The stored result bytes (``JobNotFound``, ``ResultNotFound``)."""

    async def memory_usage(self, queue: str, samples: int = 20) -> int:
        """Approximate bytes the queue occupies: its containers plus, per state, the
        average size of up to ``samples`` job records times the state's count. Read
        outside any transition (not atomic). ``QueueNotFound``; ``Unsupported`` unless
        ``capabilities.memory_usage``."""

    async def server_info(self) -> ServerReport:
        """What the server says about itself, for operators and for the worker's check
        that the server does not evict data (Redis: from ``INFO``; on a cluster, with
        each queue's slot and nodes). Fields the driver cannot know are ``None``."""


@runtime_checkable
class AdminBroker(Protocol):
    async def pause(self, queue: str) -> bool:
        """Stop dequeues from ``queue``; False if it was already paused."""

    async def resume(self, queue: str) -> bool:
        """Allow dequeues again; False if it was not paused."""

    async def run_job(self, queue: str, job_id: str, now: float) -> JobState:
        """Move a scheduled/retry/archived/aggregating job to the tail of pending; returns
        its former state (``QueueNotFound``, ``JobNotFound``, ``OperationNotAllowed``
        naming the state). An earlier ``request_cancel`` of the job is withdrawn: it runs
        normally. Like every operator action, counts nothing."""

    async def archive_job(self, queue: str, job_id: str, now: float) -> JobState:
        """Archive a pending/scheduled/retry/aggregating job at ``now`` (no error
        recorded, the unique lock kept); returns its former state."""

    async def delete_job(self, queue: str, job_id: str, now: float) -> JobState:
        """Delete a job in any state but active; releases its unique lock."""

    async def run_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        """Move every job of ``state`` to pending; returns how many (withdrawing earlier
        cancel requests, as ``run_job``).

        Like ``archive_all`` and ``delete_all``: ``OperationNotAllowed`` for a state the
        single-job action refuses, then ``GroupRequired`` for aggregating jobs without a
        ``group`` (one group at a time; ignored for other states), then
        ``QueueNotFound``. Members staged for aggregation are left alone."""

    async def archive_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        """Archive every job of ``state``; returns how many."""

    async def delete_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        """Delete every job of ``state``; returns how many."""

    async def delete_queue(self, queue: str, force: bool) -> None:
        """Remove the queue with all its jobs, pause flag and totals (``QueueNotFound``;
        always refused while jobs are active; ``QueueNotEmpty`` unless ``force`` while
        jobs counted in ``QueueStats.size`` remain: completed and staged ones do not
        count). Daily counters stay until they expire."""

    async def request_cancel(self, queue: str, job_id: str, now: float) -> JobState:
        """Cancel a job: an active one is flagged (its worker sees the flag at lease
        renewal, and a notification reaches it sooner); any other non-final one is
        archived with error "cancelled". Returns the state the job was in. The flag
        stays until the job is run again (``run_job``, ``run_all``): a flagged job that
        is requeued, recovered or retried is reported at its next lease's renewal."""


@runtime_checkable
class AggregationBroker(Protocol):
    async def list_groups(self, queue: str) -> dict[str, int]:
        """Group name -> number of aggregating jobs waiting in it (staged ones are out of
        their group); ``QueueNotFound``."""

    async def aggregation_check(
        self,
        queue: str,
        group: str,
        now: float,
        grace: float,
        max_delay: float | None,
        max_size: int | None,
        stage_for: float,
    ) -> str | None:
        """Move a ready group's members into a staging set (kept until ``now + stage_for``),
        returning the set ID, or None when the group is empty or not ready. Ready: size >=
        max_size (the oldest max_size are staged); the oldest member waited >= max_delay;
        or the newest waited >= grace (up to max_size staged, oldest first). A member's
        wait counts from when it joined the group (enqueue or forward; a reclaimed member
        keeps its time); members joined together are ordered by ID."""

    async def read_staged(self, queue: str, group: str, set_id: str) -> list[JobRecord]:
        """The staged members, oldest first; ``[]`` for a set committed, reclaimed, unknown
        or of another group."""

    async def commit_staged(self, queue: str, group: str, set_id: str, job: Job, now: float) -> EnqueueOutcome:
        """Atomically enqueue ``job`` (the aggregate, into the same queue, never a group)
        and delete the staged members with their records. A set that was already
        committed or reclaimed, has reached its deadline (``<= now``), or lost a member
        to an operator action (run, archive, delete, cancel) gets ``STALE`` and nothing
        is written: a staging set is aggregated at most once, and a member is never both
        run and aggregated. When ``job`` itself is rejected (``ID_CONFLICT``,
        ``DUPLICATE``) the set's deadline becomes ``now``: due for ``reclaim_staged`` at
        once, which gives the members back to their group."""

    async def reclaim_staged(self, queue: str, now: float) -> int:
        """Give members of staging sets whose deadline is ``<= now`` back to their groups;
        returns how many members went back."""


@runtime_checkable
class CoordinationBroker(Protocol):
    async def put_heartbeat(self, kind: str, member_id: str, info: bytes, now: float, ttl: float) -> None:
        """Record a live worker or scheduler (``kind``) with its encoded info until ``now +
        ttl`` (gone from then on, judged by the ``now`` of ``list_heartbeats``)."""

    async def remove_heartbeat(self, kind: str, member_id: str) -> None:
        """Forget a worker or scheduler that stopped cleanly."""

    async def list_heartbeats(self, kind: str, now: float) -> dict[str, bytes]:
        """Live members of ``kind`` and their info; expired ones (expiry <= ``now``) are
        pruned."""

    async def claim(self, key: str, now: float, ttl: float) -> bool:
        """True for the first caller to claim ``key``; False while that claim lasts
        (until its ``now + ttl``, judged by the ``now`` of later callers)."""

    async def take_tokens(self, key: str, rate: float, burst: int, now: float) -> float:
        """Distributed token bucket: take one token from bucket ``key`` refilled at ``rate``
        per second up to ``burst`` (full when first used). Returns 0 when taken, else
        seconds until one is free. A ``now`` earlier than the bucket's last refill adds
        nothing: a clock going back mints no tokens."""

    async def wait_for_cancel(self, timeout: float) -> list[str]:
        """Job IDs whose cancellation was announced, or ``[]`` after ``timeout`` seconds."""

    async def record_event(self, stream: str, event: bytes, now: float, keep: int) -> None:
        """Append ``event`` (unique bytes) to the named history, keeping the newest ``keep``."""

    async def list_events(self, stream: str, limit: int) -> list[tuple[float, bytes]]:
        """Up to ``limit`` events of the history as (recorded at, event), newest first
        (same time: greater bytes first); ``[]`` for ``limit <= 0``."""


@runtime_checkable
class MetricsBroker(Protocol):
    """Per-minute metrics history (``queue_core.metrics``), kept for a while and then
    forgotten. Optional: drivers that keep it list "metrics" in their features."""

    async def record_metrics(self, samples: Sequence[MinuteMetrics], now: float, keep: float) -> None:
        """Add each sample's counts (processed, failed, run time, histogram slots) to the
        stored counts of its queue, job type and minute (``minute`` a multiple of 60).

        A queue's minute stays readable while the reader's ``now`` is before its expiry,
        ``minute + keep`` (the largest recorded into it). Counts added to a minute
        whose expiry has been reached (``<= now``) start again from nothing. The
        samples of one queue and minute are added atomically; the queue need not be
        registered, and recording does not register it (``delete_queue`` leaves the
        metrics to expire, as daily counters)."""

    async def read_metrics(self, queue: str, since: int, until: int, now: float) -> list[MinuteMetrics]:
        """The stored counts of ``queue`` for every minute from ``since`` to ``until``
        (both included, multiples of 60) that has not expired at ``now``, one per job
        type recorded in the minute, ordered by minute, then job type. ``[]`` for a
        queue with none (never ``QueueNotFound``)."""


@runtime_checkable
class Broker(
    Lifecycle,
    EnqueueBroker,
    DependencyBroker,
    ProcessingBroker,
    MaintenanceBroker,
    InspectionBroker,
    AdminBroker,
    AggregationBroker,
    CoordinationBroker,
    MetricsBroker,
    Protocol,
):
    """Everything a driver implements. See each concern's protocol for the contracts."""


# --------------------------------------------------------------------------- testing interface


@dataclass(frozen=True, slots=True)
class Footprint:
    """What a driver keeps in storage, as ``BrokerTestHooks.footprint`` reports it."""

    #: each unit of storage (Redis: a key, without the broker's prefix; SQL: a table) and
    #: its size (1 per key; rows per table).
    items: Mapping[str, int]
    #: the names in ``items`` that never go away on their own (Redis: keys without a TTL).
    persistent: frozenset[str] = frozenset()

    @property
    def size(self) -> int:
        return sum(self.items.values())


@runtime_checkable
class BrokerTestHooks(Protocol):
    """An optional interface for tests, declared with the ``"testing"`` feature.

    Not part of ``Broker`` and never called by the core: the conformance kit uses it to
    reach states the protocol cannot produce on its own (a crash between two writes of a
    driver, storage lost to eviction or a failover) and to check what a driver leaves
    behind. A driver that omits it is still conformant; the kit then cannot check the
    clauses that need it and says so in its skip reasons.
    """

    async def lose_lease(self, queue: str, job_id: str) -> bool:
        """Forget the lease entry of an active job, as a crash window or a lost write
        would: the job stays active, its lease token still fences writes, but nothing
        records when the lease expires (``JobInfo.lease_expires_at`` is None) until a
        renewal writes it again. ``recover_expired`` must find such a job at once.
        False (nothing changed) when the job is not active."""

    async def footprint(self) -> Footprint:
        """Every unit of storage this broker instance (its prefix) holds. Read outside
        any transition; for tests on a throwaway database only (Redis: ``KEYS``)."""
