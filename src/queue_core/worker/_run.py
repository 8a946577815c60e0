"""One run of a worker: its task tree, and the parts it wires together.

::

    run
    ├── work area (shielded: stopping drains it instead of cancelling it)
    │   ├── lease keeper        renews running jobs' leases every lease_for / 3 (and sees cancels)
    │   ├── settler             writes outcomes, batched
    │   ├── heartbeat           WorkerInfo with a TTL
    │   ├── metrics recorder    per-minute counts and run times, written every few seconds
    │   └── job tasks           one per running attempt (runner), at most ``concurrency``
    └── loops (cancelled when stopping)
        ├── wake listener       wait_for_jobs: wakes the fetcher and the forwarder
        ├── fetcher             dequeues into free slots; idles until woken
        ├── cancel listener     operators' cancel notices, acted on at once
        ├── forwarder           scheduled/retry -> pending when due
        ├── recoverer           expired leases of dead workers -> back in play
        └── janitor             retention and archive caps

Stopping -- ``stop()``, cancelling ``run()``, or a signal through ``run_until_signal`` --
cancels the loops (no more fetching), lets running handlers finish for up to
``shutdown_timeout``, interrupts the rest and puts their jobs back at the head of
pending without using a retry, then ends the work area. Nothing outlives ``run()``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskGroup

from queue_core import errors
from queue_core._race import first_of
from queue_core.broker import Broker, Lease, Settlement
from queue_core.clock import Clock
from queue_core.events import emit
from queue_core.info import ActiveJobInfo, WorkerInfo, WorkerStatus
from queue_core.worker._cancellation import CancelListener
from queue_core.worker._fetcher import Fetcher, FetcherHooks
from queue_core.worker._heartbeat import Heartbeat
from queue_core.worker._leases import Attempt, InFlight, LeaseKeeper, StopReason
from queue_core.worker._maintenance import Forwarder, Janitor, Recoverer
from queue_core.worker._metrics_recorder import MetricsRecorder
from queue_core.worker._runner import Runner, RunnerSetup
from queue_core.worker._settler import Settler
from queue_core.worker._trouble import Trouble
from queue_core.worker.aggregation import Aggregator
from queue_core.worker.handlers import HandlerTable, plugin_middleware
from queue_core.worker.options import WorkerOptions
from queue_core.worker.ratelimit import Limiter

#: how long one idle wait on the broker lasts before the fetcher asks again anyway.
IDLE_WAIT_BLOCKING = 10.0
IDLE_WAIT_POLLING = 1.0
#: the longest a start waits for the wake-up subscription before reporting itself started.
READY_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class RunParts:
    """What one run works with besides its options: the open broker, the clock, the handlers."""

    broker: Broker
    clock: Clock
    handlers: HandlerTable
    log: logging.Logger
    #: asks the worker to stop at once (a handler raised KeyboardInterrupt or SystemExit).
    stop_now: Callable[[], None]


class WorkerRun:
    """The task tree of one ``Worker.run()``."""

    def __init__(
        self,
        options: WorkerOptions,
        parts: RunParts,
        *,
        idle_wait: float | None = None,
        extra_loops: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    ) -> None:
        self.options = options
        self.parts = parts
        self.extra_loops = list(extra_loops)
        self.broker = broker = parts.broker
        self.clock = clock = parts.clock
        self.log = log = parts.log
        names = list(options.queue_weights)
        self.status = WorkerStatus.STARTING
        self.started_at = clock.now()
        self.fatal: BaseException | None = None
        self.inflight = InFlight(options.concurrency)
        self.stopping = anyio.Event()
        self.work: TaskGroup | None = None
        #: where every loop reports an unreachable broker or a damaged queue.
        self.trouble = trouble = Trouble.of(log, f"worker {options.id}")
        self.settler = Settler(broker, clock, log, outage=trouble.outage)
        self.metrics = MetricsRecorder(broker, clock, log)
        self.forwarder = Forwarder(
            broker, names, clock, log, on_forwarded=lambda _: self.fetcher.nudge(), notified=self._listening,
            trouble=trouble,
        )  # fmt: skip
        self.runner = self._runner()
        self.fetcher = self._fetcher(idle_wait)
        self.keeper = LeaseKeeper(broker, self.inflight, clock, options.lease_for, log, trouble.outage)
        self.cancels = CancelListener(broker, self.inflight, self.keeper, log, trouble.outage)
        self.heartbeat = Heartbeat(
            broker, clock, log, worker_id=options.id, snapshot=self.snapshot, interval=options.heartbeat_interval,
            outage=trouble.outage,
        )  # fmt: skip
        self.recoverer = Recoverer(
            broker, names, clock, log, interval=options.sweep_interval, max_crashes=options.max_crashes,
            trouble=trouble,
        )  # fmt: skip
        self.aggregator = self._aggregator(names)
        self.janitor = Janitor(
            broker,
            names,
            clock,
            log,
            archive_max_size=options.archive_max_size,
            archive_max_age=options.archive_max_age,
            trouble=trouble,
        )

    def _listening(self) -> bool:
        return self.fetcher.listening

    def _runner(self) -> Runner:
        options, broker = self.options, self.broker
        outer = plugin_middleware(options.id, list(options.queue_weights), self.log)
        routes = self.parts.handlers.routes(anyio.CapacityLimiter(options.thread_limit), outer=outer)
        handler_limits = {
            job_type: Limiter(route.spec.rate_limit, broker, f"handler {job_type!r}")
            for job_type, route in routes.items()
            if route.spec.rate_limit is not None
        }
        worker_limits = [Limiter(options.rate_limit, broker, "worker")] if options.rate_limit else []
        setup = RunnerSetup(
            routes=routes,
            worker_limits=worker_limits,
            handler_limits=handler_limits,
            on_retry=self.forwarder.due_at,
            on_fatal=self.on_fatal,
            metrics=self.metrics,
        )
        return Runner(options, broker, self.clock, self.inflight, self.settler, self.log, setup)

    def _fetcher(self, idle_wait: float | None) -> Fetcher:
        if idle_wait is None:
            blocking = getattr(getattr(self.broker, "capabilities", None), "blocking_wait", False)
            idle_wait = IDLE_WAIT_BLOCKING if blocking else IDLE_WAIT_POLLING
        hooks = FetcherHooks(start=self.start, requeue=self.requeue, on_wake=self.forwarder.recheck)
        return Fetcher(
            self.options, self.broker, self.clock, self.inflight, self.log, hooks, idle_timeout=idle_wait,
            trouble=self.trouble,
        )  # fmt: skip

    def _aggregator(self, names: list[str]) -> Aggregator | None:
        policy = self.options.aggregation
        if policy is None:
            return None
        return Aggregator.from_policy(
            self.broker, names, policy, clock=self.clock, serializer=self.options.serializer, logger=self.log
        )

    async def run(self, stop: anyio.Event, stop_now: anyio.Event) -> None:
        options = self.options
        async with anyio.create_task_group() as root:
            # Not root.start(): a cancellation arriving before the work area reports ready
            # would make start() wait for the shielded work area, which waits for
            # `stopping`, set only below: the worker would never stop.
            work_ready = anyio.Event()
            root.start_soon(self.work_area, stop_now, work_ready, name="work area")
            try:
                await work_ready.wait()
                async with anyio.create_task_group() as loops:
                    loops.start_soon(self.fetcher.listen, name="wake listener")
                    loops.start_soon(self.fetcher.run, name="fetcher")
                    loops.start_soon(self.cancels.run, name="cancel listener")
                    loops.start_soon(self.forwarder.run, name="forwarder")
                    loops.start_soon(self.recoverer.run, name="recoverer")
                    loops.start_soon(self.janitor.run, name="janitor")
                    if self.aggregator is not None:
                        loops.start_soon(self.aggregator.run, name="aggregator")
                    for loop in self.extra_loops:
                        loops.start_soon(loop)
                    # Started means a job enqueued from now on wakes this worker: wait for
                    # the listener's subscription (bounded: a broker that is down is
                    # reported by the listener and does not hold the start up).
                    with anyio.move_on_after(READY_TIMEOUT):
                        await self.fetcher.ready.wait()
                    self.set_status(WorkerStatus.RUNNING)
                    emit("worker_started", self.log, worker_id=options.id, queues=list(options.queue_weights))
                    self.log.info(
                        "worker %s started: queues %s%s, concurrency %d, handlers %s",
                        options.id, options.queue_weights, " (strict)" if options.strict else "", options.concurrency,
                        self.parts.handlers.types(),
                    )  # fmt: skip
                    self.fetcher.go.set()
                    await stop.wait()
                    loops.cancel_scope.cancel()
            finally:
                # Reached on stop(), on cancellation of run() and on a crashed loop alike:
                # fetching has ended, so drain the running handlers.
                self.stopping.set()
        if self.fatal is not None:
            raise self.fatal

    async def work_area(self, stop_now: anyio.Event, ready: anyio.Event) -> None:
        """Hosts the handlers and what they need, shielded so that stopping the worker
        drains them instead of cancelling them outright. Sets ``ready`` once it can take
        handlers."""
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as work:
                self.work = work
                work.start_soon(self.keeper.run, name="lease keeper")
                work.start_soon(self.settler.run, name="settler")
                work.start_soon(self.heartbeat.run, name="heartbeat")
                work.start_soon(self.metrics.run, name="metrics recorder")
                ready.set()
                await self.stopping.wait()
                await self.drain(stop_now)
                work.cancel_scope.cancel()

    async def drain(self, stop_now: anyio.Event) -> None:
        options = self.options
        self.set_status(WorkerStatus.STOPPING)
        emit("worker_stopping", self.log, worker_id=options.id)
        if len(self.inflight):
            self.log.info("worker %s stopping: waiting up to %gs for %d running job(s)",
                          options.id, options.shutdown_timeout, len(self.inflight))  # fmt: skip
        with anyio.move_on_after(options.shutdown_timeout):
            await first_of(self.inflight.wait_empty, stop_now.wait)
        if len(self.inflight):
            self.log.warning("worker %s: interrupting %d running job(s); they go back to pending",
                             options.id, len(self.inflight))  # fmt: skip
        self.inflight.stop_all(StopReason.SHUTDOWN)
        await self.inflight.wait_empty()
        self.log.info("worker %s stopped", options.id)

    def start(self, attempt: Attempt) -> None:
        assert self.work is not None
        self.work.start_soon(self.runner.run, attempt, name=f"job {attempt.lease.queue}/{attempt.job_id}")

    async def requeue(self, leases: Sequence[Lease]) -> None:
        if not leases:
            return
        try:
            await self.broker.settle([Settlement.requeue(lease) for lease in leases], self.clock.now())
        except errors.QueueError as exc:
            self.log.warning("could not requeue %d job(s): %s; recovered when their leases run out", len(leases), exc)

    def on_fatal(self, exc: BaseException) -> None:
        """A handler raised KeyboardInterrupt or SystemExit: stop at once, then re-raise it."""
        if self.fatal is None:
            self.fatal = exc
        self.parts.stop_now()

    def set_status(self, status: WorkerStatus) -> None:
        self.status = status
        self.heartbeat.changed()

    def snapshot(self, now: float) -> WorkerInfo:
        options = self.options
        return WorkerInfo(
            id=options.id, host=socket.gethostname(), pid=os.getpid(), concurrency=options.concurrency,
            queues=dict(options.queue_weights), strict=options.strict, started_at=self.started_at, status=self.status,
            active_jobs=[
                ActiveJobInfo(
                    job_id=a.job_id, type=a.lease.record.type, queue=a.lease.queue, started_at=a.started_at,
                    deadline=a.deadline, payload_size=len(a.lease.record.payload),
                )
                for a in self.inflight.attempts()
            ],
            heartbeat_at=now,
        )  # fmt: skip
