"""The pluggy hooks queue-core calls. Plugins implement them with ``hookimpl``.

Plugins are found through the entry-point group ``queue_core``. The in-tree drivers
register exactly as a third-party driver would, through ``queue_core_add_brokers``.
Hooks are notifications (synchronous, must not block); code that needs to await belongs
in middleware. Two hooks let a plugin take part instead of only watching:
``queue_core_job_enqueueing`` adds headers to a job before it is written, and
``queue_core_worker_middleware`` wraps middleware around every handler of a worker.

Order: pluggy calls the implementations of one hook newest-registered first (entry-point
plugins in the order they load, then ``queue_core.plugins.register`` calls);
``@hookimpl(tryfirst=True)`` / ``(trylast=True)`` move an implementation to the front or
the back. Where results are combined, the implementation called first wins (see each hook).
What an implementation raises is logged by the component that called it and ignored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from queue_core.broker import Broker
    from queue_core.job import Job

PROJECT = "queue_core"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: ``factory(url, **options) -> Broker``, or an async function giving one; called inside a
#: running event loop by ``open_broker``.
BrokerFactory = Callable[..., "Broker | Awaitable[Broker]"]


@hookspec
def queue_core_add_brokers() -> dict[str, BrokerFactory]:  # type: ignore[empty-body]
    """Return URL schemes this plugin serves, each mapped to a broker factory.

    Example: ``{"redis": RedisBroker.from_url, "rediss": RedisBroker.from_url}``. A
    factory takes the URL and the caller's options (``prefix=`` among them) and returns
    the broker, or is an async function that does. Two plugins claiming one scheme is an
    error at lookup time; a plugin whose import or this hook fails is left out and named
    when its scheme is asked for.
    """


class SchemaStatus(Protocol):
    """Where a broker's versioned schema stands (see ``SchemaManager``)."""

    @property
    def current(self) -> int:
        """The newest migration applied (0: none; the schema may not exist yet)."""

    @property
    def known(self) -> int:
        """The newest migration this release ships."""

    @property
    def pending(self) -> list[str]:
        """The names of the migrations still to apply, oldest first."""


class SchemaManager(Protocol):
    """Migrations of a driver whose storage has a versioned schema (PostgreSQL); what
    ``queue-core db migrate|status`` call. Both are blocking (run outside an event loop)."""

    def migrate(self, url: str) -> list[str]:
        """Apply the pending migrations of ``url``'s schema; the names applied ([] if none).
        Refuses a schema newer than this release with a ``StorageLayoutMismatch``."""

    def schema_status(self, url: str) -> SchemaStatus:
        """Where ``url``'s schema stands; reads only."""


@hookspec
def queue_core_add_schema_managers() -> dict[str, SchemaManager]:  # type: ignore[empty-body]
    """Return URL schemes whose storage has a versioned schema, each mapped to its
    ``SchemaManager`` (``queue-core db migrate|status``). Drivers whose storage needs no
    migrations (Redis, memory://) do not implement it."""


@hookspec
def queue_core_job_enqueueing(job: Job, origin: str) -> Mapping[str, str] | None:
    """A job is about to be written: return headers to add to it, or None.

    Called once per job, after it has its ID and before the broker call, by ``Client`` and
    ``SyncClient`` (``origin`` ``"client"``) and by a scheduler firing a tick (``origin``
    ``"scheduler"``; the job carries the ``schedule_id`` and ``fire_time`` headers). The
    job's own headers win over any a plugin returns; among plugins, the implementation
    called first wins a header name. Exactly one of ``queue_core_job_enqueued`` and
    ``queue_core_job_enqueue_failed`` follows for the same job, so a plugin may hold
    something (a span) open across the write. The returned names and values must be
    strings; anything else is logged and dropped.
    """


@hookspec
def queue_core_job_enqueued(queue: str, job_id: str, job_type: str) -> None:
    """A job was stored (pending, scheduled or aggregating)."""


@hookspec
def queue_core_job_enqueue_failed(queue: str, job_id: str, job_type: str, error: BaseException) -> None:
    """A job announced by ``queue_core_job_enqueueing`` was not stored: the broker call
    failed or was cancelled, the ID was taken (``JobIdConflict``) or the unique lock held
    (``DuplicateJob``)."""


@hookspec
def queue_core_worker_middleware(worker_id: str, queues: list[str]) -> Sequence[Callable[..., Any]] | None:
    """Middleware (``async def mw(delivery, call_next)``) to run around every handler of a
    worker that is starting.

    Called once per ``Worker.run``. Plugin middleware is outermost, outside the worker's
    own: the middleware of the implementation called first is the outermost, and within
    one implementation's list the first item is. It sees every attempt whose handler
    runs (not the jobs put back before that: rate-limited or of an unknown type).
    """


@hookspec
def queue_core_job_started(queue: str, job_id: str, job_type: str, attempt: int) -> None:
    """A worker started an attempt."""


@hookspec
def queue_core_job_succeeded(queue: str, job_id: str, job_type: str, duration: float) -> None:
    """An attempt returned normally."""


@hookspec
def queue_core_job_failed(queue: str, job_id: str, job_type: str, error: BaseException, will_retry: bool) -> None:
    """An attempt failed (``will_retry`` says whether the job goes to retry)."""


@hookspec
def queue_core_job_retrying(
    queue: str, job_id: str, job_type: str, retry_at: float, error: BaseException, counts_as_failure: bool
) -> None:
    """A job went to retry until ``retry_at``: after a failed attempt (``counts_as_failure``),
    or bounced without using a retry (a transient error, a rate limit, an unknown type)."""


@hookspec
def queue_core_job_progress(
    queue: str, job_id: str, job_type: str, done: float, total: float | None, message: str | None
) -> None:
    """A handler reported progress (``Delivery.progress``)."""


@hookspec
def queue_core_job_archived(queue: str, job_id: str, job_type: str, reason: str) -> None:
    """A job was archived by a worker."""


@hookspec
def queue_core_leases_renewed(count: int) -> None:
    """A renewal round extended ``count`` leases of running jobs."""


@hookspec
def queue_core_lease_lost(queue: str, job_id: str, job_type: str) -> None:
    """A running job's lease was lost (the broker no longer grants it, or it ran out while
    the broker could not be reached): its handler is stopped and nothing is written."""


@hookspec
def queue_core_broker_error(operation: str, error: BaseException) -> None:
    """A worker's call to the broker failed (``operation``: ``dequeue``,
    ``wait_for_jobs``, ``extend_leases``, ``settle``, ``heartbeat``, ``wait_for_cancel``,
    ``forward_due``, ``recover_expired``, ``purge_expired``); it is retried."""


@hookspec
def queue_core_broker_reconnected(operation: str) -> None:
    """A worker's ``operation`` succeeded again after ``queue_core_broker_error``."""


@hookspec
def queue_core_worker_started(worker_id: str, queues: list[str]) -> None:
    """A worker began fetching."""


@hookspec
def queue_core_worker_stopping(worker_id: str) -> None:
    """A worker stopped fetching and is draining."""


@hookspec
def queue_core_schedule_fired(schedule_id: str, fire_time: float, job_id: str | None, error: Any) -> None:
    """A scheduler tick produced a job (or failed to: ``error`` is set)."""
