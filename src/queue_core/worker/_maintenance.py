"""The worker's maintenance duties: forwarder, recoverer, janitor.

Each is a small loop around one idempotent broker call, safe to run in every worker at
once. Broker trouble is logged and the loop carries on at its next tick: maintenance
must never take a worker down. Time between ticks is measured on the worker's clock, so
a ``ManualClock`` drives these loops in tests.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence

import anyio

from queue_core._race import first_of
from queue_core.broker import Broker
from queue_core.clock import Clock
from queue_core.errors import QueueDamaged, QueueError, Unsupported
from queue_core.worker._trouble import Trouble

#: how often the forwarder looks again when nothing (or something later) is due and the
#: broker's notifications are not reaching the worker: a job scheduled meanwhile for an
#: earlier time by another process is then noticed within this delay. While they reach
#: it, the wake listener makes the forwarder look on every notification (a new earliest
#: scheduled job) and at every idle timeout, and this cap does not apply.
FORWARD_CAP = 1.0
#: the longest the forwarder sleeps while notifications reach the worker.
NOTIFIED_FORWARD_CAP = 60.0
FORWARD_BATCH = 1000
#: how often the janitor deletes completed jobs past retention and trims the archive: a
#: record outlives its expiry by at most this much. Housekeeping, so an idle worker spends
#: few commands on it (docs/worker/index.md: what an idle worker costs in Redis commands).
JANITOR_INTERVAL = 30.0


class _Duty:
    """What the three duties share: their broker, queues (less those found damaged), clock,
    log, and how they report a failed call."""

    #: the broker call the duty makes, as plugins hear of it when it fails.
    operation: str
    #: the duty's name in the log.
    name: str

    def __init__(
        self, broker: Broker, queues: Sequence[str], clock: Clock, log: logging.Logger, trouble: Trouble | None
    ) -> None:
        self.broker = broker
        self._queues = list(queues)
        self.clock = clock
        self.log = log
        self.trouble = trouble or Trouble.of(log, "worker")
        self._calls = self.trouble.outage.calls(self.operation, self.name)

    @property
    def queues(self) -> list[str]:
        return self.trouble.damaged.healthy(self._queues)

    def succeeded(self) -> None:
        self._calls.ok()

    def failed(self, exc: Exception, doing: str | None = None) -> None:
        """Report a failed tick: a damaged queue is left out for a while, an unreachable
        broker goes into the outage story, anything else is logged (with a traceback when
        it is not broker trouble: that is a bug)."""
        if isinstance(exc, QueueDamaged):
            self.trouble.damaged.found(exc)
        elif not (isinstance(exc, QueueError) and self._calls.failed(exc)):
            self.log.warning("%s: %s", doing or self.name, exc, exc_info=not isinstance(exc, QueueError))


class Forwarder(_Duty):
    """Moves due scheduled and retry jobs to pending, waking exactly when the next is due."""

    #: the longest sleep between two looks, and while notifications are known to work.
    cap = FORWARD_CAP
    notified_cap = NOTIFIED_FORWARD_CAP
    #: jobs moved per broker call.
    batch = FORWARD_BATCH
    operation = "forward_due"
    name = "forwarder"

    def __init__(
        self,
        broker: Broker,
        queues: Sequence[str],
        clock: Clock,
        log: logging.Logger,
        *,
        on_forwarded: Callable[[int], None] | None = None,
        notified: Callable[[], bool] = lambda: False,
        trouble: Trouble | None = None,
    ) -> None:
        super().__init__(broker, queues, clock, log, trouble)
        self.on_forwarded = on_forwarded
        self.notified = notified
        self._wake_at = float("inf")
        self._rescheduled = anyio.Event()

    def due_at(self, when: float) -> None:
        """A job becomes due at ``when`` (e.g. this worker just scheduled a retry): wake
        up for it if that is earlier than the forwarder planned to look."""
        if when < self._wake_at:
            self._wake_at = when
            self._rescheduled.set()

    def recheck(self) -> None:
        """Look again now (a notification came: a new job may be due sooner)."""
        self.due_at(-math.inf)

    async def run(self) -> None:
        while True:
            # Renewed before the tick: a due_at() that lands while the tick runs must
            # still cut the coming sleep short.
            self._rescheduled = anyio.Event()
            self._wake_at = float("inf")
            wake_at = await self.tick()
            self._wake_at = min(self._wake_at, wake_at)
            await first_of(lambda: self.clock.sleep_until(self._wake_at), self._rescheduled.wait)

    async def tick(self) -> float:
        """Forward everything due now; return when to look again."""
        now = self.clock.now()
        cap = self.notified_cap if self.notified() else self.cap
        try:
            due = await self.broker.next_due(self.queues)
            if due is not None and due <= now:
                moved_total = 0
                while True:
                    moved = await self.broker.forward_due(self.queues, now, self.batch)
                    moved_total += moved
                    if moved < self.batch:
                        break
                if moved_total and self.on_forwarded is not None:
                    self.on_forwarded(moved_total)
                due = await self.broker.next_due(self.queues)
                if not moved_total and due is not None and due <= now:
                    due = now + cap  # something due will not move: do not spin on it
        except Exception as exc:
            self.failed(exc)
            # A damaged queue is left out from now on: the other queues at once.
            return now if isinstance(exc, QueueDamaged) else now + self.cap
        self.succeeded()
        if due is None:
            return now + cap
        return min(max(due, now), now + cap)


class Recoverer(_Duty):
    """Puts the jobs of dead workers (expired leases, or active with no lease) back in play."""

    operation = "recover_expired"
    name = "recoverer"

    def __init__(
        self,
        broker: Broker,
        queues: Sequence[str],
        clock: Clock,
        log: logging.Logger,
        *,
        interval: float,
        max_crashes: int,
        trouble: Trouble | None = None,
    ) -> None:
        super().__init__(broker, queues, clock, log, trouble)
        self.interval = interval
        self.max_crashes = max_crashes

    async def run(self) -> None:
        await every(self.clock, self.interval, self.tick)

    async def tick(self) -> None:
        try:
            recovery = await self.broker.recover_expired(self.queues, self.clock.now(), self.max_crashes)
        except Exception as exc:
            self.failed(exc)
            return
        self.succeeded()
        if recovery.requeued:
            self.log.warning(
                "recovered %d job(s) whose worker stopped renewing its lease: %s",
                len(recovery.requeued),
                ", ".join(recovery.requeued[:20]),
            )
        if recovery.archived:
            self.log.error(
                "archived %d job(s) that crashed their worker more than %d times: %s",
                len(recovery.archived),
                self.max_crashes,
                ", ".join(recovery.archived[:20]),
            )


class Janitor(_Duty):
    """Deletes completed jobs past retention and archived jobs beyond the caps, and gives
    members of expired aggregation staging sets back to their groups."""

    operation = "purge_expired"
    name = "janitor"

    def __init__(
        self,
        broker: Broker,
        queues: Sequence[str],
        clock: Clock,
        log: logging.Logger,
        *,
        archive_max_size: int,
        archive_max_age: float,
        interval: float = JANITOR_INTERVAL,
        trouble: Trouble | None = None,
    ) -> None:
        super().__init__(broker, queues, clock, log, trouble)
        self.archive_max_size = archive_max_size
        self.archive_max_age = archive_max_age
        self.interval = interval
        self._reclaims = True  # until the broker says it has no aggregation

    async def run(self) -> None:
        await every(self.clock, self.interval, self.tick)

    async def tick(self) -> None:
        await self.reclaim_staging()
        try:
            deleted = await self.broker.purge_expired(
                self.queues, self.clock.now(), self.archive_max_size, self.archive_max_age
            )
        except Exception as exc:
            self.failed(exc)
            return
        self.succeeded()
        if deleted:
            self.log.debug("janitor deleted %d expired job(s)", deleted)

    async def reclaim_staging(self) -> None:
        """Staging sets of a crashed aggregator, once expired, go back to their groups (so a
        worker that does not aggregate still frees them for one that does)."""
        if not self._reclaims:
            return
        now = self.clock.now()
        try:
            returned = sum([await self.broker.reclaim_staged(queue, now) for queue in self.queues])
        except Unsupported:
            self._reclaims = False
            return
        except Exception as exc:
            self.failed(exc, "janitor: reclaiming staged groups")
            return
        if returned:
            self.log.warning("gave %d aggregation member(s) of expired staging sets back to their groups", returned)


async def every(clock: Clock, interval: float, tick: Callable[[], Awaitable[None]]) -> None:
    """Run ``tick`` now and then every ``interval`` on ``clock``, at a fixed rate: a slow
    tick (or the clock jumping while it ran) does not push the following ones later, so
    "within one interval" holds; ticks missed meanwhile are not made up."""
    next_at = clock.now()
    while True:
        await tick()
        # Late (a long tick, or the clock jumped meanwhile): tick at once, but only once.
        next_at = max(next_at + interval, clock.now())
        await clock.sleep_until(next_at)
