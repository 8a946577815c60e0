"""One run of a worker: its task tree, and the parts it wires together.

::

    run
    ├── work area (shielded: stopping drains it instead of cancelling it)
    │   ├── lease keeper        renews running jobs' leases every lease_for / 3 (and sees cancels)
    │   ├── settler             writes outcomes, batched
    │   ├── heartbeat           WorkerInfo with a TTL
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

import os
import socket
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from queue_core import errors
from queue_core.aggregation import Aggregator
from queue_core.broker import Broker, Lease, Settlement
from queue_core.cancellation import CancelListener
from queue_core.damage import DamagedQueues
from queue_core.events import emit
from queue_core.fetcher import Fetcher
from queue_core.heartbeat import Heartbeat
from queue_core.info import ActiveJobInfo, WorkerInfo, WorkerStatus
from queue_core.leases import Attempt, InFlight, LeaseKeeper, StopReason
from queue_core.maintenance import Forwarder, Janitor, Recoverer
from queue_core.outage import Outage
from queue_core.queues import QueueOrder
from queue_core.ratelimit import Limiter
from queue_core.runner import Runner
from queue_core.settler import Settler

if TYPE_CHECKING:
    from queue_core.worker import Worker

#: how long one idle wait on the broker lasts before the fetcher asks again anyway.
IDLE_WAIT_BLOCKING = 10.0
IDLE_WAIT_POLLING = 1.0
#: the longest a start waits for the wake-up subscription before reporting itself started.
READY_TIMEOUT = 10.0


class WorkerRun:
    """The task tree of one ``Worker.run()``."""

    def __init__(
        self,
        worker: Worker,
        broker: Broker,
        *,
        idle_wait: float | None = None,
        extra_loops: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    ) -> None:
        self.worker = worker
        self.extra_loops = list(extra_loops)
        self.broker = broker
        self.log = log = worker.log
        clock = worker.clock
        names = list(worker.queues)
        self.status = WorkerStatus.STARTING
        self.started_at = clock.now()
        self.fatal: BaseException | None = None
        self.inflight = InFlight(worker.concurrency)
        self.stopping = anyio.Event()
        self.work: TaskGroup | None = None
        routes = worker.handlers.routes(anyio.CapacityLimiter(worker.threads))
        self.outage = outage = Outage(log, f"worker {worker.id}")
        self.settler = Settler(broker, clock, log, outage=outage)
        damaged = DamagedQueues(log)
        self.forwarder = Forwarder(
            broker,
            names,
            clock,
            log,
            on_forwarded=lambda _: self.fetcher.nudge(),
            notified=lambda: self.fetcher.listening,
            damaged=damaged,
            outage=outage,
        )
        handler_limits = {
            job_type: Limiter(route.spec.rate_limit, broker, f"handler {job_type!r}")
            for job_type, route in routes.items()
            if route.spec.rate_limit is not None
        }
        self.runner = Runner(
            broker=broker, clock=clock, serializer=worker.serializer, routes=routes, inflight=self.inflight,
            settler=self.settler, log=log, max_bounces=worker.max_bounces,
            unknown_type_grace=worker.unknown_type_grace,
            worker_limits=[Limiter(worker.rate_limit, broker, "worker")] if worker.rate_limit else [],
            handler_limits=handler_limits, error_handler=worker.error_handler, on_retry=self.forwarder.due_at,
            on_fatal=self.on_fatal,
        )  # fmt: skip
        if idle_wait is None:
            blocking = getattr(getattr(broker, "capabilities", None), "blocking_wait", False)
            idle_wait = IDLE_WAIT_BLOCKING if blocking else IDLE_WAIT_POLLING
        self.fetcher = Fetcher(
            broker=broker, clock=clock, order=QueueOrder(worker.queues, strict=worker.strict),
            inflight=self.inflight, lease_for=worker.lease_for, worker_id=worker.id, log=log, start=self.start,
            requeue=self.requeue, idle_timeout=idle_wait, on_wake=self.forwarder.recheck, damaged=damaged,
            outage=outage, quarantine_at=worker.max_crashes,
        )  # fmt: skip
        self.keeper = LeaseKeeper(broker, self.inflight, clock, worker.lease_for, log, outage)
        self.cancels = CancelListener(broker, self.inflight, self.keeper, log, outage)
        self.heartbeat = Heartbeat(
            broker, clock, log, worker_id=worker.id, snapshot=self.snapshot, interval=worker.heartbeat_interval,
            outage=outage,
        )  # fmt: skip
        self.recoverer = Recoverer(
            broker, names, clock, log, interval=worker.sweep_interval, max_crashes=worker.max_crashes,
            damaged=damaged, outage=outage,
        )  # fmt: skip
        self.aggregator = (
            None
            if worker.aggregation is None
            else Aggregator.from_policy(
                broker, names, worker.aggregation, clock=clock, serializer=worker.serializer, logger=log
            )
        )
        self.janitor = Janitor(
            broker, names, clock, log,
            archive_max_size=worker.archive_max_size, archive_max_age=worker.archive_max_age, damaged=damaged,
            outage=outage,
        )  # fmt: skip

    async def run(self, stop: anyio.Event, stop_now: anyio.Event) -> None:
        worker = self.worker
        async with anyio.create_task_group() as root:
            await root.start(self.work_area, stop_now, name="work area")
            try:
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
                    emit("worker_started", self.log, worker_id=worker.id, queues=list(worker.queues))
                    self.log.info(
                        "worker %s started: queues %s%s, concurrency %d, handlers %s",
                        worker.id, worker.queues, " (strict)" if worker.strict else "", worker.concurrency,
                        worker.handlers.types(),
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

    async def work_area(
        self, stop_now: anyio.Event, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Hosts the handlers and what they need, shielded so that stopping the worker
        drains them instead of cancelling them outright."""
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as work:
                self.work = work
                work.start_soon(self.keeper.run, name="lease keeper")
                work.start_soon(self.settler.run, name="settler")
                work.start_soon(self.heartbeat.run, name="heartbeat")
                task_status.started()
                await self.stopping.wait()
                await self.drain(stop_now)
                work.cancel_scope.cancel()

    async def drain(self, stop_now: anyio.Event) -> None:
        worker = self.worker
        self.set_status(WorkerStatus.STOPPING)
        emit("worker_stopping", self.log, worker_id=worker.id)
        if len(self.inflight):
            self.log.info("worker %s stopping: waiting up to %gs for %d running job(s)",
                          worker.id, worker.shutdown_timeout, len(self.inflight))  # fmt: skip
        with anyio.move_on_after(worker.shutdown_timeout):
            async with anyio.create_task_group() as tg:

                async def drained() -> None:
                    await self.inflight.wait_empty()
                    tg.cancel_scope.cancel()

                async def hurried() -> None:
                    await stop_now.wait()
                    tg.cancel_scope.cancel()

                tg.start_soon(drained)
                tg.start_soon(hurried)
        if len(self.inflight):
            self.log.warning("worker %s: interrupting %d running job(s); they go back to pending",
                             worker.id, len(self.inflight))  # fmt: skip
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

    def on_fatal(self, exc: BaseException) -> None:
        """A handler raised KeyboardInterrupt or SystemExit: stop at once, then re-raise it."""
        if self.fatal is None:
            self.fatal = exc
        self.worker.stop(immediate=True)

    def set_status(self, status: WorkerStatus) -> None:
        self.status = status
        self.heartbeat.changed()

    def snapshot(self, now: float) -> WorkerInfo:
        worker = self.worker
        return WorkerInfo(
            id=worker.id, host=socket.gethostname(), pid=os.getpid(), concurrency=worker.concurrency,
            queues=dict(worker.queues), strict=worker.strict, started_at=self.started_at, status=self.status,
            active_jobs=[
                ActiveJobInfo(
                    job_id=a.job_id, type=a.lease.record.type, queue=a.lease.queue, started_at=a.started_at,
                    deadline=a.deadline, payload_size=len(a.lease.record.payload),
                )
                for a in self.inflight.attempts()
            ],
            heartbeat_at=now,
        )  # fmt: skip
