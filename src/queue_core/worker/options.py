"""What a worker is told: one frozen, validated object, documented here once.

``Worker(url, concurrency=20, queues=[...])`` builds a ``WorkerOptions`` from its keyword
arguments; ``Worker(url, options=WorkerOptions(...))`` takes a ready one. A run of the worker
reads its options from this object only, never from the ``Worker``.
"""

from __future__ import annotations

import functools
import math
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypedDict

from queue_core import errors, validation
from queue_core.outage import DEFAULT_CONNECT_TIMEOUT
from queue_core.serialization import JSON, Serializer
from queue_core.worker._outcomes import DEFAULT_MAX_BOUNCES
from queue_core.worker._queues import parse_queues
from queue_core.worker.aggregation import AggregationPolicy
from queue_core.worker.delivery import Delivery
from queue_core.worker.ratelimit import RateLimit
from queue_core.worker.ratelimit import checked as checked_rate_limit

__all__ = ["WorkerErrorHandler", "WorkerOptions", "WorkerSettings", "default_worker_id"]

#: ``error_handler(error, delivery)``: called after a failed attempt is logged.
WorkerErrorHandler = Callable[[BaseException, Delivery], None]

DEFAULT_CONCURRENCY = 10
DEFAULT_LEASE = 30.0
DEFAULT_SWEEP_INTERVAL = 5.0
DEFAULT_SHUTDOWN_TIMEOUT = 8.0
DEFAULT_HEARTBEAT_INTERVAL = 5.0
DEFAULT_UNKNOWN_TYPE_GRACE = 600.0
DEFAULT_ARCHIVE_MAX_SIZE = 10_000
DEFAULT_ARCHIVE_MAX_AGE = 90 * 24 * 3600.0


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerOptions:
    """How a worker runs. Every field is checked on construction (``InvalidWorkerOption``
    names the field and the accepted form) and normalised (durations to float seconds).

    - ``queues``: names -> weights (of every ten jobs taken while all queues have
      work, a queue of weight 6 gets six), or a list of names of equal weight.
    - ``strict``: strict priority instead: heaviest queue (or first listed) first, the
      next only while it is empty.
    - ``concurrency``: handlers running at once.
    - ``threads``: plain ``def`` handlers running at once on worker threads (default:
      ``concurrency``).
    - ``lease_for``: seconds a job stays ours without renewal; renewed every third of it.
    - ``sweep_interval``: how often expired leases of dead workers are recovered: a
      killed worker's jobs are back within ``lease_for + sweep_interval``.
    - ``shutdown_timeout``: seconds running handlers get to finish when stopping.
    - ``connect_timeout``: seconds ``run()`` waits for the broker to answer before it
      reports itself started; then it raises ``BrokerUnavailable`` (the command line
      exits 2 with one line).
    - ``heartbeat_interval``: how often the worker publishes its ``WorkerInfo``.
    - ``rate_limit``: a ``RateLimit`` on every attempt this worker starts (checked
      before the handler's own); with a ``key``, shared by every worker naming it.
    - ``aggregation``: an ``AggregationPolicy``: this worker also turns ready groups of
      its queues into one job each (see ``aggregation``).
    - ``max_crashes``: lease expiries a job survives before it is archived.
    - ``max_bounces``: ``TransientError``/``RateLimited`` bounces before a bounce
      counts as an ordinary failure.
    - ``unknown_type_grace``: seconds a job of a type no handler knows keeps coming
      back (without using a retry) before it is archived; 0 archives it at once.
    - ``archive_max_size`` / ``archive_max_age``: archive caps the janitor applies.
    - ``serializer``: how payloads and results are encoded (JSON by default).
    - ``id``: this worker's id (default: host:pid:random).
    - ``error_handler(error, delivery)``: called after every failure is logged (handler
      errors, timeouts, bounces, unknown types, cancels, lost leases); what it raises
      is logged and ignored.
    """

    queues: Mapping[str, int] | Iterable[str] = field(default_factory=lambda: {"default": 1})
    strict: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    threads: int | None = None
    lease_for: float = DEFAULT_LEASE
    sweep_interval: float = DEFAULT_SWEEP_INTERVAL
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL
    rate_limit: RateLimit | None = None
    aggregation: AggregationPolicy | None = None
    max_crashes: int = 5
    max_bounces: int = DEFAULT_MAX_BOUNCES
    unknown_type_grace: float = DEFAULT_UNKNOWN_TYPE_GRACE
    archive_max_size: int = DEFAULT_ARCHIVE_MAX_SIZE
    archive_max_age: float = DEFAULT_ARCHIVE_MAX_AGE
    serializer: Serializer = JSON
    id: str = field(default_factory=default_worker_id)
    error_handler: WorkerErrorHandler | None = None

    def __post_init__(self) -> None:
        fix = functools.partial(object.__setattr__, self)  # frozen: normalised values are set here, once
        fix("queues", parse_queues(self.queues))
        validation.flag(self.strict, "strict", errors.InvalidWorkerOption)
        for name, minimum in (("concurrency", 1), ("max_crashes", 0), ("max_bounces", 0), ("archive_max_size", 0)):
            validation.integer(getattr(self, name), name, errors.InvalidWorkerOption, minimum=minimum)
        threads = self.concurrency if self.threads is None else self.threads
        fix("threads", validation.integer(threads, "threads", errors.InvalidWorkerOption, minimum=1))
        for name in ("lease_for", "sweep_interval", "heartbeat_interval"):
            fix(name, _seconds(name, getattr(self, name), positive=True))
        for name in ("shutdown_timeout", "connect_timeout", "unknown_type_grace", "archive_max_age"):
            fix(name, _seconds(name, getattr(self, name)))
        checked_rate_limit(self.rate_limit, "rate_limit")
        if self.aggregation is not None and not isinstance(self.aggregation, AggregationPolicy):
            raise errors.InvalidWorkerOption("aggregation", self.aggregation, "an AggregationPolicy or None")
        validation.job_id(self.id, "id")
        if self.error_handler is not None and not callable(self.error_handler):
            raise errors.InvalidWorkerOption(
                "error_handler", self.error_handler, "a callable (error, delivery) -> None"
            )

    @property
    def queue_weights(self) -> dict[str, int]:
        """``queues`` as names -> weights (what construction normalised it to)."""
        assert isinstance(self.queues, dict)
        return self.queues

    @property
    def thread_limit(self) -> int:
        """``threads``, resolved (``concurrency`` when none was given)."""
        return self.concurrency if self.threads is None else self.threads


class WorkerSettings(TypedDict, total=False):
    """``WorkerOptions``' fields as keyword arguments of ``Worker(...)``."""

    queues: Mapping[str, int] | Iterable[str] | None
    strict: bool
    concurrency: int
    threads: int | None
    lease_for: float | timedelta
    sweep_interval: float | timedelta
    shutdown_timeout: float | timedelta
    connect_timeout: float | timedelta
    heartbeat_interval: float | timedelta
    rate_limit: RateLimit | None
    aggregation: AggregationPolicy | None
    max_crashes: int
    max_bounces: int
    unknown_type_grace: float | timedelta
    archive_max_size: int
    archive_max_age: float | timedelta
    serializer: Serializer
    id: str | None
    error_handler: WorkerErrorHandler | None


def options_from(settings: Mapping[str, Any]) -> WorkerOptions:
    """``WorkerOptions`` from ``Worker(...)``'s keyword arguments (``queues=None`` and
    ``id=None`` mean the default, as they always have)."""
    given = {name: value for name, value in settings.items() if value is not None or name not in _NONE_IS_DEFAULT}
    return WorkerOptions(**given)


_NONE_IS_DEFAULT = ("queues", "id")


def _seconds(name: str, value: Any, *, positive: bool = False) -> float:
    seconds = validation.seconds(value, name, errors.InvalidWorkerOption, allow_zero=not positive)
    if not math.isfinite(seconds):
        raise errors.InvalidWorkerOption(name, value, "a finite number of seconds")
    return seconds
