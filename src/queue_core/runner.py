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
from typing import Any

import anyio
import sniffio

from queue_core import outcomes
from queue_core.broker import Broker, JobRecord, SettleKind, Settlement
from queue_core.broker_clock import BrokerClock
from queue_core.clock import Clock, SystemClock
from queue_core.deadlines import attempt_deadline
from queue_core.delivery import Delivery, Progress
from queue_core.errors import (
    HandlerNotFound,
    JobCancelled,
    JobTimeout,
    LeaseLost,
    QueueError,
    RateLimited,
    Revoke,
    SerializationError,
)
from queue_core.events import emit
from queue_core.handlers import Route
from queue_core.leases import Attempt, InFlight, StopReason
from queue_core.ratelimit import Limiter, admit
from queue_core.serialization import Serializer, encode
from queue_core.settler import Settler

#: ``error_handler(error, delivery)``: called after a failed attempt is logged.
WorkerErrorHandler = Callable[[BaseException, Delivery], None]

#: how long a job of an unknown type waits between two looks for a handler.
UNKNOWN_TYPE_DELAY = 15.0
#: how long a job is held back when a distributed rate limit cannot be consulted.
LIMITER_TROUBLE_DELAY = 1.0
#: the reason a cancelled job is archived with.
CANCELLED = "cancelled"


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


class Runner:
    """Runs attempts and settles them."""

    def __init__(
        self,
        *,
        broker: Broker,
        clock: Clock,
        serializer: Serializer,
        routes: Mapping[str, Route],
        inflight: InFlight,
        settler: Settler,
        log: logging.Logger,
        max_bounces: int,
        unknown_type_grace: float = 0.0,
        worker_limits: Sequence[Limiter] = (),
        handler_limits: Mapping[str, Limiter] | None = None,
        error_handler: WorkerErrorHandler | None = None,
        on_retry: Callable[[float], None] | None = None,
        on_fatal: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.broker = broker
        self.clock = clock
        self.serializer = serializer
        self.routes = routes
        self.inflight = inflight
        self.settler = settler
        self.log = log
        self.max_bounces = max_bounces
        self.unknown_type_grace = unknown_type_grace
        self.worker_limits = list(worker_limits)
        self.handler_limits = dict(handler_limits or {})
        self.error_handler = error_handler
        self.on_retry = on_retry
        self.on_fatal = on_fatal
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
        delivery = Delivery(
            attempt.lease, broker=self.broker, serializer=self.serializer,
            on_progress=functools.partial(self._progress, record),
        )  # fmt: skip
        if record.malformed is not None:
            why = f"malformed job record: {record.malformed}"
            await self._archive(attempt, delivery, why, SerializationError(why))
            return
        route = self.routes.get(record.type)
        if route is None or (route.spec.queue is not None and route.spec.queue != record.queue):
            await self._unknown(attempt, delivery, route)
            return
        if await self._refused(attempt, delivery, route):
            return

        now = self.clock.now()
        deadline = attempt_deadline(record, now, route.spec.timeout)
        attempt.deadline = delivery.deadline = deadline.at
        emit("job_started", self.log, queue=record.queue, job_id=record.id, job_type=record.type,
             attempt=delivery.attempt)  # fmt: skip
        started = anyio.current_time()
        value: Any = None
        error: BaseException | None = None
        fatal: BaseException | None = None
        with attempt.scope:
            if self._runtime_clock:
                # The clock runs with the event loop's: the scope's own deadline ends the
                # attempt, no watcher task per job (Attempt.stop records it as TIMEOUT).
                attempt.scope.deadline = started + (deadline.at - self.clock.now())
                value, error, fatal = await self._call(route, delivery)
            else:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._expire, attempt, deadline.at, name=f"deadline of {record.id}")
                    value, error, fatal = await self._call(route, delivery)
                    tg.cancel_scope.cancel()
        duration = anyio.current_time() - started
        if attempt.stop_reason is None and attempt.scope.cancel_called:
            attempt.stop_reason = StopReason.TIMEOUT  # the scope's deadline passed

        reason = attempt.stop_reason
        if reason is StopReason.LEASE_LOST or isinstance(error, LeaseLost):
            self.log.warning(
                "job %s (%s) in %s lost its lease on attempt %d; another worker owns it, nothing written",
                record.id, record.type, record.queue, delivery.attempt, extra=job_fields(record),
            )  # fmt: skip
            self._report(error if isinstance(error, LeaseLost) else LeaseLost(f"job {record.id!r} lost its lease"),
                         delivery)  # fmt: skip
            return
        if fatal is not None:
            # Not requeued: a handler that exits the process every time would otherwise
            # take down every worker forever. Its lease runs out and the recoverer counts
            # a crash, so max_crashes bounds the loop (the other running jobs are requeued
            # by the shutdown that follows).
            self.log.error(
                "job %s (%s) in %s: its handler raised %s; the worker stops, the job is recovered when its lease "
                "runs out (counted as a crash)", record.id, record.type, record.queue, type(fatal).__name__,
                extra=job_fields(record),
            )  # fmt: skip
            if self.on_fatal is not None:
                self.on_fatal(fatal)
            return
        if reason is not None and (attempt.scope.cancelled_caught or error is not None):
            # The worker interrupted the handler: why decides the outcome, whatever the
            # handler raised on its way out.
            if reason is StopReason.SHUTDOWN:
                await self._requeue(attempt, "the worker is shutting down")
                return
            if reason is StopReason.CANCELLED:
                await self._archive(attempt, delivery, CANCELLED, JobCancelled(f"job {record.id!r} was cancelled"))
                return
            error = JobTimeout(f"attempt ran past its {deadline.limit}", limit=deadline.limit)

        if error is None:
            try:
                result = None if value is None else encode(self.serializer, value)
            except QueueError as exc:
                error = exc
            else:
                await self._succeed(attempt, result, duration)
                return
        await self._fail(attempt, route, delivery, error)

    @staticmethod
    async def _call(route: Route, delivery: Delivery) -> tuple[Any, BaseException | None, BaseException | None]:
        """Run the handler chain: (value, error, fatal)."""
        try:
            return await route.call(delivery), None, None
        except Exception as exc:
            return None, exc, None
        except (KeyboardInterrupt, SystemExit) as exc:
            return None, None, exc
        except GeneratorExit as exc:
            return None, exc, None
        except BaseException as exc:
            # The loop's own cancellation ends the attempt as usual; anything else (on
            # asyncio a CancelledError the handler raised itself, a BaseExceptionGroup
            # with a KeyboardInterrupt inside) is the handler's failure, not the worker's.
            if _cancelled(exc):
                raise
            return None, exc, None

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
            record.id, record.queue, why, delay, extra=job_fields(record),
        )  # fmt: skip
        self._report(error, delivery)
        await self._retry(attempt, Settlement.retry(attempt.lease, self.clock.now() + delay, why,
                                                    counts_as_failure=False), error)  # fmt: skip

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
            self.log.warning("job %s: rate limit unavailable (%s); holding it back %gs", record.id, exc,
                             LIMITER_TROUBLE_DELAY, extra=job_fields(record))  # fmt: skip
            delay, message = LIMITER_TROUBLE_DELAY, f"rate limit unavailable: {exc}"
        else:
            if limiter is None:
                return False
            message = f"rate limited by the {limiter.scope} limit {limiter.limit}"
        error = RateLimited(delay, message)
        self.log.info("job %s (%s) in %s: %s; back in %.2fs without using a retry", record.id, record.type,
                      record.queue, message, delay, extra=job_fields(record))  # fmt: skip
        self._report(error, delivery)
        settlement = Settlement.retry(attempt.lease, now + delay, outcomes.describe(error), counts_as_failure=False)
        await self._retry(attempt, settlement, error)
        return True

    # ----------------------------------------------------------------- outcomes

    async def _succeed(self, attempt: Attempt, result: bytes | None, duration: float) -> None:
        record = attempt.lease.record
        if await self._settle(outcomes.success(attempt.lease, result), attempt):
            if self.log.isEnabledFor(logging.DEBUG):
                self.log.debug("job %s (%s) in %s succeeded in %.3fs", record.id, record.type, record.queue,
                               duration, extra=job_fields(record))  # fmt: skip
            emit("job_succeeded", self.log, queue=record.queue, job_id=record.id, job_type=record.type,
                 duration=duration)  # fmt: skip

    async def _fail(self, attempt: Attempt, route: Route, delivery: Delivery, error: BaseException) -> None:
        lease, record = attempt.lease, attempt.lease.record
        now = self.clock.now()
        settlement = outcomes.failure(
            lease, error, now=now, policy=route.spec.retry_delay, max_bounces=self.max_bounces, log=self.log
        )
        if not isinstance(error, QueueError) and settlement.kind is not SettleKind.REVOKE:
            settlement = dataclasses.replace(settlement, traceback=bounded_traceback(error))
        self._log_failure(record, delivery.attempt, error, settlement, now)
        if settlement.kind is SettleKind.REVOKE:
            await self._settle(settlement, attempt)
            return
        self._report(error, delivery)
        emit("job_failed", self.log, queue=record.queue, job_id=record.id, job_type=record.type, error=error,
             will_retry=settlement.kind is SettleKind.RETRY)  # fmt: skip
        if settlement.kind is SettleKind.RETRY:
            await self._retry(attempt, settlement, error)
        elif await self._settle(settlement, attempt):
            assert settlement.error is not None
            emit("job_archived", self.log, queue=record.queue, job_id=record.id, job_type=record.type,
                 reason=settlement.error)  # fmt: skip

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
                "%s failed: %s; retry %d of %d in %.1fs", where, outcomes.describe(error),
                record.retried + 1, record.max_retries, settlement.retry_at - now, extra=fields,
            )  # fmt: skip
        else:
            assert settlement.retry_at is not None
            self.log.info(
                "%s bounced: %s; back in %.1fs (bounce %d of %d, no retry used)", where, outcomes.describe(error),
                settlement.retry_at - now, record.bounces + 1, self.max_bounces, extra=fields,
            )  # fmt: skip

    async def _retry(self, attempt: Attempt, settlement: Settlement, error: BaseException) -> None:
        record = attempt.lease.record
        if not await self._settle(settlement, attempt):
            return
        assert settlement.retry_at is not None
        if self.on_retry is not None:
            self.on_retry(settlement.retry_at)
        emit("job_retrying", self.log, queue=record.queue, job_id=record.id, job_type=record.type,
             retry_at=settlement.retry_at, error=error, counts_as_failure=settlement.counts_as_failure)  # fmt: skip

    async def _archive(self, attempt: Attempt, delivery: Delivery, reason: str, error: BaseException) -> None:
        record = attempt.lease.record
        level = logging.WARNING if reason == CANCELLED else logging.ERROR
        self.log.log(level, "job %s (%s) in %s archived: %s", record.id, record.type, record.queue, reason,
                     extra=job_fields(record))  # fmt: skip
        self._report(error, delivery)
        if await self._settle(Settlement.archive(attempt.lease, reason), attempt):
            emit("job_archived", self.log, queue=record.queue, job_id=record.id, job_type=record.type, reason=reason)

    async def _requeue(self, attempt: Attempt, why: str) -> None:
        record = attempt.lease.record
        if await self._settle(Settlement.requeue(attempt.lease), attempt):
            self.log.info("job %s (%s) in %s interrupted: %s; requeued at the head without using a retry",
                          record.id, record.type, record.queue, why, extra=job_fields(record))  # fmt: skip

    async def _settle(self, settlement: Settlement, attempt: Attempt) -> bool:
        """Write ``settlement``; True when applied."""
        record = attempt.lease.record
        if attempt.stop_reason is StopReason.LEASE_LOST:
            return False
        attempt.settling = True
        applied = await self.settler.settle(settlement, until=attempt.expires_at)
        if applied is None:
            self.log.error("could not %s job %s (%s) in %s; it is recovered when its lease runs out",
                           settlement.kind.value, record.id, record.type, record.queue,
                           extra=job_fields(record))  # fmt: skip
        elif not applied:
            self.log.warning("job %s (%s) in %s: %s refused, the lease was lost; another worker owns the job",
                             record.id, record.type, record.queue, settlement.kind.value,
                             extra=job_fields(record))  # fmt: skip
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
        self.log.debug("job %s (%s) progress: %g of %s%s", record.id, record.type, report.done, report.total,
                       f" ({report.message})" if report.message else "", extra=job_fields(record))  # fmt: skip
        emit("job_progress", self.log, queue=record.queue, job_id=record.id, job_type=record.type,
             done=report.done, total=report.total, message=report.message)  # fmt: skip
