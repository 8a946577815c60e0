"""The operator's API: inspect queues, jobs and workers, and act on them.

::

    async with Manager("redis://localhost:6379/0") as manager:
        for queue in await manager.list_queues():
            print(queue.queue, queue.pending, queue.active, queue.latency)
        await manager.run_all("default", "archived")

Dashboards and the CLI sit on this class. Every method checks its input before the
broker is touched, so a bad argument raises a specific ``ValidationError`` and changes
nothing: a malformed queue name or job ID, an unknown state name, a page below 1 or a
page size outside 1-1000, a missing group for aggregating jobs. Lookups raise
``QueueNotFound``, ``JobNotFound``, ``ResultNotFound`` or ``WorkerNotFound``. An action
the job's state forbids raises ``OperationNotAllowed`` naming the state, the states the
action accepts and the actions the state accepts (see ``docs/manager.md`` for the
matrix). Each action is one atomic broker transition; batches and "cancel all active"
are loops of those.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from queue_core import errors, validation
from queue_core.broker import Broker, DailyStats, JobInfo, QueueStats, ServerReport
from queue_core.clock import Clock
from queue_core.events import LOGGER_NAME
from queue_core.info import WORKER_HEARTBEAT, ActiveJobInfo, WorkerInfo
from queue_core.job import DEFAULT_TIMEOUT
from queue_core.metrics import MAX_WINDOW_MINUTES, MINUTE, MinuteMetrics, minute_of, total
from queue_core.registry import DEFAULT_URL
from queue_core.scheduling.scheduler import FireRecord, ScheduleInfo, list_schedules, schedule_history
from queue_core.session import BrokerHolder
from queue_core.states import GERUNDS, JobState

DEFAULT_PAGE_SIZE = 30
#: daily counters live this long, so history cannot reach further back.
MAX_HISTORY_DAYS = 90
#: job records sampled per state for the memory estimate.
MEMORY_SAMPLES = 20
# Page size used when the Manager walks a whole state itself (cancel_active).
_WALK_PAGE = 1000


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True, slots=True)
class QueueInfo(QueueStats):
    """``QueueStats`` plus what only the Manager adds."""

    #: approximate bytes the queue occupies; None when the driver cannot tell
    #: (``Capabilities.memory_usage`` is False, as on memory://).
    memory_usage: int | None = None
    #: why the queue could not be counted (one of its own keys is damaged), or None.
    #: A damaged queue is listed with zero counts; the other queues are not affected.
    damaged: str | None = None

    @property
    def succeeded_total(self) -> int:
        return self.processed_total - self.failed_total

    @property
    def succeeded_today(self) -> int:
        return self.processed_today - self.failed_today


@dataclass(frozen=True, slots=True)
class ActiveJob:
    """A running job as the active listing shows it."""

    info: JobInfo
    #: when this attempt must end: as its worker reports it (that includes a handler
    #: timeout), else the earliest of the job's deadline and start + the job's timeout
    #: (or the workers' default timeout).
    deadline: float | None
    #: the lease already ran out (or is missing): the worker died or stalled, and the
    #: recoverer will take the job back.
    orphaned: bool
    #: the live worker that reports running it, when one does.
    worker_id: str | None = None

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def type(self) -> str:
        return self.info.type

    @property
    def queue(self) -> str:
        return self.info.queue

    @property
    def started_at(self) -> float | None:
        return self.info.started_at

    @property
    def lease_expires_at(self) -> float | None:
        return self.info.lease_expires_at


@dataclass(frozen=True, slots=True)
class BatchFailure:
    job_id: str
    error: errors.QueueError


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a batch action did: the IDs it acted on and, for the rest, why not."""

    succeeded: list[str]
    failed: list[BatchFailure]

    @property
    def ok(self) -> bool:
        return not self.failed


#: The former name of ``ServerReport``, kept for one release.
ServerInfo = ServerReport


@dataclass(frozen=True, slots=True)
class MetricsHistory:
    """Per-minute metrics over a window, summed as asked (``Manager.metrics``)."""

    #: the queue asked for, or "*" for every queue.
    queue: str
    #: the job type asked for, or "*" for every type.
    job_type: str
    #: seconds each point covers (a multiple of 60).
    step: int
    #: one per step, oldest first, zeros where nothing was recorded; ``minute`` is the
    #: start of the point's span.
    points: list[MinuteMetrics]
    #: totals over the window per job type (sorted by type).
    by_type: dict[str, MinuteMetrics]
    #: totals over the window per queue (sorted by name).
    by_queue: dict[str, MinuteMetrics]

    @property
    def total(self) -> MinuteMetrics:
        """Everything in the window added together."""
        start = self.points[0].minute if self.points else 0
        return total(self.points, queue=self.queue, job_type=self.job_type, minute=start)


# --------------------------------------------------------------------------- the manager


class Manager(BrokerHolder):
    """Inspect and operate queues. Use as ``async with Manager(url_or_broker) as m``.

    A Manager opens its broker from a URL (and closes it on exit), or uses a ``Broker``
    it is given (and leaves it open). ``clock`` supplies ``now`` for every call
    (default ``SystemClock``). Actions that change jobs are logged at INFO on
    ``logger`` (default the ``queue_core`` logger). ``broker_options`` go to the driver
    when the Manager opens its broker from a URL (for Redis and memory://: ``prefix``).
    """

    def __init__(
        self,
        broker_or_url: Broker | str = DEFAULT_URL,
        *,
        clock: Clock | None = None,
        logger: logging.Logger | None = None,
        broker_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(broker_or_url, broker_options=broker_options, clock=clock)
        self.log = logger if logger is not None else logging.getLogger(f"{LOGGER_NAME}.manager")

    # ----------------------------------------------------------------- queues

    async def queue_names(self) -> list[str]:
        """Every known queue, sorted (one cheap call)."""
        return await self.broker.list_queues()

    async def list_queues(self) -> list[QueueInfo]:
        """``queue_info`` of every known queue, sorted by name. A queue whose keys are
        damaged is listed with zero counts and ``damaged`` saying why."""
        infos = []
        now = self.clock.now()
        for name in await self.broker.list_queues():
            try:
                infos.append(await self.queue_info(name))
            except errors.QueueNotFound:
                continue  # deleted since it was listed
            except errors.DamagedData as exc:
                reason = exc.reason if isinstance(exc, errors.QueueDamaged) else str(exc)
                infos.append(_damaged_queue(name, reason, now))
        return infos

    async def queue_info(self, queue: str) -> QueueInfo:
        """Counts per state, size, groups, latency of the oldest pending job, counters
        (today and total), paused flag and, where the driver can tell, memory."""
        queue = validation.queue_name(queue)
        stats = await self.broker.queue_stats(queue, self.clock.now())
        memory = None
        if self.broker.capabilities.memory_usage:
            memory = await self.broker.memory_usage(queue, MEMORY_SAMPLES)
        values = {f.name: getattr(stats, f.name) for f in fields(QueueStats)}
        return QueueInfo(**values, memory_usage=memory)

    async def history(self, queue: str, days: int = 7) -> list[DailyStats]:
        """Processed / failed / succeeded per UTC day for the last ``days`` days (1-90),
        today first. Counts are per attempt."""
        queue = validation.queue_name(queue)
        if not validation.is_int(days) or not 1 <= days <= MAX_HISTORY_DAYS:
            raise errors.ValidationError(
                "days",
                days,
                f"an integer from 1 to {MAX_HISTORY_DAYS} (daily counters are kept {MAX_HISTORY_DAYS} days)",
            )
        return await self.broker.daily_stats(queue, days, self.clock.now())

    async def metrics(
        self, queue: str | None = None, *, job_type: str | None = None, minutes: int = 60, step: int = 1
    ) -> MetricsHistory:
        """Processed, failed and run time per minute for the last ``minutes`` minutes
        (1-4320, i.e. up to the 72 hours kept), of one queue or all, one job type or
        all, in points of ``step`` minutes each. Workers record these as they settle
        jobs (crash recoveries are counted in the daily history only).
        ``Unsupported`` when the driver keeps no metrics history."""
        if queue is not None:
            queue = validation.queue_name(queue)
        if job_type is not None:
            job_type = validation.job_type(job_type, "job_type")
        minutes = _bounded("minutes", minutes, 1, MAX_WINDOW_MINUTES, "(metrics are kept 72 hours)")
        step = _bounded("step", step, 1, minutes, "minutes per point, at most the window")
        if "metrics" not in self.broker.capabilities.features:
            raise errors.Unsupported(f"the {self.broker.capabilities.name!r} driver keeps no metrics history")
        now = self.clock.now()
        until = minute_of(now)
        since = until - (minutes - 1) * MINUTE
        queues = [queue] if queue is not None else await self.broker.list_queues()
        width = step * MINUTE
        count = -(-minutes // step)
        first = until - (count * step - 1) * MINUTE
        spans: list[list[MinuteMetrics]] = [[] for _ in range(count)]
        by_type: dict[str, list[MinuteMetrics]] = {}
        by_queue: dict[str, list[MinuteMetrics]] = {}
        for name in queues:
            for item in await self.broker.read_metrics(name, since, until, now):
                if job_type is not None and item.job_type != job_type:
                    continue
                spans[(item.minute - first) // width].append(item)
                by_type.setdefault(item.job_type, []).append(item)
                by_queue.setdefault(item.queue, []).append(item)
        queue_label, type_label = queue or "*", job_type or "*"
        return MetricsHistory(
            queue=queue_label,
            job_type=type_label,
            step=width,
            points=[
                _relabel(total(span, minute=first + index * width), queue_label, type_label, first + index * width)
                for index, span in enumerate(spans)
            ],
            by_type={name: _relabel(total(found), queue_label, name, since) for name, found in sorted(by_type.items())},
            by_queue={
                name: _relabel(total(found), name, type_label, since) for name, found in sorted(by_queue.items())
            },
        )

    async def list_groups(self, queue: str) -> dict[str, int]:
        """Aggregation groups of the queue -> number of jobs waiting in each."""
        return await self.broker.list_groups(validation.queue_name(queue))

    async def pause(self, queue: str) -> bool:
        """Stop workers from taking jobs from ``queue``; running jobs go on, and enqueue,
        forwarding and recovery continue. False (not an error) if it was paused already."""
        queue = validation.queue_name(queue)
        await self._require_queue(queue)
        changed = await self.broker.pause(queue)
        if changed:
            self.log.info("queue %s paused", queue, extra={"queue": queue})
        return changed

    async def resume(self, queue: str) -> bool:
        """Let workers take jobs from ``queue`` again; False if it was not paused."""
        queue = validation.queue_name(queue)
        await self._require_queue(queue)
        changed = await self.broker.resume(queue)
        if changed:
            self.log.info("queue %s resumed", queue, extra={"queue": queue})
        return changed

    async def delete_queue(self, queue: str, *, force: bool = False) -> None:
        """Remove the queue with its counters. Refused with ``QueueNotEmpty`` while it
        holds pending, scheduled, retry, archived or aggregating jobs unless ``force``,
        and with ``OperationNotAllowed`` while any job is active (even with ``force``)."""
        queue = validation.queue_name(queue)
        await self.broker.delete_queue(queue, bool(force))
        self.log.info("queue %s deleted%s", queue, " (forced)" if force else "", extra={"queue": queue})

    # ----------------------------------------------------------------- jobs: reading

    async def list_jobs(
        self,
        queue: str,
        state: JobState | str,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
        *,
        group: str | None = None,
    ) -> list[JobInfo]:
        """One 1-based page of the queue's jobs in ``state``: pending in the order they
        will run, active by start, scheduled and retry by due time, archived newest
        first, completed by expiry, aggregating (``group`` required) by arrival."""
        queue = validation.queue_name(queue)
        state = JobState.parse(state)
        page, page_size = validation.page(page, page_size)
        group = _group_for(state, group, "listing")
        return await self.broker.list_jobs(queue, state, page, page_size, self.clock.now(), group)

    async def list_active(self, queue: str, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE) -> list[ActiveJob]:
        """One page of running jobs with their attempt deadline, whether their lease has
        already run out (``orphaned``) and the live worker reporting each."""
        jobs = await self.list_jobs(queue, JobState.ACTIVE, page, page_size)
        runners = await self._runners()
        now = self.clock.now()
        return [_active(info, now, *runners.get((info.queue, info.id), (None, None))) for info in jobs]

    async def job_info(self, queue: str, job_id: str) -> JobInfo:
        """A snapshot of the job, without payload or result bytes."""
        queue, job_id = validation.queue_name(queue), validation.job_id(job_id)
        try:
            return await self.broker.job_info(queue, job_id, self.clock.now())
        except errors.JobNotFound:
            await self._require_queue(queue)
            raise

    async def job_payload(self, queue: str, job_id: str) -> bytes:
        """The job's payload bytes, as enqueued."""
        queue, job_id = validation.queue_name(queue), validation.job_id(job_id)
        try:
            return await self.broker.job_payload(queue, job_id)
        except errors.JobNotFound:
            await self._require_queue(queue)
            raise

    async def job_result(self, queue: str, job_id: str) -> bytes:
        """The result bytes the handler wrote (``ResultNotFound`` when there is none)."""
        queue, job_id = validation.queue_name(queue), validation.job_id(job_id)
        try:
            return await self.broker.job_result(queue, job_id)
        except errors.JobNotFound:
            await self._require_queue(queue)
            raise

    # ----------------------------------------------------------------- jobs: one

    async def run_job(self, queue: str, job_id: str) -> JobState:
        """Move a scheduled, retry, archived, aggregating or waiting job to pending now;
        returns the state it was in. A waiting job is released whatever its
        dependencies (see ``release``)."""
        return await self._act("run", self.broker.run_job, queue, job_id)

    # ----------------------------------------------------------------- workflows

    async def dependents(self, queue: str, job_id: str) -> list[str]:
        """IDs of the jobs still waiting for this one."""
        queue, job_id = validation.queue_name(queue), validation.job_id(job_id)
        try:
            return await self.broker.job_dependents(queue, job_id)
        except errors.JobNotFound:
            await self._require_queue(queue)
            raise

    async def release(self, queue: str, job_id: str) -> None:
        """Release a waiting job by hand: it goes pending now, as if its dependencies
        had completed, and no later completion releases it again. Only a waiting job
        is accepted (``OperationNotAllowed`` otherwise)."""
        info = await self.job_info(queue, job_id)
        if info.state is not JobState.WAITING:
            raise errors.OperationNotAllowed(
                f"cannot release job {job_id!r} in queue {queue!r}: it is {info.state.value}, not waiting"
            )
        await self.run_job(queue, job_id)

    async def cancel_flow(self, queue: str, job_id: str) -> list[str]:
        """Cancel a job and every job downstream of it (its dependents, theirs, ...).

        Walks the dependents first (so none is released while the walk runs), then
        cancels each job that can still be cancelled, dependents before the job itself:
        active ones are stopped by their workers, the others archived as cancelled.
        Completed and archived jobs are left alone. Returns the IDs cancelled, in the
        order cancelled. Not one atomic step: a job enqueued into the flow meanwhile is
        settled by its policy when its dependency is cancelled.
        """
        seen: list[str] = []
        frontier = [validation.job_id(job_id)]
        while frontier:
            current = frontier.pop(0)
            if current in seen:
                continue
            seen.append(current)
            try:
                frontier += await self.dependents(queue, current)
            except errors.JobNotFound:
                continue
        cancelled: list[str] = []
        for member in reversed(seen):
            try:
                await self.cancel(queue, member)
            except (errors.JobNotFound, errors.OperationNotAllowed):
                continue
            cancelled.append(member)
        return cancelled

    async def archive_job(self, queue: str, job_id: str) -> JobState:
        """Archive a pending, scheduled, retry or aggregating job; returns its former state."""
        return await self._act("archive", self.broker.archive_job, queue, job_id)

    async def delete_job(self, queue: str, job_id: str) -> JobState:
        """Delete a job in any state but active (releasing its unique lock)."""
        return await self._act("delete", self.broker.delete_job, queue, job_id)

    async def cancel(self, queue: str, job_id: str) -> JobState:
        """Cancel a job. An active one is stopped by its worker (at once through the
        cancel notice, at the latest at its next lease renewal) and archived as
        cancelled; a pending, scheduled, retry or aggregating one is archived as
        cancelled now. Completed and archived jobs refuse. Returns the former state."""
        return await self._act("cancel", self.broker.request_cancel, queue, job_id)

    # ----------------------------------------------------------------- jobs: many

    async def run_all(self, queue: str, state: JobState | str, *, group: str | None = None) -> int:
        """Move every scheduled, retry, archived, or aggregating (of ``group``) job to
        pending; returns how many moved."""
        return await self._all("run", self.broker.run_all, queue, state, group)

    async def archive_all(self, queue: str, state: JobState | str, *, group: str | None = None) -> int:
        """Archive every pending, scheduled, retry, or aggregating (of ``group``) job."""
        return await self._all("archive", self.broker.archive_all, queue, state, group)

    async def delete_all(self, queue: str, state: JobState | str, *, group: str | None = None) -> int:
        """Delete every job of ``state`` (any state but active; ``group`` for aggregating)."""
        return await self._all("delete", self.broker.delete_all, queue, state, group)

    async def cancel_active(self, queue: str) -> int:
        """Cancel every job active in ``queue`` when called; returns how many were asked
        to stop. Jobs that ended in between are skipped; jobs started after the
        listing are not touched."""
        queue = validation.queue_name(queue)
        active: dict[str, None] = {}
        page = 1
        while True:
            batch = await self.broker.list_jobs(queue, JobState.ACTIVE, page, _WALK_PAGE, self.clock.now())
            active.update(dict.fromkeys(info.id for info in batch))
            if len(batch) < _WALK_PAGE:
                break
            page += 1
        cancelled = 0
        for job_id in active:
            try:
                await self.broker.request_cancel(queue, job_id, self.clock.now())
            except (errors.JobNotFound, errors.OperationNotAllowed):
                continue  # finished since it was listed
            cancelled += 1
        if cancelled:
            self.log.info("cancel requested for %d active job(s) of queue %s", cancelled, queue, extra={"queue": queue})
        return cancelled

    async def batch_run(self, queue: str, job_ids: Iterable[str]) -> BatchResult:
        """``run_job`` for each ID; one ID's failure does not stop the others."""
        return await self._batch("run", self.broker.run_job, queue, job_ids)

    async def batch_archive(self, queue: str, job_ids: Iterable[str]) -> BatchResult:
        return await self._batch("archive", self.broker.archive_job, queue, job_ids)

    async def batch_delete(self, queue: str, job_ids: Iterable[str]) -> BatchResult:
        return await self._batch("delete", self.broker.delete_job, queue, job_ids)

    async def batch_cancel(self, queue: str, job_ids: Iterable[str]) -> BatchResult:
        return await self._batch("cancel", self.broker.request_cancel, queue, job_ids)

    # ----------------------------------------------------------------- workers and server

    async def list_workers(self) -> list[WorkerInfo]:
        """Live workers (by their heartbeats), sorted by ID. A heartbeat that cannot be
        decoded is logged and left out."""
        beats = await self.broker.list_heartbeats(WORKER_HEARTBEAT, self.clock.now())
        workers = []
        for member, data in sorted(beats.items()):
            try:
                workers.append(WorkerInfo.from_json(data))
            except errors.SerializationError as exc:
                self.log.warning("worker %s published an unreadable heartbeat: %s", member, exc)
        return workers

    async def worker_info(self, worker_id: str) -> WorkerInfo:
        """One live worker (``WorkerNotFound`` when it is unknown or its heartbeat lapsed)."""
        for worker in await self.list_workers():
            if worker.id == worker_id:
                return worker
        raise errors.WorkerNotFound(worker_id)

    async def schedules(self) -> list[ScheduleInfo]:
        """Every entry of every live scheduler with its next and previous run, sorted by
        schedule ID (a schedule run by several schedulers is listed once per scheduler)."""
        return await list_schedules(self.broker, self.clock.now())

    async def schedule_history(self, schedule_id: str, limit: int = 100) -> list[FireRecord]:
        """The newest ``limit`` fires of a schedule (the job each enqueued, or the error),
        newest first."""
        return await schedule_history(self.broker, schedule_id, limit)

    async def server_info(self) -> ServerReport:
        """What the broker's server reports about itself: backend, version, cluster (and
        on a Redis Cluster each queue's slot and nodes), eviction policy and memory."""
        return await self.broker.server_info()

    async def redis_info(self) -> ServerReport:
        """Deprecated: the former name of ``server_info()`` (kept for one release)."""
        warnings.warn("Manager.redis_info() is deprecated; use Manager.server_info()", DeprecationWarning, stacklevel=2)
        return await self.server_info()

    # ----------------------------------------------------------------- internals

    async def _require_queue(self, queue: str) -> None:
        if queue not in await self.broker.list_queues():
            raise errors.QueueNotFound(queue) from None

    async def _runners(self) -> dict[tuple[str, str], tuple[str, ActiveJobInfo]]:
        """(queue, job ID) -> the worker that reports running it, and its report."""
        return {
            (job.queue, job.job_id): (worker.id, job)
            for worker in await self.list_workers()
            for job in worker.active_jobs
        }

    async def _act(
        self, action: str, operation: Callable[[str, str, float], Awaitable[JobState]], queue: str, job_id: str
    ) -> JobState:
        queue, job_id = validation.queue_name(queue), validation.job_id(job_id)
        former = await operation(queue, job_id, self.clock.now())
        self.log.info(
            "%s job %s of queue %s (was %s)", action, job_id, queue, former.value,
            extra={"queue": queue, "job_id": job_id},
        )  # fmt: skip
        return former

    async def _all(
        self,
        action: str,
        operation: Callable[[str, JobState, float, str | None], Awaitable[int]],
        queue: str,
        state: JobState | str,
        group: str | None,
    ) -> int:
        queue = validation.queue_name(queue)
        state = JobState.parse(state)
        group = _group_for(state, group, GERUNDS[action])
        count = await operation(queue, state, self.clock.now(), group)
        where = f"{state.value} jobs" + (f" of group {group}" if group else "")
        self.log.info("%s all %s of queue %s: %d", action, where, queue, count, extra={"queue": queue})
        return count

    async def _batch(
        self,
        action: str,
        operation: Callable[[str, str, float], Awaitable[JobState]],
        queue: str,
        job_ids: Iterable[str],
    ) -> BatchResult:
        queue = validation.queue_name(queue)
        if isinstance(job_ids, str | bytes):
            raise errors.ValidationError("job_ids", job_ids, "an iterable of job IDs, not a single string")
        given = list(job_ids)
        for index, job_id in enumerate(given):
            validation.job_id(job_id, f"job_ids[{index}]")
        ids = list(dict.fromkeys(given))  # once each, in the given order
        await self._require_queue(queue)
        succeeded: list[str] = []
        failed: list[BatchFailure] = []
        for index, job_id in enumerate(ids):
            try:
                await operation(queue, job_id, self.clock.now())
            except errors.BrokerError as exc:
                # The broker is unwell: the rest would fail the same way, so stop here.
                failed += [BatchFailure(rest, exc) for rest in ids[index:]]
                break
            except (errors.NotFound, errors.OperationNotAllowed) as exc:
                failed.append(BatchFailure(job_id, exc))
            else:
                succeeded.append(job_id)
        self.log.info(
            "batch %s in queue %s: %d done, %d failed", action, queue, len(succeeded), len(failed),
            extra={"queue": queue},
        )  # fmt: skip
        return BatchResult(succeeded, failed)


def _bounded(name: str, value: int, lowest: int, highest: int, why: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
        raise errors.ValidationError(name, value, f"an integer from {lowest} to {highest} {why}")
    return value


def _relabel(item: MinuteMetrics, queue: str, job_type: str, minute: int) -> MinuteMetrics:
    return MinuteMetrics(queue, job_type, minute, item.processed, item.failed, item.runtime_us, item.histogram)


def _damaged_queue(queue: str, reason: str, now: float) -> QueueInfo:
    counts: dict[str, Any] = {f.name: 0 for f in fields(QueueStats) if f.type in ("int", "float")}
    counts.update(queue=queue, paused=False, timestamp=now)
    return QueueInfo(**counts, damaged=reason)


def _group_for(state: JobState, group: str | None, operation: str) -> str | None:
    """The group an operation on ``state`` needs: required for aggregating, else none."""
    if state is JobState.AGGREGATING:
        if group is None or group == "":
            raise errors.GroupRequired(operation)
        return validation.group_name(group)
    if group is not None:
        raise errors.ValidationError("group", group, f"None: only aggregating jobs belong to groups, not {state.value}")
    return None


def _active(info: JobInfo, now: float, worker_id: str | None, reported: ActiveJobInfo | None) -> ActiveJob:
    if reported is not None and reported.deadline is not None:
        deadline: float | None = reported.deadline
    else:
        limits = [info.deadline]
        if info.started_at is not None:
            timeout = info.timeout if info.timeout is not None else DEFAULT_TIMEOUT
            limits.append(info.started_at + timeout)
        deadline = min((t for t in limits if t is not None), default=None)
    orphaned = info.lease_expires_at is None or info.lease_expires_at <= now
    return ActiveJob(info=info, deadline=deadline, orphaned=orphaned, worker_id=worker_id)
