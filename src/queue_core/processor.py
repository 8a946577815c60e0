"""Fetching jobs and running one attempt from start to settlement.

``Fetcher`` takes as many jobs as there are free slots in one ``dequeue`` call and, when
nothing came back, waits on ``broker.wait_for_jobs`` (or a local nudge from the
forwarder) instead of polling. ``Runner`` runs one attempt: builds the ``Delivery``,
calls the handler under the attempt's cancel scope, turns the result into a settlement
(``outcomes``) and writes it, shielded from cancellation, fenced by the lease.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.lowlevel

from queue_core import outcomes
from queue_core.broker import Broker, JobRecord, Lease, SettleKind, Settlement
from queue_core.clock import Clock
from queue_core.delivery import Delivery
from queue_core.errors import LeaseLost, QueueError, Revoke
from queue_core.events import emit
from queue_core.handlers import HandlerRegistry, HandlerSpec
from queue_core.leases import Attempt, InFlight, StopReason
from queue_core.queues import QueueOrder
from queue_core.serialization import Serializer

#: ``error_handler(error, delivery)``: called after a failed attempt is logged.
WorkerErrorHandler = Callable[[BaseException, Delivery], None]

SETTLE_TIMEOUT = 10.0
SETTLE_TRIES = 3
ERROR_BACKOFF_MIN = 0.1
ERROR_BACKOFF_MAX = 5.0


def job_fields(record: JobRecord) -> dict[str, Any]:
    """The ``extra`` fields every job log record carries."""
    return {"job_id": record.id, "job_type": record.type, "queue": record.queue, "attempt": record.retried + 1}


class Fetcher:
    """Keeps the worker's slots filled with leased jobs."""

    def __init__(
        self,
        *,
        broker: Broker,
        clock: Clock,
        order: QueueOrder,
        inflight: InFlight,
        lease_for: float,
        worker_id: str,
        log: logging.Logger,
        start: Callable[[Attempt], None],
        requeue: Callable[[Sequence[Lease]], Any],
        idle_timeout: float,
    ) -> None:
        self.broker = broker
        self.clock = clock
        self.order = order
        self.inflight = inflight
        self.lease_for = lease_for
        self.worker_id = worker_id
        self.log = log
        self.start = start
        self.requeue = requeue
        self.idle_timeout = idle_timeout
        self._nudged = anyio.Event()
        self._backoff = ERROR_BACKOFF_MIN

    def nudge(self) -> None:
        """Work may be pending (e.g. the forwarder just moved some): stop idling."""
        self._nudged.set()

    async def run(self) -> None:
        while True:
            await self.inflight.wait_for_room()
            # A nudge that arrives while dequeue runs must end the next idle wait, so
            # the event is renewed before the call, not after it.
            self._nudged = anyio.Event()
            try:
                taken = await self.fetch_once()
            except QueueError as exc:
                await self._broker_trouble("dequeue", exc)
                continue
            self._backoff = ERROR_BACKOFF_MIN
            if not taken:
                await self.idle()

    async def fetch_once(self) -> int:
        """One ``dequeue`` for up to the free slots; starts an attempt per lease."""
        limit = self.inflight.free
        leases: list[Lease] = []
        # Shielded: a dequeue cut short could lease jobs we never hear of, and they would
        # sit active until their lease ran out.
        with anyio.move_on_after(self.lease_for, shield=True):
            leases = await self.broker.dequeue(
                self.order.next(), self.clock.now(), self.lease_for, self.worker_id, limit
            )
        if len(leases) > limit:
            self.log.error("broker returned %d leases for a limit of %d; requeueing the extra", len(leases), limit)
            leases, extra = leases[:limit], leases[limit:]
            with anyio.CancelScope(shield=True):
                await self.requeue(extra)
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except anyio.get_cancelled_exc_class():
            # The worker started stopping while we dequeued: give the jobs straight back.
            with anyio.CancelScope(shield=True):
                await self.requeue(leases)
            raise
        for lease in leases:
            self.start(self.inflight.add(lease))
        return len(leases)

    async def idle(self) -> None:
        """Wait until the broker signals work, the forwarder nudges, or the timeout.

        The waiter is armed first and the queues checked once more before sleeping (the
        condition-variable pattern): a job enqueued between our empty dequeue and the
        waiter's registration would otherwise sit until the timeout.
        """
        async with anyio.create_task_group() as tg:

            async def broker_signal() -> None:
                try:
                    await self.broker.wait_for_jobs(self.order.names, self.idle_timeout)
                except QueueError as exc:
                    await self._broker_trouble("wait_for_jobs", exc)
                tg.cancel_scope.cancel()

            async def nudged() -> None:
                await self._nudged.wait()
                tg.cancel_scope.cancel()

            tg.start_soon(broker_signal, name="wait_for_jobs")
            tg.start_soon(nudged, name="nudge")
            await anyio.lowlevel.checkpoint()  # let the waiter register
            try:
                taken = await self.fetch_once()
            except QueueError as exc:
                self.log.warning("fetcher: dequeue failed: %s", exc)
                taken = 0
            if taken:
                tg.cancel_scope.cancel()

    async def _broker_trouble(self, what: str, exc: QueueError) -> None:
        self.log.warning("fetcher: %s failed: %s; retrying in %.1fs", what, exc, self._backoff)
        await anyio.sleep(self._backoff)
        self._backoff = min(self._backoff * 2, ERROR_BACKOFF_MAX)


class Runner:
    """Runs one attempt and settles it."""

    def __init__(
        self,
        *,
        broker: Broker,
        clock: Clock,
        serializer: Serializer,
        handlers: HandlerRegistry,
        inflight: InFlight,
        log: logging.Logger,
        max_bounces: int,
        error_handler: WorkerErrorHandler | None = None,
        on_retry: Callable[[float], None] | None = None,
    ) -> None:
        self.broker = broker
        self.clock = clock
        self.serializer = serializer
        self.handlers = handlers
        self.inflight = inflight
        self.log = log
        self.max_bounces = max_bounces
        self.error_handler = error_handler
        self.on_retry = on_retry

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
        lease = attempt.lease
        record = lease.record
        if record.malformed is not None:
            await self._archive(attempt, f"malformed job record: {record.malformed}")
            return
        spec = self.handlers.get(record.type)
        if spec is None:
            known = ", ".join(repr(t) for t in self.handlers.types()) or "none"
            await self._archive(
                attempt, f"no handler registered for job type {record.type!r} (this worker handles: {known})"
            )
            return

        now = self.clock.now()
        deadline = attempt_deadline(record, now)
        delivery = Delivery(lease, broker=self.broker, serializer=self.serializer, deadline=deadline)
        emit(
            "job_started",
            self.log,
            queue=record.queue,
            job_id=record.id,
            job_type=record.type,
            attempt=delivery.attempt,
        )
        started = anyio.current_time()
        value: Any = None
        error: BaseException | None = None
        with attempt.scope:
            if deadline is not None:
                # The clock may be a ManualClock: translate "seconds left" to anyio's clock.
                attempt.scope.deadline = min(attempt.scope.deadline, anyio.current_time() + (deadline - now))
            try:
                value = await self._call(spec, delivery)
            except Exception as exc:
                error = exc
        duration = anyio.current_time() - started

        reason = attempt.stop_reason
        if reason is StopReason.LEASE_LOST or isinstance(error, LeaseLost):
            self.log.warning(
                "job %s (%s) in %s lost its lease on attempt %d; another worker owns it, nothing written",
                record.id, record.type, record.queue, delivery.attempt, extra=job_fields(record),
            )  # fmt: skip
            return
        if attempt.scope.cancelled_caught:
            if reason is StopReason.SHUTDOWN:
                await self._requeue(attempt)
                return
            if reason is StopReason.CANCELLED:
                await self._archive(attempt, "cancelled by an operator")
                return
            error = TimeoutError(f"attempt exceeded its deadline ({_deadline_text(record)})")

        if error is None:
            try:
                result = None if value is None else self.serializer.dumps(value)
            except QueueError as exc:
                error = exc
            else:
                await self._succeed(attempt, result, duration)
                return
        await self._fail(attempt, spec, delivery, error)

    async def _call(self, spec: HandlerSpec, delivery: Delivery) -> Any:
        if spec.is_async:
            return await spec.fn(delivery)
        return await anyio.to_thread.run_sync(functools.partial(spec.fn, delivery), abandon_on_cancel=True)

    # ----------------------------------------------------------------- outcomes

    async def _succeed(self, attempt: Attempt, result: bytes | None, duration: float) -> None:
        record = attempt.lease.record
        if await self._settle(outcomes.success(attempt.lease, result), attempt):
            self.log.debug("job %s (%s) in %s succeeded in %.3fs", record.id, record.type, record.queue, duration,
                           extra=job_fields(record))  # fmt: skip
            emit(
                "job_succeeded", self.log, queue=record.queue, job_id=record.id, job_type=record.type, duration=duration
            )

    async def _fail(self, attempt: Attempt, spec: HandlerSpec, delivery: Delivery, error: BaseException) -> None:
        lease, record = attempt.lease, attempt.lease.record
        now = self.clock.now()
        settlement = outcomes.failure(
            lease, error, now=now, policy=spec.retry_delay, max_bounces=self.max_bounces, log=self.log
        )
        self._log_failure(record, delivery.attempt, error, settlement, now)
        if self.error_handler is not None and settlement.kind is not SettleKind.REVOKE:
            try:
                self.error_handler(error, delivery)
            except Exception:
                self.log.exception("worker error_handler raised; ignored")
        if settlement.kind is not SettleKind.REVOKE:
            emit(
                "job_failed", self.log, queue=record.queue, job_id=record.id, job_type=record.type,
                error=error, will_retry=settlement.kind is SettleKind.RETRY,
            )  # fmt: skip
        applied = await self._settle(settlement, attempt)
        if applied and settlement.kind is SettleKind.RETRY and self.on_retry is not None:
            assert settlement.retry_at is not None
            self.on_retry(settlement.retry_at)
        if applied and settlement.kind is SettleKind.ARCHIVE:
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
        signal = isinstance(error, QueueError)  # our own signals need no traceback
        exc_info = None if signal else error
        if settlement.kind is SettleKind.ARCHIVE:
            self.log.error("%s failed: %s; archived", where, outcomes.describe(error), exc_info=exc_info, extra=fields)
        elif settlement.counts_as_failure:
            assert settlement.retry_at is not None
            self.log.warning(
                "%s failed: %s; retry %d of %d in %.1fs", where, outcomes.describe(error),
                record.retried + 1, record.max_retries, settlement.retry_at - now, exc_info=exc_info, extra=fields,
            )  # fmt: skip
        else:
            assert settlement.retry_at is not None
            self.log.info(
                "%s bounced: %s; back in %.1fs (bounce %d of %d, no retry used)", where, outcomes.describe(error),
                settlement.retry_at - now, record.bounces + 1, self.max_bounces, extra=fields,
            )  # fmt: skip

    async def _archive(self, attempt: Attempt, reason: str) -> None:
        record = attempt.lease.record
        self.log.error("job %s (%s) in %s archived: %s", record.id, record.type, record.queue, reason,
                       extra=job_fields(record))  # fmt: skip
        if await self._settle(Settlement.archive(attempt.lease, reason), attempt):
            emit("job_archived", self.log, queue=record.queue, job_id=record.id, job_type=record.type, reason=reason)

    async def _requeue(self, attempt: Attempt) -> None:
        record = attempt.lease.record
        if await self._settle(Settlement.requeue(attempt.lease), attempt):
            self.log.info("job %s (%s) in %s interrupted by shutdown; requeued at the head", record.id,
                          record.type, record.queue, extra=job_fields(record))  # fmt: skip

    async def _settle(self, settlement: Settlement, attempt: Attempt) -> bool:
        """Write ``settlement``; True when applied, False when fenced or unreachable.

        Shielded, so a shutdown or a stop never loses an outcome halfway, and bounded, so
        an unreachable broker cannot hold the worker: the job is then recovered when its
        lease runs out.
        """
        record = attempt.lease.record
        if attempt.stop_reason is StopReason.LEASE_LOST:
            return False
        delay = 0.2
        with anyio.move_on_after(SETTLE_TIMEOUT, shield=True):
            for tries_left in range(SETTLE_TRIES - 1, -1, -1):
                try:
                    (applied,) = await self.broker.settle([settlement], self.clock.now())
                except QueueError as exc:
                    if not tries_left:
                        break
                    self.log.warning(
                        "settling job %s failed: %s; trying again", record.id, exc, extra=job_fields(record)
                    )
                    await anyio.sleep(delay)
                    delay *= 2
                    continue
                if not applied:
                    self.log.warning(
                        "job %s (%s) in %s: %s refused, the lease was lost; another worker owns the job",
                        record.id, record.type, record.queue, settlement.kind.value, extra=job_fields(record),
                    )  # fmt: skip
                return bool(applied)
        self.log.error(
            "could not %s job %s (%s) in %s; it is recovered when its lease runs out",
            settlement.kind.value, record.id, record.type, record.queue, extra=job_fields(record),
        )  # fmt: skip
        return False


def attempt_deadline(record: JobRecord, now: float) -> float | None:
    """When this attempt must end: the earlier of the job's deadline and now + timeout."""
    candidates = [
        t for t in (record.deadline, None if record.timeout is None else now + record.timeout) if t is not None
    ]
    return min(candidates) if candidates else None


def _deadline_text(record: JobRecord) -> str:
    parts = []
    if record.timeout is not None and math.isfinite(record.timeout):
        parts.append(f"timeout {record.timeout:g}s")
    if record.deadline is not None:
        parts.append(f"deadline {record.deadline:.3f}")
    return ", ".join(parts) or "no limit"
