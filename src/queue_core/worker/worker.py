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
import signal
from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Unpack

import anyio
from anyio.abc import TaskStatus

from queue_core import errors
from queue_core.broker import NO_EVICTION, Broker
from queue_core.clock import Clock
from queue_core.events import LOGGER_NAME
from queue_core.extras import require_backend
from queue_core.options import Option
from queue_core.outage import wait_until_reachable
from queue_core.registry import DEFAULT_URL
from queue_core.retry import RetryPolicy
from queue_core.serialization import Serializer
from queue_core.session import BrokerSession
from queue_core.worker._run import IDLE_WAIT_BLOCKING, IDLE_WAIT_POLLING, RunParts, WorkerRun
from queue_core.worker.aggregation import AggregationPolicy
from queue_core.worker.handlers import Group, H, Handler, HandlerSpec, HandlerTable
from queue_core.worker.middleware import Middleware
from queue_core.worker.options import WorkerErrorHandler, WorkerOptions, WorkerSettings, default_worker_id, options_from
from queue_core.worker.ratelimit import RateLimit

if TYPE_CHECKING:
    # Only for the annotation: the tasks package imports the worker's Delivery.
    from queue_core.tasks import TaskRegistry

__all__ = ["IDLE_WAIT_BLOCKING", "IDLE_WAIT_POLLING", "Worker", "WorkerOptions", "default_worker_id"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Worker:
    """Processes jobs from ``queues`` with registered handlers.

    Options (``concurrency``, ``queues``, ``lease_for``, ...) are ``WorkerOptions``' fields,
    given as keyword arguments or as one ``options=WorkerOptions(...)``; see ``WorkerOptions``
    for each. Besides them:

    - ``clock``: the clock leases are judged by; without one, ``run()`` uses the broker's
      (see ``BrokerSession.sync_clock``).
    - ``logger``: where the worker logs (default: the ``queue_core`` logger).
    - ``broker_options``: passed to the driver when the worker opens its broker from a
      URL (for Redis and memory://: ``prefix``).
    - ``tasks``: a ``TaskRegistry`` whose every task is registered; without a ``queues``
      keyword, the worker consumes the tasks' queues.
    """

    def __init__(
        self,
        broker_or_url: Broker | str = DEFAULT_URL,
        *,
        options: WorkerOptions | None = None,
        clock: Clock | None = None,
        logger: logging.Logger | None = None,
        broker_options: Mapping[str, Any] | None = None,
        tasks: TaskRegistry | None = None,
        **settings: Unpack[WorkerSettings],
    ) -> None:
        if tasks is not None and not callable(getattr(tasks, "register_with", None)):
            raise errors.InvalidWorkerOption("tasks", tasks, "a TaskRegistry or None")
        if tasks is not None and len(tasks) and options is None and settings.get("queues") is None:
            settings["queues"] = tasks.queues()
        if options is not None and settings:
            raise errors.InvalidWorkerOption(
                "options", options, "either options=WorkerOptions(...) or keyword options, not both"
            )
        self.session = BrokerSession(broker_or_url, broker_options=broker_options, clock=clock)
        self.options = options if options is not None else options_from(settings)
        if not isinstance(self.options, WorkerOptions):
            raise errors.InvalidWorkerOption("options", self.options, "a WorkerOptions or None")
        self.log = logger if logger is not None else logging.getLogger(f"{LOGGER_NAME}.worker")
        self.handlers = HandlerTable(self.options.queue_weights)
        if tasks is not None:
            tasks.register_with(self.register)
        self._started = False
        # Created inside run(): an anyio.Event binds to the event loop that first uses it.
        self._stop: anyio.Event | None = None
        self._stop_now: anyio.Event | None = None
        self._stop_requested = False
        self._stop_now_requested = False

    @property
    def clock(self) -> Clock:
        """The clock leases and schedules are judged by: the one given, else (once ``run()``
        has begun) a ``BrokerClock``, the local clock corrected to the broker's."""
        return self.session.clock

    @property
    def queues(self) -> dict[str, int]:
        return self.options.queue_weights

    @property
    def threads(self) -> int:
        return self.options.thread_limit

    # The other options, readable on the worker as they always were.
    id: Option[str] = Option()
    strict: Option[bool] = Option()
    concurrency: Option[int] = Option()
    lease_for: Option[float] = Option()
    sweep_interval: Option[float] = Option()
    shutdown_timeout: Option[float] = Option()
    connect_timeout: Option[float] = Option()
    heartbeat_interval: Option[float] = Option()
    rate_limit: Option[RateLimit | None] = Option()
    aggregation: Option[AggregationPolicy | None] = Option()
    max_crashes: Option[int] = Option()
    max_bounces: Option[int] = Option()
    unknown_type_grace: Option[float] = Option()
    archive_max_size: Option[int] = Option()
    archive_max_age: Option[float] = Option()
    serializer: Option[Serializer] = Option()
    error_handler: Option[WorkerErrorHandler | None] = Option()

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

    @property
    def url(self) -> str | None:
        """The broker URL this worker opens (None when it was given a Broker)."""
        return self.session.url

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
        async with self.session.opened() as broker:
            await wait_until_reachable(broker, self.options.connect_timeout, self.log, f"worker {self.id}")
            await self._refuse_foreign_layout(broker)
            # A look at the broker's settings, beside the loops: it must not delay the start.
            check = functools.partial(self._check_broker_settings, broker)
            extra: list[Callable[[], Coroutine[Any, Any, None]]] = [check]
            broker_clock = await self.session.sync_clock(self.log, f"worker {self.id}")
            if broker_clock is not None:
                extra.append(broker_clock.run)
            stop_now = functools.partial(self.stop, immediate=True)
            parts = RunParts(broker, self.clock, self.handlers, self.log, stop_now=stop_now)
            await WorkerRun(self.options, parts, extra_loops=extra).run(self._stop, self._stop_now)

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
        require_backend(backend)
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

    async def _refuse_foreign_layout(self, broker: Broker) -> None:
        """A driver that finds data of another storage layout refuses every call: end the
        run with that error now, before any loop starts, rather than have each loop log it
        forever. Any other failure is left to the loops, which retry."""
        try:
            await broker.ping()
        except errors.StorageLayoutMismatch:
            raise
        except errors.QueueError as exc:
            self.log.debug("worker %s: the broker does not answer yet (%s); the loops retry", self.id, exc)

    async def _check_broker_settings(self, broker: Broker) -> None:
        """Warn about broker settings that break the worker's promises: a server that may
        evict data under memory pressure (its report's eviction policy is neither None nor
        ``NO_EVICTION``) can drop jobs, leases and locks silently. Read from the broker's
        own report (Redis: ``INFO``, which a least-privilege user may run where ``CONFIG``
        is denied); a driver or user that cannot report is not checked."""
        try:
            report = await broker.server_info()
        except Exception as exc:  # a look only: nothing here may take the worker down
            self.log.debug("worker %s: cannot read the broker's settings (%s); not checked", self.id, exc)
            return
        if report.may_evict:
            self.log.warning(
                "worker %s: the broker may evict data (on Redis: maxmemory-policy is %r): under memory pressure "
                "jobs, leases and unique locks can vanish; set the eviction policy to %s",
                self.id, report.eviction_policy, NO_EVICTION,
            )  # fmt: skip
