"""The fetcher: keeps the worker's slots filled with leased jobs, without polling.

When slots are free it asks the broker for that many jobs, dealt over the queues by
``QueueOrder.plan`` (weighted or strict). When nothing came back it waits for a wake-up
instead of asking again:

- the **listener** (``listen``, its own task) waits on ``broker.wait_for_jobs`` -- a
  notification, not a poll: an enqueue to an empty queue, or a scheduled job that became
  the earliest of its queue. Each time it returns (or its ``idle_timeout`` passes, the
  safety net against a lost notification) it wakes the fetcher and lets the forwarder
  look again at once, busy or idle;
- a **nudge** from the forwarder, which just moved due jobs to pending.

So an idle worker costs the broker a handful of calls every ``idle_timeout`` seconds and
nothing more, and a newly scheduled job is forwarded when due, not at a periodic look.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel

from queue_core.broker import Broker, Lease
from queue_core.clock import Clock
from queue_core.errors import BrokerUnavailable, QueueDamaged, QueueError
from queue_core.worker._leases import Attempt, InFlight
from queue_core.worker._queues import QueueOrder
from queue_core.worker._trouble import Trouble
from queue_core.worker.options import WorkerOptions

ERROR_BACKOFF_MIN = 0.1
#: The longest wait between two tries while the broker is unreachable: it bounds how long
#: after the broker is back the worker takes jobs again (docs/guarantees.md, P8: within 2 s).
ERROR_BACKOFF_MAX = 1.0


def jittered(backoff: float) -> float:
    """Somewhere in the upper half of ``backoff``, so that workers that lost the broker
    together do not all come back in the same instant."""
    return backoff * random.uniform(0.5, 1.0)


@dataclass(frozen=True, slots=True)
class FetcherHooks:
    """What the fetcher hands its work to."""

    #: run a leased attempt (in the run's work area).
    start: Callable[[Attempt], None]
    #: put back leases the fetcher cannot run (the worker is stopping).
    requeue: Callable[[Sequence[Lease]], Any]
    #: a notification woke the listener (the forwarder looks again).
    on_wake: Callable[[], None] | None = None


class Fetcher:
    """Takes jobs for free slots; idles on the broker's notification."""

    def __init__(
        self,
        options: WorkerOptions,
        broker: Broker,
        clock: Clock,
        inflight: InFlight,
        log: logging.Logger,
        hooks: FetcherHooks,
        *,
        idle_timeout: float,
        trouble: Trouble | None = None,
    ) -> None:
        self.broker = broker
        self.clock = clock
        self.order = QueueOrder(options.queue_weights, strict=options.strict)
        self.inflight = inflight
        self.lease_for = options.lease_for
        self.worker_id = options.id
        self.log = log
        self.start = hooks.start
        self.requeue = hooks.requeue
        self.idle_timeout = idle_timeout
        self.on_wake = hooks.on_wake
        self.trouble = trouble or Trouble.of(log, f"worker {options.id}")
        #: a job with this many crashes is on its last chance and runs alone (``_quarantine``).
        self.quarantine_at = max(options.max_crashes, 1)
        #: True while waiting for work.
        self.idle = False
        self._wake = anyio.Event()
        #: a notification woke the idle fetcher: the forwarder looks once it has dequeued.
        self._wake_pending = False
        self._backoff = ERROR_BACKOFF_MIN
        self._listen_backoff = ERROR_BACKOFF_MIN
        self._dequeues = self.trouble.outage.calls("dequeue")
        self._listens = self.trouble.outage.calls("wait_for_jobs", "waiting for jobs")
        #: whether the listener is waiting without trouble: the forwarder can then rely
        #: on its wake-ups (on every notification, and at least every idle_timeout).
        self.listening = False
        # Whether wait_for_jobs has returned normally since the last failure, so it has
        # subscribed: from then on a notification sent between two waits is kept for the
        # next one.
        self._subscribed = False
        #: set once the listener has subscribed, or failed to: the worker reports itself
        #: started after this, so a job enqueued from then on wakes it.
        self.ready = anyio.Event()
        #: set once the worker has reported itself started: no job starts before that.
        self.go = anyio.Event()

    def nudge(self) -> None:
        """Work may be pending (e.g. the forwarder just moved some): stop idling."""
        self._wake.set()

    async def listen(self) -> None:
        """The listener loop: wake the fetcher (and the forwarder) on every notification."""
        while True:
            self.listening = True
            # Until subscribed, a zero wait: it returns once the broker has subscribed, and
            # the wake-up below makes the fetcher look again for a job enqueued before that
            # (the condition-variable pattern).
            timeout = self.idle_timeout if self._subscribed else 0.0
            try:
                await self.broker.wait_for_jobs(self.order.names, timeout)
            except QueueError as exc:
                self.listening = self._subscribed = False
                self.ready.set()
                delay = jittered(self._listen_backoff)
                if not self._listens.failed(exc):
                    self.log.warning("fetcher: wait_for_jobs failed: %s; listening again in %.1fs", exc, delay)
                await anyio.sleep(delay)
                self._listen_backoff = min(self._listen_backoff * 2, ERROR_BACKOFF_MAX)
            else:
                self._subscribed = True
                self.ready.set()
                self._listen_backoff = ERROR_BACKOFF_MIN
                self._listens.ok()
            if self.idle:
                # The idle fetcher dequeues first and lets the forwarder look after that:
                # a pickup does not wait behind the forwarder's round trip.
                self._wake_pending = True
                self._wake.set()
            else:
                self._wake.set()
                if self.on_wake is not None:
                    self.on_wake()

    def _woken(self) -> None:
        if self._wake_pending:
            self._wake_pending = False
            if self.on_wake is not None:
                self.on_wake()

    async def run(self) -> None:
        await self.go.wait()
        while True:
            await self.inflight.wait_for_room()
            # A wake-up that arrives while dequeue runs must end the next idle wait, so
            # the event is renewed before the call, not after it.
            self._wake = anyio.Event()
            try:
                taken = await self.fetch_once()
            except QueueError as exc:
                self._woken()
                await self._broker_trouble(exc)
                continue
            self._woken()
            self._backoff = ERROR_BACKOFF_MIN
            self._dequeues.ok()
            if not taken:
                await self.idle_wait()

    async def fetch_once(self) -> int:
        """Dequeue for the free slots; starts an attempt per lease. Returns how many."""
        free = self.inflight.free
        leases: list[Lease] = []
        failure: QueueError | None = None
        # Shielded: a dequeue cut short could lease jobs we never hear of, and they would
        # sit active until their lease ran out.
        with anyio.move_on_after(self.lease_for, shield=True) as patience:
            for planned, count in self.order.plan(free):
                try:
                    await self._dequeue(planned, count, leases)
                except QueueError as exc:
                    failure = exc
                    break
        if patience.cancelled_caught and failure is None:
            # No answer within the lease (a frozen or paused broker): the broker is in
            # trouble, so we back off and try again (P8). Taking it for an empty queue
            # would wait for a notification, and an enqueue to a queue that is not empty
            # sends none: only the listener's idle timeout would wake us.
            failure = BrokerUnavailable(f"dequeue got no answer within {self.lease_for:g}s (the lease)")
        if failure is not None and not leases:
            raise failure
        if failure is not None:
            self.log.warning("fetcher: dequeue failed after taking %d job(s): %s", len(leases), failure)
        if len(leases) > free:
            self.log.error("broker returned %d leases for a limit of %d; requeueing the extra", len(leases), free)
            leases, extra = leases[:free], leases[free:]
            with anyio.CancelScope(shield=True):
                await self.requeue(extra)
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except anyio.get_cancelled_exc_class():
            # The worker started stopping while we dequeued: give the jobs straight back.
            with anyio.CancelScope(shield=True):
                await self.requeue(leases)
            raise
        suspect = next((lease for lease in leases if lease.record.crashes >= self.quarantine_at), None)
        if suspect is not None:
            return await self._quarantine(suspect, [lease for lease in leases if lease is not suspect])
        now = self.clock.now()
        for lease in leases:
            self.start(self.inflight.add(lease, now))
        return len(leases)

    async def _quarantine(self, suspect: Lease, others: list[Lease]) -> int:
        """Run ``suspect`` alone: a job on its last chance, whose next crash would archive
        it (its crashes reached ``quarantine_at``, the worker's ``max_crashes``). The jobs
        that came with it go back to the head of pending, it starts once the attempts
        running here have ended, and nothing starts beside it until it has ended. So a
        job is archived only for a crash that happened while it ran alone -- its own --
        and never for a poison job that ran beside it. The crashes before the last one
        need no such care: they only count, and a worker killed outright (a deploy, the
        OOM killer) leaves every job it ran with one, which must run again at once."""
        with anyio.CancelScope(shield=True):
            await self.requeue(others)
        record = suspect.record
        self.log.info(
            "job %s (%s) in %s: its worker died %d times while it ran; running it alone (one more crash archives it)",
            record.id, record.type, record.queue, record.crashes,
        )  # fmt: skip
        attempt = self.inflight.add(suspect, self.clock.now())
        try:
            await self.inflight.wait_until_at_most(1)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                self.inflight.discard(attempt)
                await self.requeue([suspect])
            raise
        self.start(attempt)
        await self.inflight.wait_empty()
        return 1

    async def _dequeue(self, planned: list[str], count: int, leases: list[Lease]) -> None:
        """Up to ``count`` jobs from the healthy ones of ``planned`` into ``leases``; a
        damaged queue is reported and left out, and the others are asked again."""
        while queues := self.trouble.damaged.healthy(planned):
            try:
                leases += await self.broker.dequeue(queues, self.clock.now(), self.lease_for, self.worker_id, count)
                return
            except QueueDamaged as exc:
                self.trouble.damaged.found(exc)

    async def idle_wait(self) -> None:
        """Wait until the listener or a nudge wakes us.

        A job enqueued between our empty dequeue and the listener's subscription is not
        missed: the listener wakes us once it has subscribed, and we look again.
        """
        self.idle = True
        try:
            await self._wake.wait()
        finally:
            self.idle = False

    async def _broker_trouble(self, exc: QueueError) -> None:
        delay = jittered(self._backoff)
        if not self._dequeues.failed(exc):
            self.log.warning("fetcher: dequeue failed: %s; retrying in %.1fs", exc, delay)
        await anyio.sleep(delay)
        self._backoff = min(self._backoff * 2, ERROR_BACKOFF_MAX)
