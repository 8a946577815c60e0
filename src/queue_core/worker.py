"""The consumer side: run handlers for jobs, with leases, retries and maintenance.

::

    worker = Worker("redis://localhost:6379/0", queues={"critical": 6, "default": 3, "low": 1})
    worker.use(timing)                                   # middleware around every handler

    @worker.handler("email.send", retry_delay=retry.exponential(2.0), timeout=60)
    async def send(delivery: Delivery) -> dict:
        ...

    await worker.run()              # until cancelled, or worker.stop()
    worker.run_forever()            # or: blocking, stops gracefully on SIGTERM / SIGINT

``run()`` is one anyio task group of small named loops (see ``runtime``) plus one task
per running job, bounded by the concurrency. Nothing it starts outlives it. Stopping
stops fetching, lets running handlers finish for up to ``shutdown_timeout`` seconds,
then interrupts the rest and puts their jobs back at the head of pending without using
a retry.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import anyio
from anyio.abc import TaskStatus

from queue_core import errors, validation
from queue_core.aggregation import AggregationPolicy
from queue_core.broker import Broker
from queue_core.broker_clock import BrokerClock
from queue_core.clock import Clock, SystemClock
from queue_core.events import LOGGER_NAME
from queue_core.handlers import Group, H, Handler, HandlerSpec, HandlerTable
from queue_core.middleware import Middleware
from queue_core.outage import DEFAULT_CONNECT_TIMEOUT, wait_until_reachable
from queue_core.outcomes import DEFAULT_MAX_BOUNCES
from queue_core.queues import parse_queues
from queue_core.ratelimit import RateLimit
from queue_core.ratelimit import checked as checked_rate_limit
from queue_core.registry import DEFAULT_URL, open_broker, scheme_of
from queue_core.retry import RetryPolicy
from queue_core.runner import WorkerErrorHandler
from queue_core.runtime import IDLE_WAIT_BLOCKING, IDLE_WAIT_POLLING, WorkerRun
from queue_core.serialization import JSON, Serializer

__all__ = ["IDLE_WAIT_BLOCKING", "IDLE_WAIT_POLLING", "Worker", "default_worker_id"]

DEFAULT_CONCURRENCY = 10
DEFAULT_LEASE = 30.0
DEFAULT_SWEEP_INTERVAL = 5.0
DEFAULT_SHUTDOWN_TIMEOUT = 8.0
DEFAULT_HEARTBEAT_INTERVAL = 5.0
DEFAULT_UNKNOWN_TYPE_GRACE = 600.0
DEFAULT_ARCHIVE_MAX_SIZE = 10_000
DEFAULT_ARCHIVE_MAX_AGE = 90 * 24 * 3600.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: a clock this far off the broker's is worth a warning.
CLOCK_SKEW_WARNING = 1.0


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Processes jobs from ``queues`` with registered handlers.

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
    - ``logger``: where the worker logs (default: the ``queue_core`` logger).
    - ``error_handler(error, delivery)``: called after every failure is logged (handler
      errors, timeouts, bounces, unknown types, cancels, lost leases); what it raises
      is logged and ignored.
    - ``broker_options``: passed to the driver when the worker opens its broker from a
      URL (for Redis and memory://: ``prefix``).
    """

    def __init__(
        self,
        broker_or_url: Broker | str = DEFAULT_URL,
        *,
        queues: Mapping[str, int] | Iterable[str] | None = None,
        strict: bool = False,
        concurrency: int = DEFAULT_CONCURRENCY,
        threads: int | None = None,
        lease_for: float = DEFAULT_LEASE,
        sweep_interval: float = DEFAULT_SWEEP_INTERVAL,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
        rate_limit: RateLimit | None = None,
        aggregation: AggregationPolicy | None = None,
        clock: Clock | None = None,
        serializer: Serializer = JSON,
        id: str | None = None,
        max_crashes: int = 5,
        max_bounces: int = DEFAULT_MAX_BOUNCES,
        unknown_type_grace: float | timedelta = DEFAULT_UNKNOWN_TYPE_GRACE,
        archive_max_size: int = DEFAULT_ARCHIVE_MAX_SIZE,
        archive_max_age: float | timedelta = DEFAULT_ARCHIVE_MAX_AGE,
        logger: logging.Logger | None = None,
        error_handler: WorkerErrorHandler | None = None,
        broker_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._broker_options = dict(broker_options or {})
        if isinstance(broker_or_url, str):
            scheme_of(broker_or_url)
            self._url: str | None = broker_or_url
            self._given_broker: Broker | None = None
        else:
            self._url = None
            self._given_broker = broker_or_url
        self.queues = parse_queues({"default": 1} if queues is None else queues)
        if not isinstance(strict, bool):
            raise errors.InvalidWorkerOption("strict", strict, "True or False")
        self.strict = strict
        self.concurrency = _int_option("concurrency", concurrency, 1)
        self.threads = self.concurrency if threads is None else _int_option("threads", threads, 1)
        self.lease_for = _seconds_option("lease_for", lease_for, positive=True)
        self.sweep_interval = _seconds_option("sweep_interval", sweep_interval, positive=True)
        self.shutdown_timeout = _seconds_option("shutdown_timeout", shutdown_timeout)
        self.connect_timeout = _seconds_option("connect_timeout", connect_timeout)
        self.heartbeat_interval = _seconds_option("heartbeat_interval", heartbeat_interval, positive=True)
        self.rate_limit = checked_rate_limit(rate_limit, "rate_limit")
        if aggregation is not None and not isinstance(aggregation, AggregationPolicy):
            raise errors.InvalidWorkerOption("aggregation", aggregation, "an AggregationPolicy or None")
        self.aggregation = aggregation
        self.max_crashes = _int_option("max_crashes", max_crashes, 0)
        self.max_bounces = _int_option("max_bounces", max_bounces, 0)
        self.unknown_type_grace = _seconds_option("unknown_type_grace", unknown_type_grace)
        self.archive_max_size = _int_option("archive_max_size", archive_max_size, 0)
        self.archive_max_age = _seconds_option("archive_max_age", archive_max_age)
        #: the clock leases and schedules are judged by; without one given, ``run()`` uses
        #: a ``BrokerClock`` (the local clock corrected to the broker's), so workers on
        #: machines whose clocks disagree still agree on when a lease ran out.
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._own_clock = clock is None
        self.serializer = serializer
        self.id = default_worker_id() if id is None else validation.job_id(id, "id")
        self.log = logger if logger is not None else logging.getLogger(LOGGER_NAME)
        if error_handler is not None and not callable(error_handler):
            raise errors.InvalidWorkerOption("error_handler", error_handler, "a callable (error, delivery) -> None")
        self.error_handler = error_handler
        self.handlers = HandlerTable(self.queues)
        self._started = False
        # Created inside run(): an anyio.Event binds to the event loop that first uses it.
        self._stop: anyio.Event | None = None
        self._stop_now: anyio.Event | None = None
        self._stop_requested = False
        self._stop_now_requested = False

    # ----------------------------------------------------------------- registration

    def register(
        self,
        job_type: str,
        fn: Handler,
        *,
        retry_delay: RetryPolicy | None = None,
        queue: str | None = None,
        timeout: float | timedelta | None = None,
        rate_limit: RateLimit | None = None,
        middleware: Iterable[Middleware] = (),
    ) -> HandlerSpec:
        """Run ``fn(delivery)`` for jobs of ``job_type``; what it returns is the result.

        ``fn`` is an ``async def``, or a plain ``def`` that runs on a worker thread.

        - ``retry_delay(retried, error) -> seconds`` replaces the default backoff.
        - ``queue``: serve this type from that queue only (one the worker consumes).
        - ``timeout``: seconds one attempt may run; the earliest of this, the job's
          timeout and the job's deadline wins (30 minutes when none is set).
        - ``rate_limit``: a ``RateLimit`` for this type, checked after the worker's.
        - ``middleware``: this handler's own middleware, innermost.

        Raises ``HandlerAlreadyRegistered`` for a type registered twice,
        ``InvalidWorkerOption`` for a bad option and ``WorkerAlreadyStarted`` once
        ``run()`` has begun.
        """
        return self.handlers.add(
            job_type, fn, retry_delay=retry_delay, queue=queue, timeout=timeout, rate_limit=rate_limit,
            middleware=middleware,
        )  # fmt: skip

    def handler(self, job_type: str, **options: Any) -> Callable[[H], H]:
        """Decorator form of ``register`` (same options); returns the function unchanged."""

        def decorate(fn: H) -> H:
            self.register(job_type, fn, **options)
            return fn

        return decorate

    def use(self, *middleware: Middleware) -> Worker:
        """Add middleware around every handler: outermost, the first added first."""
        self.handlers.use(*middleware)
        return self

    def group(self, name: str) -> Group:
        """The middleware group ``name`` (created on first use): handlers registered
        through it (``group.register`` / ``@group.handler``) get its middleware, inside
        the worker's and outside their own."""
        return self.handlers.group(name)

    # ----------------------------------------------------------------- running

    def stop(self, *, immediate: bool = False) -> None:
        """Ask a running worker to stop; ``run()`` then returns normally.

        Fetching stops at once; running handlers get ``shutdown_timeout`` seconds to
        finish, or none with ``immediate=True``; the rest are interrupted and their jobs
        go back to the head of pending without using a retry. Safe to call before
        ``run()`` (it then returns as soon as it started) and from a handler. Call it
        from the worker's event loop thread.
        """
        self._stop_requested = True
        self._stop_now_requested = self._stop_now_requested or immediate
        if self._stop is not None:
            self._stop.set()
        if immediate and self._stop_now is not None:
            self._stop_now.set()

    async def run(self) -> None:
        """Process jobs until cancelled or ``stop()`` is called.

        A worker runs once: a second ``run()`` raises ``WorkerAlreadyStarted``. Returns
        only after every task it started has ended.
        """
        if self._started:
            raise errors.WorkerAlreadyStarted(f"worker {self.id} has already run; create a new Worker to run again")
        self._started = True
        self.handlers.freeze()
        self._stop, self._stop_now = anyio.Event(), anyio.Event()
        if self._stop_requested:
            self._stop.set()
        if self._stop_now_requested:
            self._stop_now.set()
        async with self._broker() as broker:
            await wait_until_reachable(broker, self.connect_timeout, self.log, f"worker {self.id}")
            # A look at the broker's settings, beside the loops: it must not delay the start.
            check = functools.partial(self._check_broker_settings, broker)
            extra: list[Callable[[], Coroutine[Any, Any, None]]] = [check]
            if self._own_clock:
                self.clock = await self._broker_clock(broker)
                if isinstance(self.clock, BrokerClock):
                    extra.append(self.clock.run)
            await WorkerRun(self, broker, extra_loops=extra).run(self._stop, self._stop_now)

    async def run_until_signal(self, signals: Iterable[signal.Signals] = STOP_SIGNALS) -> None:
        """``run()``, stopping gracefully on the first of ``signals`` (SIGTERM, SIGINT)
        and at once on the second. Must be called in the main thread."""
        async with anyio.create_task_group() as tg:
            await tg.start(self._watch_signals, tuple(signals), name="signals")
            await self.run()
            tg.cancel_scope.cancel()

    def run_forever(self, *, backend: str = "asyncio", handle_signals: bool = True) -> None:
        """Run the worker in a new event loop until it stops (blocking).

        With ``handle_signals`` (the default), SIGTERM or SIGINT stops it gracefully, and
        a second signal stops it at once. ``backend`` is "asyncio" or "trio".
        """
        anyio.run(self.run_until_signal if handle_signals else self.run, backend=backend)

    async def _watch_signals(
        self, signals: tuple[signal.Signals, ...], *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        with anyio.open_signal_receiver(*signals) as received:
            task_status.started()
            async for signum in received:
                name = signal.Signals(signum).name
                if not self._stop_requested:
                    self.log.info("worker %s: %s received, stopping (send it again to stop at once)", self.id, name)
                    self.stop()
                else:
                    self.log.warning("worker %s: %s received again, interrupting running jobs", self.id, name)
                    self.stop(immediate=True)

    async def _broker_clock(self, broker: Broker) -> Clock:
        clock = BrokerClock(broker)
        try:
            offset = await clock.sync()
        except errors.QueueError as exc:
            self.log.warning("worker %s: cannot read the broker's clock (%s); using the local clock", self.id, exc)
            return SystemClock()
        if abs(offset) > CLOCK_SKEW_WARNING:
            self.log.warning("worker %s: this machine's clock is %+.3fs off the broker's; the worker uses the "
                             "broker's", self.id, -offset)  # fmt: skip
        return clock

    async def _check_broker_settings(self, broker: Broker) -> None:
        """Warn about broker settings that break the worker's promises: a Redis that may
        evict keys (``maxmemory-policy`` other than ``noeviction``) can drop jobs, leases
        and locks silently. Read from the broker's own report (Redis: ``INFO``, which a
        least-privilege user may run where ``CONFIG`` is denied); a driver or user that
        cannot report is not checked."""
        try:
            info = await broker.server_info()
        except Exception as exc:  # a look only: nothing here may take the worker down
            self.log.debug("worker %s: cannot read the broker's settings (%s); not checked", self.id, exc)
            return
        policy = info.get("maxmemory_policy")
        if policy is not None and policy != "noeviction":
            self.log.warning(
                "worker %s: the broker's maxmemory-policy is %r: under memory pressure Redis evicts keys and "
                "jobs, leases and unique locks can vanish; set maxmemory-policy noeviction", self.id, policy
            )  # fmt: skip

    @asynccontextmanager
    async def _broker(self) -> AsyncIterator[Broker]:
        if self._given_broker is not None:
            yield self._given_broker
            return
        assert self._url is not None
        broker = await open_broker(self._url, **self._broker_options)
        try:
            yield broker
        finally:
            with anyio.CancelScope(shield=True):
                await broker.close()


# --------------------------------------------------------------------------- option checks


def _int_option(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise errors.InvalidWorkerOption(name, value, f"an integer >= {minimum}")
    return value


def _seconds_option(name: str, value: Any, *, positive: bool = False) -> float:
    seconds = validation.seconds(value, name, errors.InvalidWorkerOption, allow_zero=not positive)
    if not math.isfinite(seconds):
        raise errors.InvalidWorkerOption(name, value, "a finite number of seconds")
    return seconds
