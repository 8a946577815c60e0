"""Firing one tick exactly once, whatever the number of scheduler processes.

Every scheduler that reaches a tick calls ``Firer.fire``:

1. **Claim** ``schedule:<id>:<tick>`` in the broker (``claim`` is first-caller-wins).
   The claim outlives any plausible downtime (``claim_ttl``), so neither a peer nor a
   scheduler restarted later fires the tick again.
2. The winner **enqueues** the job under a deterministic ID (schedule ID + tick): an
   enqueue retried after a broker error cannot add a second job, it finds the first one
   (an ID conflict, counted as success).
3. The winner **records** the fire in the schedule's history and calls the
   ``queue_core_schedule_fired`` hook (with the job ID, or with the error).

A claimer can die between steps 1 and 2. So every loser keeps an eye on the tick: after
``rescue_after`` seconds it looks for the fire in the history, and if it is not there,
the first loser to take the rescue claim enqueues the job itself (under the same ID).
The winner only tries to enqueue during the first half of that time, so a slow winner
and a rescuer do not both write. With ``rescue_after=None`` a tick whose claimer died is
lost (at most once for that crash window).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from queue_core import errors
from queue_core.broker import Broker, EnqueueStatus
from queue_core.clock import Clock
from queue_core.events import emit, stamped
from queue_core.scheduling._spec import Tick, tick_text, to_ms, to_seconds
from queue_core.scheduling.config import ScheduleEntry
from queue_core.scheduling.records import (
    HISTORY_KEEP,
    claim_key,
    decode_fire,
    encode_fire,
    fired_job_id,
    history_stream,
    rescue_key,
)

T = TypeVar("T")

#: claims live at least this long (and at least ten intervals of their schedule).
MIN_CLAIM_TTL = 24 * 3600.0
#: without rescue, how long the winner keeps retrying an enqueue the broker refused.
ENQUEUE_BUDGET = 30.0
_FIRST_BACKOFF = 0.1
_MAX_BACKOFF = 2.0


class Firer:
    """Claims, enqueues, records and announces ticks for one scheduler process."""

    def __init__(
        self,
        broker: Broker,
        clock: Clock,
        scheduler_id: str,
        log: logging.Logger,
        *,
        rescue_after: float | None,
        claim_ttl: float | None,
        current: Callable[[str], ScheduleEntry | None],
    ) -> None:
        self.broker = broker
        self.clock = clock
        self.scheduler_id = scheduler_id
        self.log = log
        self.rescue_after = rescue_after
        self.claim_ttl = claim_ttl
        #: the entry a schedule ID has now (None once it is gone): a rescue uses it.
        self.current = current

    async def fire(self, entry: ScheduleEntry, tick: Tick) -> None:
        """Fire ``tick`` if this process wins its claim; otherwise watch for a dead winner."""
        claimed_at = self.clock.now()
        budget = self.rescue_after / 2 if self.rescue_after is not None else ENQUEUE_BUDGET
        key = claim_key(entry.id, tick)
        try:
            won = await self._retrying(lambda: self.broker.claim(key, self.clock.now(), self._ttl(entry, tick)),
                                       claimed_at + budget)  # fmt: skip
        except errors.QueueError as exc:
            # Perhaps the claim was stored and only the reply was lost: the rescue
            # (if on) fires the tick when nobody recorded it.
            self.log.warning("schedule %s: cannot claim tick %s: %s", entry.id, tick_text(tick), exc,
                             extra={"schedule_id": entry.id})  # fmt: skip
            won = False
        if won:
            await self._enqueue(entry, tick, deadline=claimed_at + budget)
        elif self.rescue_after is not None:
            await self._watch(entry.id, tick, self.clock.now() + self.rescue_after)

    # ----------------------------------------------------------------- winner

    async def _enqueue(self, entry: ScheduleEntry, tick: Tick, deadline: float) -> None:
        job_id = fired_job_id(entry.id, tick)
        job = entry.job.with_options(
            job_id=job_id, headers={**entry.job.headers, "schedule_id": entry.id, "fire_time": tick_text(tick)}
        )
        job = stamped(job, "scheduler", self.log)
        error: errors.QueueError | None = None
        try:
            (outcome,) = await self._retrying(lambda: self.broker.enqueue([job], self.clock.now()), deadline)
        except errors.QueueError as exc:
            error = exc
        except BaseException as exc:
            emit("job_enqueue_failed", self.log, queue=job.queue, job_id=job_id, job_type=job.type, error=exc)
            raise
        else:
            if outcome.status is EnqueueStatus.DUPLICATE:
                held = f" (held by job {outcome.holder!r})" if outcome.holder else ""
                error = errors.DuplicateJob(
                    f"job {job_id!r} not enqueued: its unique lock in queue {job.queue!r} is taken{held}",
                    job_id=job_id, queue=job.queue, holder=outcome.holder,
                )  # fmt: skip
            elif outcome.status is EnqueueStatus.ENQUEUED:
                emit("job_enqueued", self.log, queue=job.queue, job_id=job_id, job_type=job.type)
            # ID_CONFLICT: an earlier attempt for this very tick stored the job already.
        if error is not None or outcome.status is EnqueueStatus.ID_CONFLICT:
            emit("job_enqueue_failed", self.log, queue=job.queue, job_id=job_id, job_type=job.type,
                 error=error or errors.JobIdConflict(f"job {job_id!r} was stored by an earlier attempt",
                                                     job_id=job_id, queue=job.queue))  # fmt: skip
        fired_id = None if error is not None else job_id
        await self._record(entry.id, tick, fired_id, error, deadline)
        extra = {"schedule_id": entry.id, "job_id": fired_id, "queue": job.queue, "job_type": job.type}
        if error is None:
            self.log.info("schedule %s fired for %s: job %s in queue %s", entry.id, tick_text(tick), job_id,
                          job.queue, extra=extra)  # fmt: skip
        else:
            self.log.error("schedule %s could not fire for %s: %s", entry.id, tick_text(tick), error, extra=extra)
        emit("schedule_fired", self.log, schedule_id=entry.id, fire_time=to_seconds(tick), job_id=fired_id, error=error)

    async def _record(
        self, schedule_id: str, tick: Tick, job_id: str | None, error: BaseException | None, deadline: float
    ) -> None:
        now = self.clock.now()
        event = encode_fire(schedule_id, tick, job_id, None if error is None else str(error), self.scheduler_id, now)
        stream = history_stream(schedule_id)
        try:
            await self._retrying(lambda: self.broker.record_event(stream, event, now, HISTORY_KEEP), deadline)
        except errors.QueueError as exc:
            self.log.warning("schedule %s: fire of %s not recorded in its history: %s", schedule_id,
                             tick_text(tick), exc, extra={"schedule_id": schedule_id})  # fmt: skip

    # ----------------------------------------------------------------- losers

    async def _watch(self, schedule_id: str, tick: Tick, check_at: float) -> None:
        await self.clock.sleep_until(check_at)
        entry = self.current(schedule_id)
        if entry is None:
            return
        try:
            if await self._recorded(entry, tick):
                return
            if not await self.broker.claim(rescue_key(schedule_id, tick), self.clock.now(), self._ttl(entry, tick)):
                return
        except errors.QueueError as exc:
            self.log.warning("schedule %s: cannot check tick %s: %s", schedule_id, tick_text(tick), exc,
                             extra={"schedule_id": schedule_id})  # fmt: skip
            return
        self.log.warning("schedule %s: tick %s was claimed but never fired (its scheduler stopped?); firing it now",
                         schedule_id, tick_text(tick), extra={"schedule_id": schedule_id})  # fmt: skip
        budget = self.rescue_after / 2 if self.rescue_after is not None else ENQUEUE_BUDGET
        await self._enqueue(entry, tick, deadline=self.clock.now() + budget)

    async def _recorded(self, entry: ScheduleEntry, tick: Tick) -> bool:
        """Whether the history holds a fire of ``tick``. Also True when it cannot tell
        (the tick is too far back to be among the kept events): never fire twice."""
        newer, now_ms = 0, to_ms(self.clock.now())
        probe = tick
        while probe <= now_ms and newer < HISTORY_KEEP:
            probe = entry.spec.next_after(probe)
            newer += 1
        if newer >= HISTORY_KEEP:
            return True
        # A few spare places: rescues and catch-ups add events out of tick order.
        events = await self.broker.list_events(history_stream(entry.id), min(HISTORY_KEEP, newer + 16))
        for at, event in events:
            record = decode_fire(at, event)
            if record is not None and to_ms(record.fire_time) == tick:
                return True
        return False

    # ----------------------------------------------------------------- helpers

    def _ttl(self, entry: ScheduleEntry, tick: Tick) -> float:
        if self.claim_ttl is not None:
            return self.claim_ttl
        interval = to_seconds(entry.spec.next_after(tick) - tick)
        return max(MIN_CLAIM_TTL, 10 * interval)

    async def _retrying(self, call: Callable[[], Awaitable[T]], deadline: float) -> T:
        """``call()``, again after a growing pause while the broker is unreachable, until
        ``deadline`` (on the scheduler's clock) has passed."""
        backoff = _FIRST_BACKOFF
        while True:
            try:
                return await call()
            except errors.BrokerUnavailable:
                now = self.clock.now()
                if now + backoff > deadline:
                    raise
                await self.clock.sleep_until(now + backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
