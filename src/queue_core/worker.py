"""The consumer side: run handlers for jobs, with leases, retries and maintenance.

::

    worker = Worker("redis://localhost:6379/0", queues={"critical": 6, "default": 3, "low": 1})

    @worker.handler("email.send", retry_delay=retry.exponential(2.0))
    async def send(delivery: Delivery) -> dict:
        ...

    await worker.run()          # until cancelled, or worker.stop()

``run()`` is one anyio task group of small named loops -- fetcher, lease keeper,
forwarder, recoverer, janitor -- plus one task per running job, bounded by the
concurrency. Nothing it starts outlives it. Stopping (cancelling ``run()`` or calling
``stop()``) stops fetching, lets running handlers finish for up to
``shutdown_timeout`` seconds, then interrupts the rest and puts their jobs back at the
head of pending without using a retry.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskGroup, TaskStatus

from queue_core import errors, validation
from queue_core.broker import Broker, Lease, Settlement
from queue_core.clock import Clock, SystemClock
from queue_core.events import LOGGER_NAME, emit
from queue_core.handlers import Handler, HandlerRegistry
from queue_core.leases import Attempt, InFlight, LeaseKeeper, StopReason
from queue_core.maintenance import Forwarder, Janitor, Recoverer
from queue_core.outcomes import DEFAULT_MAX_BOUNCES
from queue_core.processor import Fetcher, Runner, WorkerErrorHandler
from queue_core.queues import QueueOrder, parse_queues
from queue_core.registry import DEFAULT_URL, open_broker, scheme_of
from queue_core.retry import RetryPolicy
from queue_core.serialization import JSON, Serializer

H = TypeVar("H", bound=Handler)

DEFAULT_CONCURRENCY = 10
DEFAULT_LEASE = 30.0
DEFAULT_SWEEP_INTERVAL = 5.0
DEFAULT_SHUTDOWN_TIMEOUT = 8.0
DEFAULT_ARCHIVE_MAX_SIZE = 10_000
DEFAULT_ARCHIVE_MAX_AGE = 90 * 24 * 3600.0
#: how long one idle wait on the broker lasts before the fetcher asks again anyway.
IDLE_WAIT_BLOCKING = 5.0
IDLE_WAIT_POLLING = 1.0


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Processes jobs from ``queues`` with registered handlers.

    - ``queues``: names -> weights (a queue of weight 6 is tried first six times as
      often as one of weight 1), or a list of names of equal weight.
    - ``concurrency``: handlers running at once.
    - ``lease_for``: seconds a job stays ours without renewal; renewed every third of it.
    - ``sweep_interval``: how often expired leases of dead workers are recovered.
    - ``shutdown_timeout``: seconds running handlers get to finish when stopping.
    - ``max_crashes``: lease expiries a job survives before it is archived.
    - ``max_bounces``: ``TransientError``/``RateLimited`` bounces before a bounce
      counts as an ordinary failure.
    - ``archive_max_size`` / ``archive_max_age``: archive caps the janitor applies.
    - ``error_handler(error, delivery)``: called after every failed attempt is logged.
    - ``broker_options``: passed to the driver when the worker opens its broker from a
      URL (for Redis and memory://: ``prefix``).
    """

    def __init__(
        self,
        broker_or_url: Broker | str = DEFAULT_URL,
        *,
        queues: Mapping[str, int] | Iterable[str] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        lease_for: float = DEFAULT_LEASE,
        sweep_interval: float = DEFAULT_SWEEP_INTERVAL,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        clock: Clock | None = None,
        serializer: Serializer = JSON,
        id: str | None = None,
        max_crashes: int = 5,
        max_bounces: int = DEFAULT_MAX_BOUNCES,
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
        self.concurrency = _int_option("concurrency", concurrency, 1)
        self.lease_for = _seconds_option("lease_for", lease_for, positive=True)
        self.sweep_interval = _seconds_option("sweep_interval", sweep_interval, positive=True)
        self.shutdown_timeout = _seconds_option("shutdown_timeout", shutdown_timeout)
        self.max_crashes = _int_option("max_crashes", max_crashes, 0)
        self.max_bounces = _int_option("max_bounces", max_bounces, 0)
        self.archive_max_size = _int_option("archive_max_size", archive_max_size, 0)
        self.archive_max_age = _seconds_option("archive_max_age", archive_max_age)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.serializer = serializer
        self.id = default_worker_id() if id is None else validation.job_id(id, "id")
        self.log = logger if logger is not None else logging.getLogger(LOGGER_NAME)
        self.error_handler = error_handler
        self.handlers = HandlerRegistry()
        self._started = False
        # Created inside run(): an anyio.Event binds to the event loop that first uses it.
        self._stop: anyio.Event | None = None
        self._stop_requested = False

    # ----------------------------------------------------------------- registration

    def register(self, job_type: str, fn: Handler, *, retry_delay: RetryPolicy | None = None) -> None:
        """Run ``fn(delivery)`` for jobs of ``job_type``.

        ``retry_delay(retried, error) -> seconds`` replaces the default backoff for this
        type. Raises ``HandlerAlreadyRegistered`` for a type registered twice and
        ``WorkerAlreadyStarted`` once ``run()`` has begun.
        """
        self.handlers.add(job_type, fn, retry_delay=retry_delay)

    def handler(self, job_type: str, *, retry_delay: RetryPolicy | None = None) -> Callable[[H], H]:
        """Decorator form of ``register``; returns the function unchanged."""

        def decorate(fn: H) -> H:
            self.register(job_type, fn, retry_delay=retry_delay)
            return fn

        return decorate

    # ----------------------------------------------------------------- running

    def stop(self) -> None:
        """Ask a running worker to stop gracefully; ``run()`` then returns normally.

        Safe to call before ``run()`` (it then returns as soon as it started) and from
        a handler. Call it from the worker's event loop thread.
        """
        self._stop_requested = True
        if self._stop is not None:
            self._stop.set()

    async def run(self) -> None:
        """Process jobs until cancelled or ``stop()`` is called.

        A worker runs once: a second ``run()`` raises ``WorkerAlreadyStarted``.
        """
        if self._started:
            raise errors.WorkerAlreadyStarted(f"worker {self.id} has already run; create a new Worker to run again")
        self._started = True
        self.handlers.freeze()
        self._stop = anyio.Event()
        if self._stop_requested:
            self._stop.set()
        async with self._broker() as broker:
            await _Run(self, broker).run(self._stop)

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


class _Run:
    """One run of a worker: the task tree and the parts it wires together."""

    def __init__(self, worker: Worker, broker: Broker) -> None:
        self.worker = worker
        self.broker = broker
        self.log = worker.log
        names = list(worker.queues)
        self.inflight = InFlight(worker.concurrency)
        self.stopping = anyio.Event()
        self.work: TaskGroup | None = None
        self.forwarder = Forwarder(broker, names, worker.clock, self.log, on_forwarded=lambda _: self.fetcher.nudge())
        self.runner = Runner(
            broker=broker, clock=worker.clock, serializer=worker.serializer, handlers=worker.handlers,
            inflight=self.inflight, log=self.log, max_bounces=worker.max_bounces, error_handler=worker.error_handler,
            on_retry=self.forwarder.due_at,
        )  # fmt: skip
        blocking = getattr(getattr(broker, "capabilities", None), "blocking_wait", False)
        self.fetcher = Fetcher(
            broker=broker, clock=worker.clock, order=QueueOrder(worker.queues), inflight=self.inflight,
            lease_for=worker.lease_for, worker_id=worker.id, log=self.log, start=self.start, requeue=self.requeue,
            idle_timeout=IDLE_WAIT_BLOCKING if blocking else IDLE_WAIT_POLLING,
        )  # fmt: skip
        self.keeper = LeaseKeeper(broker, self.inflight, worker.clock, worker.lease_for, self.log)
        self.recoverer = Recoverer(
            broker, names, worker.clock, self.log, interval=worker.sweep_interval, max_crashes=worker.max_crashes
        )
        self.janitor = Janitor(
            broker, names, worker.clock, self.log,
            archive_max_size=worker.archive_max_size, archive_max_age=worker.archive_max_age,
        )  # fmt: skip

    async def run(self, stop: anyio.Event) -> None:
        worker = self.worker
        async with anyio.create_task_group() as root:
            await root.start(self.work_area, name="work area")
            try:
                async with anyio.create_task_group() as loops:
                    loops.start_soon(self.fetcher.run, name="fetcher")
                    loops.start_soon(self.forwarder.run, name="forwarder")
                    loops.start_soon(self.recoverer.run, name="recoverer")
                    loops.start_soon(self.janitor.run, name="janitor")
                    emit("worker_started", self.log, worker_id=worker.id, queues=list(worker.queues))
                    self.log.info(
                        "worker %s started: queues %s, concurrency %d, handlers %s",
                        worker.id, worker.queues, worker.concurrency, worker.handlers.types(),
                    )  # fmt: skip
                    await stop.wait()
                    loops.cancel_scope.cancel()
            finally:
                # Reached on stop(), on cancellation of run() and on a crashed loop alike:
                # fetching has ended, so drain the running handlers.
                self.stopping.set()

    async def work_area(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Hosts the handlers and the lease keeper, shielded so that stopping the worker
        drains them instead of cancelling them outright."""
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as work:
                self.work = work
                work.start_soon(self.keeper.run, name="lease keeper")
                task_status.started()
                await self.stopping.wait()
                await self.drain()
                work.cancel_scope.cancel()

    async def drain(self) -> None:
        worker = self.worker
        emit("worker_stopping", self.log, worker_id=worker.id)
        if len(self.inflight):
            self.log.info("worker %s stopping: waiting up to %gs for %d running job(s)",
                          worker.id, worker.shutdown_timeout, len(self.inflight))  # fmt: skip
        with anyio.move_on_after(worker.shutdown_timeout):
            await self.inflight.wait_empty()
        if len(self.inflight):
            self.log.warning("worker %s: interrupting %d job(s) still running after %gs; they go back to pending",
                             worker.id, len(self.inflight), worker.shutdown_timeout)  # fmt: skip
        self.inflight.stop_all(StopReason.SHUTDOWN)
        await self.inflight.wait_empty()
        self.log.info("worker %s stopped", worker.id)

    def start(self, attempt: Attempt) -> None:
        assert self.work is not None
        self.work.start_soon(self.runner.run, attempt, name=f"job {attempt.lease.queue}/{attempt.job_id}")

    async def requeue(self, leases: Sequence[Lease]) -> None:
        if not leases:
            return
        try:
            await self.broker.settle([Settlement.requeue(lease) for lease in leases], self.worker.clock.now())
        except errors.QueueError as exc:
            self.log.warning("could not requeue %d job(s): %s; recovered when their leases run out", len(leases), exc)


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
