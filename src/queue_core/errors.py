"""Every error queue-core raises, under one root.

Users catch ``QueueError`` (or one of its branches) and never a driver's client
exception: drivers map those at their edge (``redis.ConnectionError`` becomes
``BrokerUnavailable`` with the cause chained).

::

    QueueError
    ├── ValidationError                 bad input; names the field and the accepted form
    │   ├── InvalidJobType
    │   ├── InvalidQueueName
    │   ├── InvalidJobId
    │   ├── InvalidGroupName
    │   ├── InvalidPayload
    │   │   └── PayloadTooLarge         an encoded payload over the client's ``max_payload_bytes``
    │   ├── InvalidHeaders
    │   ├── InvalidMaxRetries
    │   ├── InvalidSchedule             delay / schedule_at
    │   ├── InvalidDeadline
    │   ├── InvalidTimeout
    │   ├── InvalidRetention
    │   ├── InvalidUniqueOption
    │   ├── InvalidDependency           depends_on / on_dependency_failure
    │   ├── InvalidJobState
    │   ├── InvalidPagination
    │   ├── GroupRequired               an aggregating-job operation without a group name
    │   ├── InvalidBrokerURL
    │   ├── InvalidConnection           ``connection=``: not a transaction the driver can write through
    │   ├── InvalidWorkerOption
    │   ├── InvalidScheduleId
    │   ├── InvalidCronSpec             names the spec and why it was refused
    │   ├── InvalidInterval             a periodic schedule's ``every``
    │   ├── InvalidTimezone
    │   ├── InvalidSchedulerOption
    │   ├── InvalidRetryPolicy          retry.fixed / retry.exponential arguments
    │   ├── InvalidAggregationOption    an Aggregator's grace, max delay, max size...
    │   ├── InvalidTaskDefinition       a task function or option the task registry refuses
    │   └── InvalidTaskArguments        enqueue arguments that do not fit the task's signature
    ├── NotOpen                         a Client or Manager used before open() (also a RuntimeError)
    ├── SerializationError              a payload or result the serializer cannot handle
    │   └── TaskArgumentsMismatch       a stored payload no longer fits its task (archived)
    ├── EnqueueRejected                 the broker refused one job
    │   ├── JobIdConflict
    │   ├── DuplicateJob
    │   ├── DependencyNotFound          a job in depends_on does not exist
    │   └── FlowRejected                enqueue_flow wrote nothing
    ├── NotFound
    │   ├── JobNotFound
    │   ├── QueueNotFound
    │   ├── ResultNotFound
    │   ├── WorkerNotFound
    │   └── ScheduleNotFound
    ├── OperationNotAllowed             a forbidden transition; names the state and what is allowed
    │   └── QueueNotEmpty
    ├── BrokerError
    │   ├── BrokerUnavailable           connection refused, timed out, lost
    │   │   └── BrokerAuthError
    │   ├── DamagedData                 a stored key holds a value of the wrong type
    │   │   └── QueueDamaged            ... one of a queue's own keys: that queue is skipped
    │   ├── UnknownBrokerScheme         no loaded plugin serves it; names plugins that failed to load
    │   ├── InvalidBrokerFactory        a driver's factory gave no Broker
    │   ├── PluginConflict              two installed plugins serve one URL scheme (also a RuntimeError)
    │   ├── MissingDependency           an optional extra is not installed
    │   ├── StorageLayoutMismatch       the stored data was written by another storage layout version
    │   └── Unsupported                 the driver does not offer this capability
    ├── WorkerError
    │   ├── HandlerAlreadyRegistered
    │   ├── HandlerNotFound
    │   ├── WorkerAlreadyStarted
    │   ├── LeaseLost                   a write was fenced off: another worker owns the job now
    │   ├── JobTimeout                  an attempt ran past its timeout or deadline (also a TimeoutError)
    │   └── JobCancelled                an operator cancelled the job (also an OutcomeError)
    ├── OutcomeError                    an awaited job ended without a result
    │   ├── JobFailed                   archived: ``error`` is the job's stored last error
    │   ├── JobCancelled
    │   └── ResultTimeout               not finished in time (also a TimeoutError)
    ├── SchedulerError
    │   ├── ScheduleAlreadyExists
    │   └── SchedulerAlreadyStarted
    └── HandlerSignal                   raised by handlers to choose an outcome
        ├── SkipRetry                   archive now
        ├── TransientError              try again later without using a retry
        ├── RateLimited                 try again after ``retry_after`` without using a retry
        └── Revoke                      drop the job
"""

from __future__ import annotations

from typing import Any


class QueueError(Exception):
    """Root of every error raised by queue-core."""


# --------------------------------------------------------------------------- validation


class ValidationError(QueueError, ValueError):
    """An argument was rejected before anything was written.

    ``field`` names the argument, ``value`` is what was given and ``accepted`` describes
    what would have been taken.
    """

    def __init__(self, field: str, value: Any, accepted: str) -> None:
        self.field = field
        self.value = value
        self.accepted = accepted
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"invalid {field}: {shown}; expected {accepted}")


class InvalidJobType(ValidationError):
    pass


class InvalidQueueName(ValidationError):
    pass


class InvalidJobId(ValidationError):
    pass


class InvalidGroupName(ValidationError):
    pass


class InvalidPayload(ValidationError):
    pass


class PayloadTooLarge(InvalidPayload):
    """An encoded payload is larger than the client's ``max_payload_bytes``; nothing was
    written. ``size`` and ``limit`` are in bytes."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            "payload size",
            size,
            f"at most {limit} bytes (Client(max_payload_bytes=...); queue-core enqueue --max-payload-bytes)",
        )


class InvalidHeaders(ValidationError):
    pass


class InvalidMaxRetries(ValidationError):
    pass


class InvalidSchedule(ValidationError):
    pass


class InvalidDeadline(ValidationError):
    pass


class InvalidTimeout(ValidationError):
    pass


class InvalidRetention(ValidationError):
    pass


class InvalidUniqueOption(ValidationError):
    pass


class InvalidDependency(ValidationError):
    """``depends_on`` or ``on_dependency_failure`` was malformed."""


class InvalidJobState(ValidationError):
    pass


class InvalidPagination(ValidationError):
    pass


class GroupRequired(ValidationError):
    """Aggregating jobs are listed and operated on one group at a time; none was named."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        super().__init__("group", None, f"a group name: {operation} aggregating jobs needs one (see list_groups)")


class InvalidBrokerURL(ValidationError):
    pass


class InvalidConnection(ValidationError):
    """``connection=`` (enqueue inside the caller's transaction) was given to a driver
    that cannot write through it, or is not a connection of the driver's database client."""


class InvalidWorkerOption(ValidationError):
    pass


class InvalidScheduleId(ValidationError):
    pass


class InvalidCronSpec(ValidationError):
    """A cron spec was refused; ``reason`` says why (out of range, wrong field count...)."""

    def __init__(self, field: str, value: Any, accepted: str, reason: str) -> None:
        self.reason = reason
        super().__init__(field, value, accepted)
        self.args = (f"invalid {field} {value!r}: {reason}; expected {accepted}",)


class InvalidInterval(ValidationError):
    pass


class InvalidTimezone(ValidationError):
    pass


class InvalidSchedulerOption(ValidationError):
    pass


class InvalidRetryPolicy(ValidationError):
    pass


class InvalidAggregationOption(ValidationError):
    pass


class InvalidTaskDefinition(ValidationError):
    pass


class InvalidTaskArguments(ValidationError):
    """Arguments given to a task's ``enqueue`` do not fit its signature; ``field`` names
    the parameter (or ``arguments`` when the binding itself failed)."""


class InvalidClockOption(ValidationError):
    """A ``BrokerClock`` option (``refresh_every``) was rejected."""


class NotOpen(QueueError, RuntimeError):
    """A Client, Manager or sync client was used before it was opened or after it was closed."""


class SerializationError(QueueError):
    """The serializer could not encode or decode a value."""


class TaskArgumentsMismatch(SerializationError):
    """A stored payload does not fit its task's current signature (the signature changed
    after the job was enqueued). The worker archives the job with this as the reason."""


# --------------------------------------------------------------------------- enqueue


class EnqueueRejected(QueueError):
    """The broker refused to store a job; nothing was written for it."""

    def __init__(self, message: str, *, job_id: str, queue: str) -> None:
        self.job_id = job_id
        self.queue = queue
        super().__init__(message)


class JobIdConflict(EnqueueRejected):
    """A job with this ID already exists in the queue (in any state)."""


class DuplicateJob(EnqueueRejected):
    """The job's unique lock is held by another job."""

    def __init__(self, message: str, *, job_id: str, queue: str, holder: str | None) -> None:
        self.holder = holder
        super().__init__(message, job_id=job_id, queue=queue)


class DependencyNotFound(EnqueueRejected):
    """A job named in ``depends_on`` does not exist in the queue; nothing was written."""

    def __init__(self, message: str, *, job_id: str, queue: str, missing: str | None) -> None:
        self.missing = missing
        super().__init__(message, job_id=job_id, queue=queue)


class FlowRejected(EnqueueRejected):
    """``enqueue_flow`` wrote nothing: one of its jobs was refused (``outcomes`` says which)."""

    def __init__(self, message: str, *, job_id: str, queue: str, outcomes: list[Any]) -> None:
        self.outcomes = outcomes
        super().__init__(message, job_id=job_id, queue=queue)


# --------------------------------------------------------------------------- lookups and admin


class NotFound(QueueError, LookupError):
    pass


class JobNotFound(NotFound):
    def __init__(self, queue: str, job_id: str) -> None:
        self.queue = queue
        self.job_id = job_id
        super().__init__(f"job {job_id!r} not found in queue {queue!r}")


class QueueNotFound(NotFound):
    def __init__(self, queue: str) -> None:
        self.queue = queue
        super().__init__(f"queue {queue!r} not found")


class ResultNotFound(NotFound):
    def __init__(self, queue: str, job_id: str) -> None:
        self.queue = queue
        self.job_id = job_id
        super().__init__(f"job {job_id!r} in queue {queue!r} has no result")


class WorkerNotFound(NotFound):
    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        super().__init__(f"worker {worker_id!r} not found among the live workers")


class ScheduleNotFound(NotFound):
    def __init__(self, schedule_id: str, detail: str = "") -> None:
        self.schedule_id = schedule_id
        super().__init__(f"schedule {schedule_id!r} not found{detail}")


class OperationNotAllowed(QueueError):
    """The operation is not allowed in the job's (or queue's) current state.

    When a job's state forbids it, ``action`` names the operation, ``state`` the job's
    state (or the state of a bulk operation), ``allowed`` the states that permit the
    action and ``allowed_actions`` what the state permits instead.
    """

    def __init__(
        self,
        message: str,
        *,
        action: str | None = None,
        state: str | None = None,
        allowed: tuple[str, ...] = (),
        allowed_actions: tuple[str, ...] = (),
        queue: str | None = None,
        job_id: str | None = None,
    ) -> None:
        self.action = action
        self.state = state
        self.allowed = allowed
        self.allowed_actions = allowed_actions
        self.queue = queue
        self.job_id = job_id
        super().__init__(message)


class QueueNotEmpty(OperationNotAllowed):
    pass


# --------------------------------------------------------------------------- broker


class BrokerError(QueueError):
    pass


class BrokerUnavailable(BrokerError, ConnectionError):
    """The broker could not be reached, or the connection broke mid-call."""


class BrokerAuthError(BrokerUnavailable):
    """The broker refused our credentials."""


class DamagedData(BrokerError):
    """A stored value is not what the broker wrote there (a key of the wrong type, damaged
    by hand or by a bug). The operation did nothing; healthy data is not affected."""


class QueueDamaged(DamagedData):
    """One of ``queue``'s own keys (its pending list, its scheduled set...) is damaged, so
    the queue cannot be served until an operator repairs or deletes it. Operations over
    several queues serve the healthy ones first and raise this for the damaged one."""

    def __init__(self, queue: str, reason: str) -> None:
        self.queue = queue
        self.reason = reason
        super().__init__(f"queue {queue!r} is damaged: {reason}")


class UnknownBrokerScheme(BrokerError, ValueError):
    """No loaded plugin serves the URL's scheme; ``broken`` describes the plugins that
    failed to load (one of them may be the driver meant)."""

    def __init__(self, scheme: str, installed: list[str], broken: list[str] | None = None) -> None:
        self.scheme = scheme
        self.installed = installed
        self.broken = list(broken or [])
        listed = ", ".join(f"{s}://" for s in installed) or "none"
        message = f"no broker driver for scheme {scheme!r}; installed schemes: {listed}"
        if self.broken:
            message += "; " + "; ".join(self.broken)
        super().__init__(message)


class InvalidBrokerFactory(BrokerError, TypeError):
    """A driver's factory gave something that is not a ``Broker``."""

    def __init__(self, scheme: str, plugin: str, made: object) -> None:
        self.scheme = scheme
        self.plugin = plugin
        super().__init__(
            f"the broker factory for {scheme}:// (plugin {plugin!r}) returned {type(made).__name__} {made!r:.80}; "
            "a factory must return a Broker (an object with a Capabilities `capabilities` attribute), "
            "or be an async function whose result is one"
        )


class PluginConflict(BrokerError, RuntimeError):
    pass


class MissingDependency(BrokerError, ImportError):
    def __init__(self, what: str, extra: str) -> None:
        self.extra = extra
        super().__init__(f"{what} needs an optional dependency: pip install 'queue-core[{extra}]'")


class StorageLayoutMismatch(BrokerError):
    """The broker's storage holds data of another layout version than this driver writes.

    Raised before anything is read or written, so the stored data stays as it was; run the
    release that wrote it, or migrate (see "Upgrading" in CHANGELOG.md)."""

    def __init__(self, where: str, found: str, expected: str) -> None:
        self.where = where
        self.found = found
        self.expected = expected
        super().__init__(
            f"{where} holds storage layout version {found!r}; this queue-core writes layout {expected!r} "
            "and refuses to touch it (see Upgrading in the changelog)"
        )


class Unsupported(BrokerError, NotImplementedError):
    """The driver does not offer this operation (see its ``Capabilities``)."""


# --------------------------------------------------------------------------- worker


class WorkerError(QueueError):
    pass


class HandlerAlreadyRegistered(WorkerError):
    pass


class HandlerNotFound(WorkerError):
    pass


class WorkerAlreadyStarted(WorkerError):
    pass


class LeaseLost(WorkerError):
    """A write was refused because this worker no longer holds the job's lease."""


class JobTimeout(WorkerError, TimeoutError):
    """An attempt ran past the earliest of its handler timeout, job timeout and deadline.

    The worker records it as the attempt's failure (the job is retried, or archived once
    its retries are used up); ``limit`` says which of the three ended the attempt.
    """

    def __init__(self, message: str, *, limit: str = "") -> None:
        self.limit = limit
        super().__init__(message)


class OutcomeError(QueueError):
    """An awaited job ended (or did not end) without a result to return.

    ``job_id`` and ``queue`` name the job.
    """

    def __init__(self, message: str, *, job_id: str = "", queue: str = "") -> None:
        self.job_id = job_id
        self.queue = queue
        super().__init__(message)


class JobFailed(OutcomeError):
    """The awaited job was archived: its retries ran out, it raised ``SkipRetry``, its
    deadline passed, or an operator archived it. ``error`` is its stored last error
    (``"TypeName: message"``), or None when none was recorded."""

    def __init__(self, message: str, *, job_id: str, queue: str, error: str | None) -> None:
        self.error = error
        super().__init__(message, job_id=job_id, queue=queue)


class JobCancelled(OutcomeError, WorkerError):
    """An operator cancelled the job; it is archived with reason "cancelled". The worker
    raises it inside a cancelled handler; awaiting the job's result raises it too."""


class ResultTimeout(OutcomeError, TimeoutError):
    """Awaited jobs did not finish within the timeout. ``job_ids`` lists the unfinished
    ones (``job_id`` is the first); they keep running: waiting again is allowed."""

    def __init__(self, message: str, *, job_ids: list[str], queue: str = "") -> None:
        self.job_ids = job_ids
        super().__init__(message, job_id=job_ids[0] if job_ids else "", queue=queue)


# --------------------------------------------------------------------------- scheduler


class SchedulerError(QueueError):
    pass


class ScheduleAlreadyExists(SchedulerError):
    def __init__(self, schedule_id: str, detail: str = "") -> None:
        self.schedule_id = schedule_id
        super().__init__(f"a schedule with ID {schedule_id!r} already exists{detail}")


class SchedulerAlreadyStarted(SchedulerError):
    pass


# --------------------------------------------------------------------------- handler signals


class HandlerSignal(QueueError):
    """Base of the exceptions a handler raises to choose its job's outcome."""


class SkipRetry(HandlerSignal):
    """Archive the job now, without using the remaining retries."""


class TransientError(HandlerSignal):
    """Try again later without using a retry or counting a failure.

    A job may bounce this way a bounded number of times (the worker's
    ``max_bounces``); after that the bounce counts as an ordinary failure.
    """

    def __init__(self, message: str = "transient error", *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class RateLimited(TransientError):
    """Try again after ``retry_after`` seconds, without using a retry."""

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        if retry_after < 0:
            raise ValidationError("retry_after", retry_after, "a number of seconds >= 0")
        super().__init__(message or f"rate limited; retry after {retry_after:g}s", retry_after=retry_after)


class Revoke(HandlerSignal):
    """Drop the job: it is deleted as if it had succeeded, without a result."""
