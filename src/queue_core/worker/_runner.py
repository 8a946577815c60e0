"""One attempt from start to settlement.

For each leased job the runner:

1. finds the handler (``routes``); a job of a type this worker does not handle is put
   back without using a retry for a while (a newer worker in a rolling deploy may know
   it), then archived with the reason;
2. checks the rate limits (worker first, then the handler's); a refused job goes back
   until about when a token is free, without using a retry;
3. runs the composed middleware chain and handler under the attempt's cancel scope,
   which ends it at its deadline (``deadlines``), on a lost lease, an operator cancel
   or shutdown;
4. turns what happened into a settlement (``outcomes``), logs it, calls the error
   handler, and writes it through the settler -- fenced by the lease, shielded from
   cancellation -- then fires the lifecycle hooks.

Nothing a handler or a middleware raises gets past the runner: it becomes the
attempt's recorded failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import sniffio

from queue_core.broker import Broker, JobRecord, SettleKind, Settlement
from queue_core.broker_clock import BrokerClock
from queue_core.clock import Clock, SystemClock
from queue_core.errors import (
    HandlerNotFound,
    JobCancelled,
    LeaseLost,
    QueueError,
    RateLimited,
    Revoke,
    SerializationError,
)
from queue_core.events import emit
from queue_core.job import PREVIOUS_HEADER
from queue_core.worker import _outcomes as outcomes
from queue_core.worker._deadlines import attempt_deadline
from queue_core.worker._leases import Attempt, InFlight, StopReason
from queue_core.worker._metrics_recorder import MetricsRecorder
from queue_core.worker._settler import Settler
from queue_core.worker.delivery import Delivery, Progress
from queue_core.worker.handlers import Route
from queue_core.worker.options import WorkerOptions
from queue_core.worker.ratelimit import Limiter, admit

#: how long a job of an unknown type waits between two looks for a handler.
UNKNOWN_TYPE_DELAY = 15.0
#: how long a job is held back when a distributed rate limit cannot be consulted.
LIMITER_TROUBLE_DELAY = 1.0


#: the most of a traceback stored with a job: its end, where the error was raised.
TRACEBACK_LIMIT = 8192


def bounded_traceback(error: BaseException) -> str:
    """``error``'s formatted traceback, cut to its last ``TRACEBACK_LIMIT`` characters."""
    text = "".join(traceback.format_exception(error))
    if len(text) > TRACEBACK_LIMIT:
        text = "...\n" + text[-(TRACEBACK_LIMIT - 4) :]
    return text


def job_fields(record: JobRecord) -> dict[str, Any]:
    """The ``extra`` fields every job log record carries."""
    return {"job_id": record.id, "job_type": record.type, "queue": record.queue, "attempt": record.retried + 1}


def unknown_type_bounces(grace: float) -> int:
    """How many times a job of an unknown type goes back before it is archived."""
    return 0 if grace <= 0 else math.ceil(grace / min(UNKNOWN_TYPE_DELAY, grace))


def _cancelled(exc: BaseException) -> bool:
    """Whether ``exc`` is a real cancellation of this task (not the cancellation class
    raised by hand: asyncio lets any code ``raise CancelledError``; trio's cannot be)."""
    if not isinstance(exc, anyio.get_cancelled_exc_class()):
        return False
    if sniffio.current_async_library() != "asyncio":
        return True
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


@dataclass(frozen=True, slots=True)
class RunnerSetup:
    """What the run wires into its runner besides the worker's options."""

    #: job type -> its handler chain.
    routes: Mapping[str, Route]
    #: the worker's own rate limits, checked before the handler's.
    worker_limits: Sequence[Limiter] = ()
    #: job type -> that handler's rate limit.
    handler_limits: Mapping[str, Limiter] = field(default_factory=dict)
    #: told the time a job was put back for, so the forwarder wakes up for it.
    on_retry: Callable[[float], None] | None = None
    #: a handler raised KeyboardInterrupt or SystemExit.
    on_fatal: Callable[[BaseException], None] | None = None
    #: counts every applied settlement into the metrics history.
    metrics: MetricsRecorder | None = None


class Runner:
    """Runs attempts and settles them."""

    def __init__(
        self,
        options: WorkerOptions,
        broker: Broker,
        clock: Clock,
        inflight: InFlight,
        settler: Settler,
        log: logging.Logger,
        setup: RunnerSetup,
    ) -> None:
        self.options = options
        self.broker = broker
        self.clock = clock
        self.serializer = options.serializer
        self.routes = setup.routes
        self.inflight = inflight
        self.settler = settler
        self.log = log
        self.max_bounces = options.max_bounces
        self.unknown_type_grace = options.unknown_type_grace
        self.worker_limits = list(setup.worker_limits)
        self.handler_limits = dict(setup.handler_limits)
        self.error_handler = options.error_handler
        self.on_retry = setup.on_retry
        self.on_fatal = setup.on_fatal
        self.metrics = setup.metrics
        #: whether ``clock`` runs with the event loop's time, so an attempt's deadline can
        #: be its cancel scope's (a ManualClock needs a task that waits on it instead).
        self._runtime_clock = isinstance(clock, SystemClock | BrokerClock)

    async def run(self, attempt: Attempt) -> None:
        try:
            await self._run(attempt)
        except Exception:
            # A bug here must not take the worker down; the job's lease runs out and
            # the recoverer puts it back.
            self.log.exception(
                "worker failed while running job %s", attempt.job_id, extra=job_fields(attempt.lease.record)
            )
        finally:
            self.inflight.discard(attempt)

    async def _run(self, attempt: Attempt) -> None:
        record = attempt.lease.record
        progress = functools.partial(self._progress, record)
        delivery = Delivery(attempt.lease, broker=self.broker, serializer=self.serializer, on_progress=progress)
        route = await self._admitted(attempt, delivery)
        if route is None:
            return
        if PREVIOUS_HEADER in record.headers:
            await delivery.load_previous()
        deadline = attempt_deadline(record, self.clock.now(), route.spec.timeout)
        attempt.deadline = delivery.deadline = deadline.at
        emit(
            "job_started",
            self.log,
            queue=record.queue,
            job_id=record.id,
            job_type=record.type,
            attempt=delivery.attempt,
        )
        started = anyio.current_time()
        end = await self._within_deadline(attempt, route, delivery, started, deadline.at)
        duration = attempt.run_time = anyio.current_time() - started
        if attempt.stop_reason is None and attempt.scope.cancel_called:
            attempt.stop_reason = StopReason.TIMEOUT  # the scope's deadline passed
        end = dataclasses.replace(
            end, stop=attempt.stop_reason, interrupted=attempt.scope.cancelled_caught, limit=deadline.limit
        )
        verdict = outcomes.interpret(
            attempt.lease,
            end,
            serializer=self.serializer,
            now=self.clock.now(),
            policy=route.spec.retry_delay,
            max_bounces=self.max_bounces,
            log=self.log,
        )
        await self._conclude(attempt, delivery, verdict, duration)

    async def _admitted(self, attempt: Attempt, delivery: Delivery) -> Route | None:
        """The gates before the handler: the record decodes, a handler serves its type
        here, the rate limits admit it. The job's route, or None when a gate settled it."""
        record = attempt.lease.record
        if record.malformed is not None:
            why = f"malformed job record: {record.malformed}"
            await self._archive(attempt, delivery, why, SerializationError(why))
            return None
        route = self.routes.get(record.type)
        if route is None or (route.spec.queue is not None and route.spec.queue != record.queue):
            await self._unknown(attempt, delivery, route)
            return None
        if await self._refused(attempt, delivery, route):
            return None
        return route

    async def _within_deadline(
        self, attempt: Attempt, route: Route, delivery: Delivery, started: float, deadline: float
    ) -> outcomes.AttemptEnd:
        """Run the handler chain under the attempt's cancel scope, ended at ``deadline``."""
        with attempt.scope:
            if self._runtime_clock:
                # The clock runs with the event loop's: the scope's own deadline ends the
                # attempt, no watcher task per job (Attempt.stop records it as TIMEOUT).
                attempt.scope.deadline = started + (deadline - self.clock.now())
                return await self._call(route, delivery)
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._expire, attempt, deadline, name=f"deadline of {attempt.job_id}")
                end = await self._call(route, delivery)
                tg.cancel_scope.cancel()
                return end
        # Reached when the scope caught the worker's stop before the handler returned.
        return outcomes.AttemptEnd()

    async def _conclude(self, attempt: Attempt, delivery: Delivery, verdict: outcomes.Verdict, duration: float) -> None:
        """Log, report and write what ``interpret`` decided."""
        settlement, error = verdict.settlement, verdict.error
        if settlement is None:
            assert error is not None
            if isinstance(error, LeaseLost):
                self._lost(attempt, delivery, error)
            else:
                self._fatal(attempt, error)
        elif settlement.kind is SettleKind.REQUEUE:
            await self._requeue(attempt, "the worker is shutting down")
        elif isinstance(error, JobCancelled):
            await self._archive(attempt, delivery, outcomes.CANCELLED, error)
        elif error is None:
            await self._succeed(attempt, settlement, duration)
        else:
            await self._fail(attempt, delivery, error, settlement)

    def _lost(self, attempt: Attempt, delivery: Delivery, error: LeaseLost) -> None:
        record = attempt.lease.record
        self.log.warning(
            "job %s (%s) in %s lost its lease on attempt %d; another worker owns it, nothing written",
            record.id,
            record.type,
            record.queue,
            delivery.attempt,
            extra=job_fields(record),
        )
        self._report(error, delivery)

    def _fatal(self, attempt: Attempt, fatal: BaseException) -> None:
        # Not requeued: a handler that exits the process every time would otherwise
        # take down every worker forever. Its lease runs out and the recoverer counts
        # a crash, so max_crashes bounds the loop (the other running jobs are requeued
        # by the shutdown that follows).
        record = attempt.lease.record
        self.log.error(
            "job %s (%s) in %s: its handler raised %s; the worker stops, the job is recovered when its lease "
            "runs out (counted as a crash)",
            record.id,
            record.type,
            record.queue,
            type(fatal).__name__,
            extra=job_fields(record),
        )
        if self.on_fatal is not None:
            self.on_fatal(fatal)

    @staticmethod
    async def _call(route: Route, delivery: Delivery) -> outcomes.AttemptEnd:
        """Run the handler chain: what it returned, or raised."""
        try:
            return outcomes.AttemptEnd(value=await route.call(delivery))
        except Exception as exc:
            return outcomes.AttemptEnd(error=exc)
        except (KeyboardInterrupt, SystemExit) as exc:
            return outcomes.AttemptEnd(fatal=exc)
        except GeneratorExit as exc:
            return outcomes.AttemptEnd(error=exc)
        except BaseException as exc:
            # The loop's own cancellation ends the attempt as usual; anything else (on
            # asyncio a CancelledError the handler raised itself, a BaseExceptionGroup
            # with a KeyboardInterrupt inside) is the handler's failure, not the worker's.
            if _cancelled(exc):
                raise
            return outcomes.AttemptEnd(error=exc)

    async def _expire(self, attempt: Attempt, at: float) -> None:
        await self.clock.sleep_until(at)
        attempt.stop(StopReason.TIMEOUT)

    # ----------------------------------------------------------------- before the handler

    async def _unknown(self, attempt: Attempt, delivery: Delivery, route: Route | None) -> None:
        record = attempt.lease.record
        if route is None:
            known = ", ".join(repr(t) for t in sorted(self.routes)) or "none"
            why = f"no handler registered for job type {record.type!r} (this worker handles: {known})"
        else:
            why = f"the handler for job type {record.type!r} serves queue {route.spec.queue!r} only"
        error = HandlerNotFound(why)
        if record.bounces >= unknown_type_bounces(self.unknown_type_grace):
            reason = f"{why}; no worker took it within {self.unknown_type_grace:g}s" if record.bounces else why
            await self._archive(attempt, delivery, reason, error)
            return
        delay = min(UNKNOWN_TYPE_DELAY, self.unknown_type_grace)
        self.log.warning(
            "job %s in %s: %s; back in %gs without using a retry (a newer worker may know it)",
            record.id,
            record.queue,
            why,
            delay,
            extra=job_fields(record),
        )
        self._report(error, delivery)
        await self._retry(
            attempt, Settlement.retry(attempt.lease, self.clock.now() + delay, why, counts_as_failure=False), error
        )

    async def _refused(self, attempt: Attempt, delivery: Delivery, route: Route) -> bool:
        """Check the rate limits; hold the job back and return True when one refuses."""
        record = attempt.lease.record
        limiters = list(self.worker_limits)
        if record.type in self.handler_limits:
            limiters.append(self.handler_limits[record.type])
        if not limiters:
            return False
        now = self.clock.now()
        try:
            delay, limiter = await admit(limiters, now)
        except QueueError as exc:
            self.log.warning(
                "job %s: rate limit unavailable (%s); holding it back %gs",
                record.id,
                exc,
                LIMITER_TROUBLE_DELAY,
                extra=job_fields(record),
            )
            delay, message = LIMITER_TROUBLE_DELAY, f"rate limit unavailable: {exc}"
        else:
            if limiter is None:
                return False
            message = f"rate limited by the {limiter.scope} limit {limiter.limit}"
        error = RateLimited(delay, message)
        self.log.info(
            "job %s (%s) in %s: %s; back in %.2fs without using a retry",
            record.id,
            record.type,
            record.queue,
            message,
            delay,
            extra=job_fields(record),
        )
        self._report(error, delivery)
        settlement = Settlement.retry(attempt.lease, now + delay, outcomes.describe(error), counts_as_failure=False)
        await self._retry(attempt, settlement, error)
        return True

    # ----------------------------------------------------------------- outcomes

    async def _succeed(self, attempt: Attempt, settlement: Settlement, duration: float) -> None:
        record = attempt.lease.record
        if await self._settle(settlement, attempt):
            if self.log.isEnabledFor(logging.DEBUG):
                self.log.debug(
                    "job %s (%s) in %s succeeded in %.3fs",
                    record.id,
                    record.type,
                    record.queue,
                    duration,
                    extra=job_fields(record),
                )
            emit(
                "job_succeeded", self.log, queue=record.queue, job_id=record.id, job_type=record.type, duration=duration
            )

    async def _fail(self, attempt: Attempt, delivery: Delivery, error: BaseException, settlement: Settlement) -> None:
        record = attempt.lease.record
        if not isinstance(error, QueueError) and settlement.kind is not SettleKind.REVOKE:
            settlement = dataclasses.replace(settlement, traceback=bounded_traceback(error))
        self._log_failure(record, delivery.attempt, error, settlement, self.clock.now())
        if settlement.kind is SettleKind.REVOKE:
            await self._settle(settlement, attempt)
            return
        self._report(error, delivery)
        emit(
            "job_failed",
            self.log,
            queue=record.queue,
            job_id=record.id,
            job_type=record.type,
            error=error,
            will_retry=settlement.kind is SettleKind.RETRY,
        )
        if settlement.kind is SettleKind.RETRY:
            await self._retry(attempt, settlement, error)
        elif await self._settle(settlement, attempt):
            assert settlement.error is not None
            emit(
                "job_archived",
                self.log,
                queue=record.queue,
                job_id=record.id,
                job_type=record.type,
                reason=settlement.error,
            )

    def _log_failure(
        self, record: JobRecord, attempt_no: int, error: BaseException, settlement: Settlement, now: float
    ) -> None:
        where = f"job {record.id} ({record.type}) in {record.queue}, attempt {attempt_no}"
        fields = job_fields(record)
        if isinstance(error, Revoke):
            self.log.info("%s revoked by its handler; deleted", where, extra=fields)
            return
        # One line per failed attempt; the traceback is stored with the job (``job show``,
        # ``Manager.job_info``) and logged at debug only.
        if settlement.traceback is not None:
            self.log.debug("%s: %s", where, settlement.traceback, extra=fields)
        if settlement.kind is SettleKind.ARCHIVE:
            self.log.error("%s failed: %s; archived", where, outcomes.describe(error), extra=fields)
        elif settlement.counts_as_failure:
            assert settlement.retry_at is not None
            self.log.warning(
                "%s failed: %s; retry %d of %d in %.1fs",
                where,
                outcomes.describe(error),
                record.retried + 1,
                record.max_retries,
                settlement.retry_at - now,
                extra=fields,
            )
        else:
            assert settlement.retry_at is not None
            self.log.info(
                "%s bounced: %s; back in %.1fs (bounce %d of %d, no retry used)",
                where,
                outcomes.describe(error),
                settlement.retry_at - now,
                record.bounces + 1,
                self.max_bounces,
                extra=fields,
            )

    async def _retry(self, attempt: Attempt, settlement: Settlement, error: BaseException) -> None:
        record = attempt.lease.record
        if not await self._settle(settlement, attempt):
            return
        assert settlement.retry_at is not None
        if self.on_retry is not None:
            self.on_retry(settlement.retry_at)
        emit(
            "job_retrying",
            self.log,
            queue=record.queue,
            job_id=record.id,
            job_type=record.type,
            retry_at=settlement.retry_at,
            error=error,
            counts_as_failure=settlement.counts_as_failure,
        )

    async def _archive(self, attempt: Attempt, delivery: Delivery, reason: str, error: BaseException) -> None:
        record = attempt.lease.record
        level = logging.WARNING if reason == outcomes.CANCELLED else logging.ERROR
        self.log.log(
            level,
            "job %s (%s) in %s archived: %s",
            record.id,
            record.type,
            record.queue,
            reason,
            extra=job_fields(record),
        )
        self._report(error, delivery)
        if await self._settle(Settlement.archive(attempt.lease, reason), attempt):
            emit("job_archived", self.log, queue=record.queue, job_id=record.id, job_type=record.type, reason=reason)

    async def _requeue(self, attempt: Attempt, why: str) -> None:
        record = attempt.lease.record
        if await self._settle(Settlement.requeue(attempt.lease), attempt):
            self.log.info(
                "job %s (%s) in %s interrupted: %s; requeued at the head without using a retry",
                record.id,
                record.type,
                record.queue,
                why,
                extra=job_fields(record),
            )

    async def _settle(self, settlement: Settlement, attempt: Attempt) -> bool:
        """Write ``settlement``; True when applied."""
        record = attempt.lease.record
        if attempt.stop_reason is StopReason.LEASE_LOST:
            return False
        attempt.settling = True
        applied = await self.settler.settle(settlement, until=attempt.expires_at)
        if applied is None:
            self.log.error(
                "could not %s job %s (%s) in %s; it is recovered when its lease runs out",
                settlement.kind.value,
                record.id,
                record.type,
                record.queue,
                extra=job_fields(record),
            )
        elif not applied:
            emit("lease_lost", self.log, queue=record.queue, job_id=record.id, job_type=record.type)
            self.log.warning(
                "job %s (%s) in %s: %s refused, the lease was lost; another worker owns the job",
                record.id,
                record.type,
                record.queue,
                settlement.kind.value,
                extra=job_fields(record),
            )
        elif self.metrics is not None:
            self.metrics.observe(record, settlement, attempt.run_time)
        return bool(applied)

    # ----------------------------------------------------------------- reporting

    def _report(self, error: BaseException, delivery: Delivery) -> None:
        """Call the error handler (after the failure was logged); never raises."""
        if self.error_handler is None:
            return
        try:
            self.error_handler(error, delivery)
        except Exception:
            self.log.exception("worker error_handler raised; ignored", extra=job_fields(delivery.record))

    def _progress(self, record: JobRecord, report: Progress) -> None:
        self.log.debug(
            "job %s (%s) progress: %g of %s%s",
            record.id,
            record.type,
            report.done,
            report.total,
            f" ({report.message})" if report.message else "",
            extra=job_fields(record),
        )
        emit(
            "job_progress",
            self.log,
            queue=record.queue,
            job_id=record.id,
            job_type=record.type,
            done=report.done,
            total=report.total,
            message=report.message,
        )
