"""The pluggy hooks queue-core calls. Plugins implement them with ``hookimpl``.

Plugins are found through the entry-point group ``queue_core``. The in-tree drivers
register exactly as a third-party driver would, through ``queue_core_add_brokers``.
Hooks are notifications (synchronous, must not block); code that needs to await belongs
in middleware.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from queue_core.broker import Broker

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


@hookspec
def queue_core_job_enqueued(queue: str, job_id: str, job_type: str) -> None:
    """A job was stored (pending, scheduled or aggregating)."""


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
def queue_core_worker_started(worker_id: str, queues: list[str]) -> None:
    """A worker began fetching."""


@hookspec
def queue_core_worker_stopping(worker_id: str) -> None:
    """A worker stopped fetching and is draining."""


@hookspec
def queue_core_schedule_fired(schedule_id: str, fire_time: float, job_id: str | None, error: Any) -> None:
    """A scheduler tick produced a job (or failed to: ``error`` is set)."""
