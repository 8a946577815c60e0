"""The attempts a worker is running, and the lease keeper that keeps them owned.

``InFlight`` is the worker's table of running attempts, one per lease, bounded by the
worker's concurrency: the fetcher asks it how many slots are free and reserves one per
leased job before starting the handler. ``LeaseKeeper`` renews every running attempt's
lease every ``lease_for / 3`` and stops the handler of any lease the broker no longer
grants (its job was recovered by someone else) -- that attempt must never write again --
and of any job an operator cancelled (the broker reports the persisted cancel flag with
the renewal, so a cancel notice that never arrived still takes effect within one
renewal interval).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import anyio

from queue_core.broker import Broker, Lease
from queue_core.clock import Clock
from queue_core.errors import QueueError
from queue_core.events import emit
from queue_core.outage import Outage


class StopReason(StrEnum):
    """Why the worker interrupted a running handler."""

    LEASE_LOST = "lease lost"  # another worker owns the job now; write nothing
    CANCELLED = "cancelled"  # an operator cancelled the job; archive it
    SHUTDOWN = "shutdown"  # the worker is stopping; requeue the job at the head
    TIMEOUT = "timeout"  # the attempt reached its deadline; a failure


@dataclass(eq=False)
class Attempt:
    """One running handler and the lease it works under."""

    lease: Lease
    #: when the lease ends unless renewed, as far as this worker knows.
    expires_at: float
    #: when the worker took the job (its clock).
    started_at: float = 0.0
    #: when the attempt must end; set when the handler starts.
    deadline: float | None = None
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    stop_reason: StopReason | None = None
    #: seconds the handler ran, once it returned (None when no handler ran).
    run_time: float | None = None
    #: the handler is done and its outcome is being written: a renewal that finds the
    #: lease gone meanwhile (the outcome was written first) has nothing to stop.
    settling: bool = False

    @property
    def job_id(self) -> str:
        return self.lease.job_id

    def stop(self, reason: StopReason) -> None:
        """Interrupt the handler. The first reason wins, except that a lost lease
        overrides any other: an attempt that lost its lease must write nothing."""
        if self.stop_reason is None and self.scope.cancel_called:
            self.stop_reason = StopReason.TIMEOUT  # the scope's deadline came first
        if self.stop_reason is None or reason is StopReason.LEASE_LOST:
            self.stop_reason = reason
        self.scope.cancel()


class InFlight:
    """Running attempts keyed by lease token, at most ``capacity`` at a time."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._attempts: dict[str, Attempt] = {}
        self._changed = anyio.Event()

    def __len__(self) -> int:
        return len(self._attempts)

    @property
    def free(self) -> int:
        return self.capacity - len(self._attempts)

    def add(self, lease: Lease, now: float = 0.0) -> Attempt:
        if self.free <= 0:
            raise RuntimeError("no free slot: the fetcher took more jobs than the concurrency allows")
        attempt = Attempt(lease, lease.expires_at, started_at=now)
        self._attempts[lease.token] = attempt
        self._notify()
        return attempt

    def discard(self, attempt: Attempt) -> None:
        if self._attempts.pop(attempt.lease.token, None) is not None:
            self._notify()

    def __contains__(self, attempt: Attempt) -> bool:
        return self._attempts.get(attempt.lease.token) is attempt

    def attempts(self) -> list[Attempt]:
        return list(self._attempts.values())

    def of_jobs(self, job_ids: Collection[str]) -> list[Attempt]:
        return [attempt for attempt in self._attempts.values() if attempt.job_id in job_ids]

    def stop_all(self, reason: StopReason) -> None:
        for attempt in self.attempts():
            attempt.stop(reason)

    async def wait_for_room(self) -> None:
        while self.free <= 0:
            await self._changed.wait()

    async def wait_empty(self) -> None:
        await self.wait_until_at_most(0)

    async def wait_until_at_most(self, count: int) -> None:
        """Until no more than ``count`` attempts are running."""
        while len(self._attempts) > count:
            await self._changed.wait()

    def _notify(self) -> None:
        # Every waiter re-checks its condition before waiting, so with none waiting there
        # is nobody to wake (and no Event to make, twice per job).
        if self._changed.statistics().tasks_waiting:
            changed, self._changed = self._changed, anyio.Event()
            changed.set()


class LeaseKeeper:
    """Renews the leases of running attempts; stops the ones the broker took back."""

    def __init__(
        self,
        broker: Broker,
        inflight: InFlight,
        clock: Clock,
        lease_for: float,
        log: logging.Logger,
        outage: Outage | None = None,
    ) -> None:
        self.outage = outage or Outage(log, "worker")
        self.broker = broker
        self.inflight = inflight
        self.clock = clock
        self.lease_for = lease_for
        self.interval = lease_for / 3
        self.log = log
        self._renewals = self.outage.calls("extend_leases", "lease renewal")

    async def run(self) -> None:
        # Fixed rate, not fixed delay: a slow renewal does not push the next one later,
        # so renewals stay ``interval`` apart on the clock that judges the leases.
        next_at = self.clock.now() + self.interval
        while True:
            await self.clock.sleep_until(next_at)
            await self.renew()
            now = self.clock.now()
            next_at = next_at + self.interval if next_at + self.interval > now else now

    async def renew(self, attempts: Sequence[Attempt] | None = None) -> None:
        """One renewal round over ``attempts`` (default: every running attempt).

        Broker trouble is logged, never raised.
        """
        if attempts is None:
            attempts = self.inflight.attempts()
        attempts = [attempt for attempt in attempts if attempt.stop_reason is not StopReason.LEASE_LOST]
        if not attempts:
            return
        now = self.clock.now()
        try:
            renewal = await self.broker.extend_leases([a.lease for a in attempts], now, self.lease_for)
        except QueueError as exc:
            # Without a renewal we cannot know the leases are still ours; once one has
            # run out here, someone may already have recovered its job, so stop it.
            if not self._renewals.failed(exc):
                self.log.warning("lease renewal failed: %s", exc)
            for attempt in attempts:
                if attempt.expires_at <= now:
                    self._lost(attempt, "its lease ran out while the broker was unreachable")
            return
        self._renewals.ok()
        lost = {lease.token for lease in renewal.lost}
        cancelled = {lease.token for lease in renewal.cancelled}
        renewed = 0
        for attempt in attempts:
            if attempt.lease.token in lost:
                # A job settled while the renewal was on its way (its completion ended
                # the lease): nothing to stop and nothing to report.
                if not attempt.settling and attempt in self.inflight:
                    self._lost(attempt, "the broker no longer grants its lease")
                continue
            attempt.expires_at = now + self.lease_for
            renewed += 1
            if attempt.lease.token in cancelled and attempt.stop_reason is None:
                self.log.warning(
                    "job %s (%s) in %s was cancelled by an operator; stopping its handler",
                    attempt.job_id,
                    attempt.lease.record.type,
                    attempt.lease.queue,
                    extra=_fields(attempt),
                )
                attempt.stop(StopReason.CANCELLED)
        if renewed:
            emit("leases_renewed", self.log, count=renewed)

    def _lost(self, attempt: Attempt, why: str) -> None:
        if attempt.stop_reason is not StopReason.LEASE_LOST:
            record = attempt.lease.record
            emit("lease_lost", self.log, queue=record.queue, job_id=record.id, job_type=record.type)
        if attempt.stop_reason is None:
            self.log.warning(
                "job %s (%s) in %s: stopping its handler, %s",
                attempt.job_id,
                attempt.lease.record.type,
                attempt.lease.queue,
                why,
                extra=_fields(attempt),
            )
        attempt.stop(StopReason.LEASE_LOST)


def _fields(attempt: Attempt) -> dict[str, object]:
    record = attempt.lease.record
    return {"job_id": record.id, "job_type": record.type, "queue": record.queue, "attempt": record.retried + 1}
