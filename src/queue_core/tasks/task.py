"""A task: a function with its job type and options, callable through a queue.

::

    @tasks.task(name="email.send", queue="emails", max_retries=3, timeout=30)
    async def send_email(to: str, subject: str) -> bool: ...

    job = await send_email.enqueue(client, to="a@example.com", subject="Hi")
    sent: bool = await job.result(timeout=10)

The parameters of ``enqueue`` are the function's own (``ParamSpec``), so a type checker
rejects a wrong or missing argument; at run time the arguments are bound to the
signature and encoded by their annotations before anything is written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from queue_core import errors
from queue_core.broker import EnqueueOutcome, EnqueueStatus, JobInfo
from queue_core.client import DEFAULT_CHUNK_SIZE, Client
from queue_core.job import Job
from queue_core.retry import RetryPolicy
from queue_core.sync_client import SyncClient
from queue_core.tasks.signature import Signature
from queue_core.worker.delivery import Delivery
from queue_core.worker.handlers import is_async_callable

if TYPE_CHECKING:
    from queue_core.worker.handlers import Handler

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: how long a task's completed jobs (and results) are kept when the task does not say:
#: long enough to await a result, short enough not to pile up. ``retention=0`` keeps
#: nothing (and refuses ``result()``).
DEFAULT_RESULT_RETENTION = 3600.0

#: ``Job`` fields a task (``with_options``) may set; the type and payload are the task's own.
JOB_OPTIONS = frozenset(
    {"queue", "max_retries", "delay", "schedule_at", "deadline", "timeout", "retention", "unique_for",
     "unique_key", "job_id", "group", "headers"}
)  # fmt: skip


class Task(Generic[P, R]):
    """A function registered under a job type, with the options its jobs get.

    Build with ``TaskRegistry.task``. ``fn`` is the function itself (call it directly
    in tests); ``options`` the ``Job`` options every enqueue uses.
    """

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        options: Mapping[str, Any],
        *,
        retry_delay: RetryPolicy | None = None,
        signature: Signature | None = None,
    ) -> None:
        self.name = name
        self.fn = fn
        self.retry_delay = retry_delay
        self.signature = signature if signature is not None else Signature(name, fn)
        self.options: Mapping[str, Any] = MappingProxyType(dict(options))
        # Every option is checked now, as a Job would check it: a bad one fails at import.
        Job(name, **{k: v for k, v in self.options.items() if k != "job_id"})

    @property
    def queue(self) -> str:
        return str(self.options.get("queue", "default"))

    @property
    def timeout(self) -> float | None:
        timeout = self.options.get("timeout")
        return timeout.total_seconds() if isinstance(timeout, timedelta) else timeout

    def __repr__(self) -> str:
        return f"<Task {self.signature} queue={self.queue!r}>"

    # ----------------------------------------------------------------- producing

    def with_options(self, **options: Any) -> Task[P, R]:
        """This task with some ``Job`` options changed for the next enqueues: ``delay``,
        ``schedule_at``, ``deadline``, ``job_id``, ``unique_for``, ``unique_key``,
        ``group``, ``headers``, ``queue``, ``max_retries``, ``timeout``, ``retention``.
        The task itself is unchanged (a worker registers the task, not these copies)."""
        if unknown := sorted(set(options) - JOB_OPTIONS):
            accepted = f"Job options only: {', '.join(sorted(JOB_OPTIONS))}"
            raise errors.InvalidTaskDefinition("options", unknown, accepted)
        return Task(self.name, self.fn, {**self.options, **options}, retry_delay=self.retry_delay,
                    signature=self.signature)  # fmt: skip

    def prepare(self, *args: P.args, **kwargs: P.kwargs) -> TaskCall[R]:
        """One call of the task, checked and encoded but not enqueued (for ``enqueue_many``).
        Raises ``InvalidTaskArguments`` for arguments that do not fit."""
        return TaskCall(self, self.signature.encode(args, kwargs))

    async def enqueue(self, client: Client, /, *args: P.args, **kwargs: P.kwargs) -> TaskJob[R]:
        """Enqueue one call; returns its ``TaskJob``, whose ``result()`` awaits the outcome.

        Raises ``InvalidTaskArguments`` (nothing written) for arguments that do not fit
        the function's signature and annotations, and what ``Client.enqueue_job`` raises.
        """
        info = await client.enqueue_job(self.prepare(*args, **kwargs).job(client))
        return TaskJob(self, client, _enqueued(info), info)

    async def enqueue_many(
        self, client: Client, calls: Iterable[TaskCall[R]], chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> list[TaskJob[R]]:
        """Enqueue many calls (``task.prepare(...)``) in one broker call per chunk; one
        ``TaskJob`` per call, in order. A conflicting ID or held unique lock is reported
        in that job's ``outcome`` (its ``result()`` raises it), never raised here."""
        jobs = [self._own(call).job(client) for call in calls]
        outcomes = await client.enqueue_many(jobs, chunk_size)
        return [TaskJob(self, client, outcome) for outcome in outcomes]

    def enqueue_sync(self, client: SyncClient, /, *args: P.args, **kwargs: P.kwargs) -> SyncTaskJob[R]:
        """``enqueue`` for blocking code, through a ``SyncClient``."""
        job = self.prepare(*args, **kwargs).job(client.client)
        info = client.enqueue_job(job)
        return SyncTaskJob(TaskJob(self, client.client, _enqueued(info), info), client)

    def enqueue_many_sync(
        self, client: SyncClient, calls: Iterable[TaskCall[R]], chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> list[SyncTaskJob[R]]:
        """``enqueue_many`` for blocking code, through a ``SyncClient``."""
        jobs = [self._own(call).job(client.client) for call in calls]
        outcomes = client.enqueue_many(jobs, chunk_size)
        return [SyncTaskJob(TaskJob(self, client.client, outcome), client) for outcome in outcomes]

    def _own(self, call: object) -> TaskCall[R]:
        if not isinstance(call, TaskCall) or call.task.name != self.name:
            raise errors.InvalidTaskArguments("calls", call, f"calls prepared with {self.name}.prepare(...)")
        return call

    # ----------------------------------------------------------------- consuming

    def handler(self) -> Handler:
        """The worker's handler: decode the payload into the arguments, call the function,
        encode what it returns. An ``async def`` task gets an async handler; a plain
        ``def`` one a plain handler, which the worker runs on a thread."""
        signature, fn = self.signature, self.fn

        def arguments(delivery: Delivery) -> tuple[list[Any], dict[str, Any]]:
            args, kwargs = signature.decode(delivery.decode())
            return ([delivery, *args] if signature.wants_delivery else args), kwargs

        if is_async_callable(fn):

            async def handle_async(delivery: Delivery) -> Any:
                args, kwargs = arguments(delivery)
                return signature.encode_result(await fn(*args, **kwargs))

            return handle_async

        def handle(delivery: Delivery) -> Any:
            args, kwargs = arguments(delivery)
            return signature.encode_result(fn(*args, **kwargs))

        return handle


@dataclass(frozen=True, slots=True)
class TaskCall(Generic[R]):
    """A checked, encoded call of a task, ready to enqueue (``Task.prepare``)."""

    task: Task[Any, R]
    arguments: Mapping[str, Any]

    def job(self, client: Client) -> Job:
        """The ``Job`` for this call, encoded with the client's serializer."""
        options = dict(self.task.options)
        options.setdefault("retention", DEFAULT_RESULT_RETENTION)
        return Job.create(self.task.name, dict(self.arguments), serializer=client.serializer, **options)


class TaskJob(Generic[R]):
    """An enqueued call of a task: its ID and queue, and its outcome to await."""

    def __init__(
        self, task: Task[Any, R], client: Client, outcome: EnqueueOutcome, info: JobInfo | None = None
    ) -> None:
        self.task = task
        self.client = client
        self.outcome = outcome
        #: the ``JobInfo`` as enqueued (``enqueue`` only; ``enqueue_many`` reports outcomes).
        self.info = info

    @property
    def id(self) -> str:
        return self.outcome.job_id

    @property
    def queue(self) -> str:
        return self.outcome.queue

    @property
    def retention(self) -> float:
        retention = self.task.options.get("retention", DEFAULT_RESULT_RETENTION)
        return retention.total_seconds() if isinstance(retention, timedelta) else float(retention)

    def __repr__(self) -> str:
        return f"<TaskJob {self.task.name} id={self.id} queue={self.queue} {self.outcome.status}>"

    async def result(self, timeout: float | timedelta | None = None) -> R:
        """Wait until the job finishes and return what the function returned, decoded by
        its return annotation.

        Raises ``JobFailed`` (its ``error`` is the job's stored last error) when the job
        was archived, ``JobCancelled`` when it was cancelled, ``ResultTimeout`` (a
        ``TimeoutError``) after ``timeout`` seconds, ``JobNotFound`` when the job is gone
        before its result was read, ``InvalidRetention`` at once for a task that keeps no
        results (``retention=0``), and the enqueue's own error when it was rejected.
        """
        self._check_enqueued()
        data = await self.client.result_bytes(self, timeout)
        return self._decode(data)

    async def wait(self, timeout: float | timedelta | None = None) -> JobInfo | None:
        """Wait until the job finishes; its final ``JobInfo`` (None once it is gone)."""
        self._check_enqueued()
        [info] = await self.client.wait([self], timeout)
        return info

    def _decode(self, data: bytes | None) -> R:
        value = None if data is None else self.client.serializer.loads(data)
        decoded: R = self.task.signature.decode_result(value)
        return decoded

    def _check_enqueued(self) -> None:
        status = self.outcome.status
        if status is EnqueueStatus.ID_CONFLICT:
            raise errors.JobIdConflict(
                f"job {self.id!r} was not enqueued: its ID exists in queue {self.queue!r}", job_id=self.id,
                queue=self.queue,
            )  # fmt: skip
        if status is not EnqueueStatus.ENQUEUED:
            raise errors.DuplicateJob(
                f"job {self.id!r} was not enqueued: its unique lock is held", job_id=self.id, queue=self.queue,
                holder=self.outcome.holder,
            )  # fmt: skip


class SyncTaskJob(Generic[R]):
    """A ``TaskJob`` for blocking code: ``result()`` and ``wait()`` block."""

    def __init__(self, job: TaskJob[R], client: SyncClient) -> None:
        self.job = job
        self._client = client

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def queue(self) -> str:
        return self.job.queue

    @property
    def outcome(self) -> EnqueueOutcome:
        return self.job.outcome

    def __repr__(self) -> str:
        return repr(self.job).replace("<TaskJob", "<SyncTaskJob", 1)

    def result(self, timeout: float | timedelta | None = None) -> R:
        """``TaskJob.result``, blocking."""
        return self._run(self.job.result, timeout)

    def wait(self, timeout: float | timedelta | None = None) -> JobInfo | None:
        """``TaskJob.wait``, blocking."""
        return self._run(self.job.wait, timeout)

    def _run(self, method: Callable[[float | timedelta | None], Awaitable[T]], timeout: float | timedelta | None) -> T:
        async def run() -> T:
            return await method(timeout)

        return self._client.run(run)


def _enqueued(info: JobInfo) -> EnqueueOutcome:
    return EnqueueOutcome(info.id, info.queue, EnqueueStatus.ENQUEUED, state=info.state)
