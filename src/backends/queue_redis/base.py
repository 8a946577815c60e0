"""What every part of the Redis broker shares: the transport, the key builder, helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from queue_core import (
    Capabilities,
    DamagedData,
    EnqueueOutcome,
    EnqueueStatus,
    InvalidJobId,
    Job,
    JobState,
    QueueDamaged,
    QueueNotFound,
)

# Shared by every driver; imported from here by this driver's modules.
from queue_core.drivers import entry_state as entry_state
from queue_core.drivers import grouped as grouped
from queue_core.drivers import unsupported as unsupported
from queue_core.drivers import utc_day as utc_day
from queue_redis import codec
from queue_redis.keys import GlobalKeys, QueueKeys
from queue_redis.wire.transport import Call, Transport


class BrokerBase:
    capabilities: Capabilities
    _transport: Transport
    _keys: GlobalKeys

    def _queue(self, name: str) -> QueueKeys:
        return self._keys.queue(name)

    async def _require_queue(self, queue: str) -> QueueKeys:
        """The queue's keys, or ``QueueNotFound`` when the queue is not registered."""
        [known] = await self._transport.execute([("SISMEMBER", self._keys.queues, queue)])
        if not known:
            raise QueueNotFound(queue)
        return self._queue(queue)

    async def _damaged(self, queue: str, exc: DamagedData) -> QueueDamaged:
        """``exc`` (a script of ``queue`` met a key of the wrong type) as ``QueueDamaged``
        naming the queue's keys that do not hold what they should."""
        keys = self._queue(queue)
        expected = {"pending": "list", "groups": "set"}
        names = ("pending", "active", "lease", "scheduled", "retry", "archived", "completed", "groups")
        try:
            kinds = await self._transport.execute([("TYPE", getattr(keys, name)) for name in names])
        except Exception:  # the reason is a courtesy: never hide the damage behind it
            kinds = []
        wrong = [
            f"{getattr(keys, name)} holds a {codec.text(kind)}, not a {expected.get(name, 'zset')}"
            for name, kind in zip(names, kinds, strict=False)
            if codec.text(kind) not in ("none", expected.get(name, "zset"))
        ]
        return QueueDamaged(queue, "; ".join(wrong) or str(exc))

    async def _run_per_queue(self, queues: Sequence[str], calls: Sequence[Call]) -> list[Any]:
        """One idempotent script call per queue, in one round trip. When a queue's keys
        are damaged the calls are run again one by one (the pipeline ran the healthy ones
        already; running them again is harmless) to find it, and ``QueueDamaged`` is
        raised for the first damaged queue once every healthy one was served."""
        try:
            return await self._transport.run(calls) if calls else []
        except DamagedData:
            pass
        damage: QueueDamaged | None = None
        for queue, call in zip(queues, calls, strict=True):
            try:
                await self._transport.run([call])
            except DamagedData as exc:
                damage = damage or await self._damaged(queue, exc)
        raise damage or DamagedData("a key of the wrong type, gone when looked at again")

    def _wake(self, queue: str) -> None:
        """A script published on the queue's notify channel; let in-process waiters know."""
        self._published(self._queue(queue).notify_channel, b"1")

    def _published(self, channel: str, data: bytes) -> None:
        """A script just published ``data`` on ``channel``. A Redis server delivers it to
        the subscribers itself; the in-process driver (memory://) does it here."""

    def _job_args(self, keys: QueueKeys, job: Job, now: float) -> list[Any]:
        if job.job_id is None:
            raise InvalidJobId("job_id", None, "an ID on every job passed to Broker.enqueue (use Job.with_id())")
        state, due_at = entry_state(job, now)
        lock_key, lock_until = "", None
        if job.lock_key is not None and job.unique_for is not None:
            lock_key = keys.unique(job.lock_key)
            # The lock runs from the job's process time: a schedule_at in the past may
            # leave it already free (docs/broker-protocol.md, enqueue).
            lock_until = job.process_at(now) + job.unique_for
        return codec.job_args(job, state, due_at, lock_key, lock_until, now)

    @staticmethod
    def _outcome(job: Job, now: float, code: int, holder: str) -> EnqueueOutcome:
        assert job.job_id is not None
        if code == 1:
            return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.ID_CONFLICT)
        if code == 2:
            return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.DUPLICATE, holder=holder or None)
        if code == 4:
            return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.DEPENDENCY_MISSING, missing=holder)
        if code == 5:
            return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.FLOW_REJECTED)
        # the script names the state when the job's dependencies decided it
        state = JobState(holder) if holder else entry_state(job, now)[0]
        return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.ENQUEUED, state=state)

    def _enqueue_outcome(self, job: Job, now: float, code: int, holder: str) -> EnqueueOutcome:
        """Decode a ``store_job`` code (see _common.lua) into an outcome."""
        assert job.job_id is not None
        if code == 1:
            return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.ID_CONFLICT)
        if code == 2:
            return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.DUPLICATE, holder=holder or None)
        if code == 3:
            return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.STALE)
        return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.ENQUEUED, state=entry_state(job, now)[0])
