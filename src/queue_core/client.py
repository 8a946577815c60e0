"""The producer side: store jobs in a broker.

::

    async with Client("redis://localhost:6379/0") as client:
        info = await client.enqueue("email.send", {"to": "a@example.com"}, max_retries=5)
        print(info.id, info.state)          # e.g. "3f2a...", JobState.PENDING

A ``Client`` opens its broker from a URL (and closes it on exit), or uses a ``Broker``
it is given (and leaves it open: whoever opened it closes it). Every job gets its ID
here, before the broker sees it, so a caller can log or store the ID even when the call
fails halfway.

``enqueue`` and ``enqueue_job`` return the stored job's ``JobInfo``. It is built here
from the job and the broker's outcome rather than read back, which would cost a second
round trip per job; it equals what ``Manager.job_info`` returns right after the enqueue.
For blocking code (Django, Flask, scripts) use ``queue_core.SyncClient``.

``wait`` and ``result`` wait for jobs to finish, woken by the broker when they do
(``waiting``); a job's result is kept only while the job is (its ``retention``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, Protocol, TypedDict

from queue_core import errors, validation
from queue_core.broker import Broker, EnqueueOutcome, EnqueueStatus, JobInfo, TransactionalBroker
from queue_core.clock import Clock
from queue_core.events import LOGGER_NAME, emit, stamped, wanted
from queue_core.job import DEFAULT_QUEUE, Job
from queue_core.registry import DEFAULT_URL
from queue_core.serialization import JSON, Serializer
from queue_core.session import BrokerHolder
from queue_core.states import JobState
from queue_core.waiting import FinishWatch, JobRef, final_result

#: ``error_handler(error, job)``: called after the error is logged; ``job`` is None when
#: the job could not even be built (a validation error).
ClientErrorHandler = Callable[[BaseException, Job | None], None]


class HasJobId(Protocol):
    """Anything naming a stored job: a ``JobInfo``, a task's ``TaskJob``..."""

    @property
    def id(self) -> str: ...

    @property
    def queue(self) -> str: ...


#: a job to wait for: something with ``id`` and ``queue``, or a job ID (in ``queue``).
JobLike = HasJobId | str

DEFAULT_CHUNK_SIZE = 500
#: the largest encoded payload a client enqueues unless told otherwise (1 MiB): Redis keeps
#: every job in memory, and a few huge payloads crowd out everything else.
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024


class ClientSettings(TypedDict, total=False):
    """``Client``'s keyword options (a ``SyncClient`` takes the same)."""

    clock: Clock | None
    serializer: Serializer
    default_retention: float | timedelta
    max_payload_bytes: int | None
    logger: logging.Logger | None
    error_handler: ClientErrorHandler | None
    broker_options: Mapping[str, Any] | None


class Client(BrokerHolder):
    """Enqueue jobs. Use as ``async with Client(url_or_broker) as client``.

    - ``clock`` supplies ``now`` for every broker call (default ``SystemClock``).
    - ``serializer`` encodes payloads given to ``enqueue`` (default JSON).
    - ``default_retention``: seconds to keep completed jobs whose own ``retention`` is 0.
    - ``max_payload_bytes``: a job whose encoded payload is larger is refused with
      ``PayloadTooLarge`` before the broker is called (default 1 MiB; None: no limit).
    - ``logger``: where refused enqueues are logged, at DEBUG only: they are raised to
      the caller (default the ``queue_core`` logger).
    - ``error_handler(error, job)``: called for every failed enqueue, before it is raised.
    - ``broker_options``: passed to the driver when the client opens its broker from a
      URL (for Redis and memory://: ``prefix``).
    """

    def __init__(
        self,
        broker_or_url: Broker | str = DEFAULT_URL,
        *,
        clock: Clock | None = None,
        serializer: Serializer = JSON,
        default_retention: float | timedelta = 0,
        max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
        logger: logging.Logger | None = None,
        error_handler: ClientErrorHandler | None = None,
        broker_options: Mapping[str, Any] | None = None,
    ) -> None:
        if max_payload_bytes is not None and (not validation.is_int(max_payload_bytes) or max_payload_bytes < 1):
            raise errors.ValidationError("max_payload_bytes", max_payload_bytes, "an integer >= 1 or None")
        self.max_payload_bytes = max_payload_bytes
        super().__init__(broker_or_url, broker_options=broker_options, clock=clock)
        self.serializer = serializer
        self.default_retention = validation.seconds(default_retention, "default_retention", errors.InvalidRetention)
        self.log = logger if logger is not None else logging.getLogger(f"{LOGGER_NAME}.client")
        self.error_handler = error_handler
        self._finish_watch = FinishWatch(lambda: self.broker, lambda: self.clock.now())

    # ----------------------------------------------------------------- enqueue

    async def enqueue(
        self, type: str, payload: Any = None, *, connection: object = None, **job_options: Any
    ) -> JobInfo:
        """Encode ``payload`` with the client's serializer and enqueue one job; returns
        its ``JobInfo`` (state pending, scheduled, aggregating, or waiting for its
        dependencies -- archived when one already failed under policy ``cancel``).

        ``job_options`` are ``Job`` fields (``queue``, ``max_retries``, ``delay``,
        ``schedule_at``, ``deadline``, ``timeout``, ``retention``, ``unique_for``,
        ``unique_key``, ``job_id``, ``group``, ``headers``, ``depends_on``,
        ``on_dependency_failure``). A dependency that does not exist raises
        ``DependencyNotFound`` with nothing written. Bad options raise a
        ``ValidationError`` before anything is written (``PayloadTooLarge`` for an
        encoded payload over ``max_payload_bytes``).

        ``connection``: write the job inside your own open transaction on this database
        connection (a driver with ``Capabilities.transactional``, e.g. a psycopg
        connection for ``postgresql://``): it exists, and workers wake, only when you
        commit; a rollback leaves nothing. ``InvalidConnection`` for a driver that cannot.
        """
        try:
            job = Job.create(type, payload, serializer=self.serializer, **job_options)
        except errors.QueueError as exc:
            self._report(exc, None, "cannot build job of type %r: %s", type, exc)
            raise
        return await self.enqueue_job(job, connection=connection)

    async def enqueue_job(self, job: Job, *, connection: object = None) -> JobInfo:
        """Enqueue a built ``Job``; returns its ``JobInfo``.

        Raises ``JobIdConflict`` when a job with its ID exists in the queue, and
        ``DuplicateJob`` when its unique lock is held; nothing is written in either case.
        ``connection``: inside your transaction, as ``enqueue``.
        """
        self._check_connection(connection)
        (prepared,) = self._prepare([job])
        now = self.clock.now()
        try:
            (outcome,) = await self._send([prepared], now, connection)
        except BaseException as exc:
            self._not_stored([prepared], exc)
            if isinstance(exc, errors.QueueError):
                self._report(exc, prepared, "enqueue of job %s (%s) failed: %s", prepared.job_id, prepared.type, exc)
            raise
        refused = refusal(prepared, outcome)
        if refused is not None:
            self._not_stored([prepared], refused)
            self._report(refused, prepared, "%s", refused)
            raise refused
        self._enqueued(prepared)
        return enqueued_info(prepared, outcome, now)

    async def enqueue_flow(self, jobs: Iterable[Job]) -> list[JobInfo]:
        """Enqueue jobs that depend on each other (``chain``, ``group``, or your own
        ``depends_on``): one broker call per queue, and each queue's jobs are written all
        together or not at all. A job may depend on jobs earlier in ``jobs``.

        Raises ``FlowRejected`` (its ``outcomes`` say which job was refused and why)
        when any job of a queue was refused; that queue got nothing, while the other
        queues of the call were written (their outcomes are ``ENQUEUED``). Dependencies
        never cross queues, so none of those is released early because of it.
        """
        prepared = self._prepare(jobs)
        now = self.clock.now()
        try:
            outcomes = await self.broker.enqueue_flow(prepared, now)
        except BaseException as exc:
            self._not_stored(prepared, exc)
            if isinstance(exc, errors.QueueError):
                self._report(exc, None, "enqueue of a flow of %d jobs failed: %s", len(prepared), exc)
            raise
        refused = [
            outcome for outcome in outcomes if not outcome.ok and outcome.status is not EnqueueStatus.FLOW_REJECTED
        ]
        rejected: errors.FlowRejected | None = None
        if refused:
            first = refused[0]
            rejected = errors.FlowRejected(
                f"flow not written to queue {first.queue!r}: job {first.job_id!r} was refused ({first.status.value}"
                + (f", missing dependency {first.missing!r}" if first.missing else "")
                + ")",
                job_id=first.job_id,
                queue=first.queue,
                outcomes=outcomes,
            )
        for job, outcome in zip(prepared, outcomes, strict=True):
            if outcome.ok:  # a queue of the flow other than the refused one
                self._enqueued(job)
            elif rejected is not None:
                self._not_stored([job], rejected)
        if rejected is not None:
            self._report(rejected, None, "%s", rejected)
            raise rejected
        return [enqueued_info(job, outcome, now) for job, outcome in zip(prepared, outcomes, strict=True)]

    async def enqueue_many(
        self, jobs: Iterable[Job], chunk_size: int = DEFAULT_CHUNK_SIZE, *, connection: object = None
    ) -> list[EnqueueOutcome]:
        """Enqueue many jobs: one broker call per ``chunk_size`` jobs, one outcome per job.

        A conflicting ID or a held unique lock is reported in that job's outcome
        (``status`` ``ID_CONFLICT`` / ``DUPLICATE``), never raised: a bulk import
        should not stop at the first duplicate. Every job is checked before the first chunk is sent. A broker error
        raises; chunks sent before it stay enqueued (their jobs already have IDs, so the
        call can be repeated and the stored ones come back as ``ID_CONFLICT``).
        ``connection``: every chunk inside your transaction, as ``enqueue``.
        """
        if not validation.is_int(chunk_size) or chunk_size < 1:
            raise errors.ValidationError("chunk_size", chunk_size, "an integer >= 1")
        self._check_connection(connection)
        prepared = self._prepare(jobs)
        outcomes: list[EnqueueOutcome] = []
        for start in range(0, len(prepared), chunk_size):
            chunk = prepared[start : start + chunk_size]
            try:
                chunk_outcomes = await self._send(chunk, self.clock.now(), connection)
            except BaseException as exc:
                self._not_stored(prepared[start:], exc)  # this chunk and the ones never sent
                if isinstance(exc, errors.QueueError):
                    self._report(exc, None, "enqueue of %d jobs failed after %d were sent: %s", len(chunk), start, exc)
                raise
            for job, outcome in zip(chunk, chunk_outcomes, strict=True):
                refused = refusal(job, outcome)
                if refused is None:
                    self._enqueued(job)
                else:
                    self._not_stored([job], refused)
            outcomes.extend(chunk_outcomes)
        return outcomes

    # ----------------------------------------------------------------- outcomes

    async def wait(
        self, jobs: Iterable[JobLike], timeout: float | timedelta | None = None, *, queue: str = DEFAULT_QUEUE
    ) -> list[JobInfo | None]:
        """Wait until every job has finished (completed, archived, or gone); returns each
        one's final ``JobInfo`` in the given order, None for a job that is gone (deleted,
        or completed without retention).

        ``jobs`` are ``JobInfo``s, ``TaskJob``s or job IDs (of ``queue``). The broker wakes
        the wait when a job finishes; nothing polls. Raises ``ResultTimeout`` naming the
        unfinished jobs after ``timeout`` seconds (None: no limit); they keep running.
        """
        refs = [_ref(job, queue) for job in jobs]
        finished = await self._finish_watch.wait(refs, _timeout(timeout))
        return [finished[ref] for ref in refs]

    async def result(
        self, job: JobLike, timeout: float | timedelta | None = None, *, queue: str = DEFAULT_QUEUE
    ) -> Any:
        """Wait for the job to finish and return its result, decoded by the client's
        serializer (None when the handler returned nothing).

        Raises ``JobFailed`` (with the job's stored error) when it was archived,
        ``JobCancelled`` when it was cancelled, ``ResultTimeout`` after ``timeout``
        seconds, and ``JobNotFound`` when it is gone before its result was read. A job
        known to keep no result (``retention`` 0 on its ``JobInfo``) is refused at once
        with ``InvalidRetention``: enqueue it with a retention to await its result.
        """
        data = await self.result_bytes(job, timeout, queue=queue)
        return None if data is None else self.serializer.loads(data)

    async def result_bytes(
        self, job: JobLike, timeout: float | timedelta | None = None, *, queue: str = DEFAULT_QUEUE
    ) -> bytes | None:
        """``result`` without decoding: the stored bytes, or None."""
        if not isinstance(job, str) and getattr(job, "retention", None) == 0:
            raise errors.InvalidRetention(
                "retention", 0, f"a retention > 0 on job {job.id!r} to await its result (a job without retention "
                "is deleted when it completes, result and all)",
            )  # fmt: skip
        ref = _ref(job, queue)
        finished = await self._finish_watch.wait([ref], _timeout(timeout))
        return await final_result(self.broker, ref, finished[ref])

    # ----------------------------------------------------------------- internals

    def _check_connection(self, connection: object) -> None:
        """``InvalidConnection`` before anything is prepared when the driver cannot write
        through the caller's connection."""
        if connection is not None and not self.broker.capabilities.transactional:
            error = errors.InvalidConnection(
                "connection",
                connection,
                f"None: the {self.broker.capabilities.name} driver cannot enqueue inside a transaction of yours "
                "(Capabilities.transactional; postgresql:// can)",
            )
            self._report(error, None, "cannot enqueue: %s", error)
            raise error

    async def _send(self, jobs: list[Job], now: float, connection: object) -> list[EnqueueOutcome]:
        if connection is None:
            return await self.broker.enqueue(jobs, now)
        broker = self.broker
        if not isinstance(broker, TransactionalBroker):  # declared the capability, lacks the method
            raise errors.InvalidConnection("connection", connection, f"None: {type(broker).__name__} has no enqueue_in")
        return await broker.enqueue_in(connection, jobs, now)

    def _prepare(self, jobs: Iterable[object]) -> list[Job]:
        prepared = []
        for job in jobs:
            if not isinstance(job, Job):
                error = errors.ValidationError("jobs", job, "queue_core.Job instances (build them with Job.create)")
                self._report(error, None, "cannot enqueue: %s", error)
                raise error
            if self.max_payload_bytes is not None and len(job.payload) > self.max_payload_bytes:
                error = errors.PayloadTooLarge(len(job.payload), self.max_payload_bytes)
                self._report(error, job, "cannot enqueue job of type %r: %s", job.type, error)
                raise error
            job = job.with_id()
            if job.retention == 0 and self.default_retention:
                job = job.with_options(retention=self.default_retention)
            prepared.append(job)
        # Only once every job passed its checks: each one announced to the plugins here is
        # followed by exactly one "enqueued" or "enqueue_failed".
        return [stamped(job, "client", self.log) for job in prepared]

    def _enqueued(self, job: Job) -> None:
        assert job.job_id is not None
        emit("job_enqueued", self.log, queue=job.queue, job_id=job.job_id, job_type=job.type)

    def _not_stored(self, jobs: Iterable[Job], error: BaseException) -> None:
        if wanted("job_enqueue_failed"):
            for job in jobs:
                assert job.job_id is not None
                emit("job_enqueue_failed", self.log, queue=job.queue, job_id=job.job_id, job_type=job.type, error=error)

    def _report(self, error: BaseException, job: Job | None, message: str, *args: Any) -> None:
        # The caller gets the exception; a log line at ERROR too would report every
        # refusal twice (and a JobIdConflict is an expected answer): debug only.
        extra = {"job_id": job.job_id, "job_type": job.type, "queue": job.queue} if job is not None else {}
        self.log.debug(message, *args, extra=extra)
        if self.error_handler is not None:
            try:
                self.error_handler(error, job)
            except Exception:
                self.log.exception("client error_handler raised; ignored")


def dependency_missing(outcome: EnqueueOutcome) -> errors.DependencyNotFound:
    return errors.DependencyNotFound(
        f"job {outcome.job_id!r} depends on job {outcome.missing!r}, which does not exist in queue "
        f"{outcome.queue!r}; nothing was written",
        job_id=outcome.job_id,
        queue=outcome.queue,
        missing=outcome.missing,
    )


def _ref(job: object, queue: str) -> JobRef:
    if isinstance(job, str):
        validation.job_id(job)
        return JobRef(validation.queue_name(queue), job)
    job_id, job_queue = getattr(job, "id", None), getattr(job, "queue", None)
    if not isinstance(job_id, str) or not isinstance(job_queue, str):
        raise errors.ValidationError("jobs", job, "job IDs, JobInfo or TaskJob objects")
    return JobRef(job_queue, job_id)


def _timeout(timeout: float | timedelta | None) -> float | None:
    if timeout is None:
        return None
    return validation.seconds(timeout, "timeout", errors.InvalidTimeout)


def refusal(job: Job, outcome: EnqueueOutcome) -> errors.QueueError | None:
    """The error for an outcome that stored nothing (ID taken, unique lock held), else None."""
    if outcome.status is EnqueueStatus.ID_CONFLICT:
        return errors.JobIdConflict(
            f"a job with ID {outcome.job_id!r} already exists in queue {outcome.queue!r}",
            job_id=outcome.job_id,
            queue=outcome.queue,
        )
    if outcome.status is EnqueueStatus.DUPLICATE:
        held = f" (held by job {outcome.holder!r})" if outcome.holder else ""
        return errors.DuplicateJob(
            f"job {outcome.job_id!r} is a duplicate: unique lock {job.lock_key!r} "
            f"in queue {outcome.queue!r} is taken{held}",
            job_id=outcome.job_id,
            queue=outcome.queue,
            holder=outcome.holder,
        )
    if outcome.status is EnqueueStatus.DEPENDENCY_MISSING:
        return dependency_missing(outcome)
    return None


def enqueued_info(job: Job, outcome: EnqueueOutcome, now: float) -> JobInfo:
    """The ``JobInfo`` of ``job`` just stored at ``now``, as the broker would report it."""
    assert job.job_id is not None
    state = outcome.state if outcome.state is not None else JobState.PENDING
    if state is JobState.SCHEDULED:
        next_process_at: float | None = job.process_at(now)
    elif state is JobState.PENDING:
        next_process_at = now
    else:
        next_process_at = None  # aggregating, waiting: it waits for its group or its dependencies
    return JobInfo(
        id=job.job_id,
        type=job.type,
        queue=job.queue,
        state=state,
        payload_size=len(job.payload),
        max_retries=job.max_retries,
        retried=0,
        crashes=0,
        bounces=0,
        enqueued_at=now,
        headers=dict(job.headers),
        timeout=job.timeout,
        deadline=job.deadline,
        retention=job.retention,
        group=job.group,
        unique_key=job.lock_key,
        next_process_at=next_process_at,
        depends_on=job.depends_on,
        on_dependency_failure=job.on_dependency_failure if job.depends_on else None,
    )
