"""Operator actions: pause, resume, run / archive / delete jobs, delete queues, cancel.

Each single-job action is one script that checks the job's state and moves it
atomically; the allowed states come from ``queue_core.states`` so the errors name them.
Bulk actions run in batches, each batch atomic, until the container is drained.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from queue_core import GroupRequired, JobNotFound, JobState, OperationNotAllowed, QueueNotEmpty
from queue_core.states import ARCHIVABLE, CANCELLABLE, DELETABLE, GERUNDS, RUNNABLE, refuse
from queue_redis import codec
from queue_redis.base import BrokerBase
from queue_redis.keys import QueueKeys
from queue_redis.scripts import script
from queue_redis.wire.transport import Call

#: Jobs moved per bulk script call, so no single call blocks Redis for long.
BULK_BATCH = 500


class AdminOps(BrokerBase):
    async def pause(self, queue: str) -> bool:
        [changed] = await self._transport.execute([("SET", self._queue(queue).paused, "1", "NX")])
        return bool(changed)

    async def resume(self, queue: str) -> bool:
        [removed] = await self._transport.execute([("DEL", self._queue(queue).paused)])
        return bool(removed)

    # ---- one job

    def _job_call(self, name: str, keys: QueueKeys, job_id: str, *extra: Any) -> Call:
        containers = [keys.pending, keys.scheduled, keys.retry, keys.archived, keys.completed, keys.groups]
        return Call(script(name), containers, [keys.scope, job_id, *extra])

    async def _one(self, action: str, allowed: Collection[JobState], queue: str, job_id: str, *extra: Any) -> list[Any]:
        keys = await self._require_queue(queue)
        [reply] = await self._transport.run([self._job_call(action.replace(" ", "_"), keys, job_id, *extra)])
        code, state = codec.text(reply[0]), codec.text(reply[1])
        if code == "missing":
            raise JobNotFound(queue, job_id)
        if code == "refused":
            refuse(action.split("_")[0], queue, JobState(state), allowed, job_id)
        if code == "malformed":
            verb = action.split("_")[0]
            raise OperationNotAllowed(
                f"cannot {verb} job {job_id!r} in queue {queue!r}: its record is damaged ({state}); "
                "it can be: archive, delete",
                action=verb,
                allowed_actions=("archive", "delete"),
                queue=queue,
                job_id=job_id,
            )
        return list(reply)

    async def run_job(self, queue: str, job_id: str, now: float) -> JobState:
        reply = await self._one("run_job", RUNNABLE, queue, job_id, codec.num(now), self._queue(queue).notify_channel)
        if reply[2] == 1:
            self._wake(queue)
        return JobState(codec.text(reply[1]))

    async def archive_job(self, queue: str, job_id: str, now: float) -> JobState:
        reply = await self._one("archive_job", ARCHIVABLE, queue, job_id, codec.num(now))
        return JobState(codec.text(reply[1]))

    async def delete_job(self, queue: str, job_id: str, now: float) -> JobState:
        reply = await self._one("delete_job", DELETABLE, queue, job_id, codec.num(now))
        return JobState(codec.text(reply[1]))

    async def request_cancel(self, queue: str, job_id: str, now: float) -> JobState:
        channel = self._keys.cancel_channel
        reply = await self._one("cancel", CANCELLABLE, queue, job_id, codec.num(now), channel)
        if reply[2] == 1:
            self._published(channel, job_id.encode())
        return JobState(codec.text(reply[1]))

    # ---- all jobs of a state

    def _source(self, keys: QueueKeys, state: JobState, group: str | None) -> tuple[str, str]:
        """The container of ``state`` and whether it is a 'list' or a 'zset'."""
        if state is JobState.PENDING:
            return keys.pending, "list"
        if state is JobState.AGGREGATING:
            assert group is not None
            return keys.group(group), "zset"
        return getattr(keys, state.value), "zset"

    def _check_bulk(
        self, action: str, queue: str, state: JobState, allowed: frozenset[JobState], group: str | None
    ) -> str | None:
        """The group the bulk script may touch: only aggregating jobs have one (a group
        passed along with another state must not reach the script, which would drop it
        from the queue's groups once the source container is empty)."""
        if state not in allowed:
            refuse(action, queue, state, allowed)
        if state is not JobState.AGGREGATING:
            return None
        if not group:
            raise GroupRequired(GERUNDS[action])
        return group

    async def _drain(self, make_call: Any) -> tuple[int, bool]:
        total, woke = 0, False
        while True:
            [reply] = await self._transport.run([make_call()])
            moved, notified = (reply[0], reply[1]) if isinstance(reply, list) else (reply, 0)
            total += int(moved)
            woke = woke or notified == 1
            if int(moved) < BULK_BATCH:
                return total, woke

    async def run_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        group = self._check_bulk("run", queue, state, RUNNABLE, group)
        keys = await self._require_queue(queue)
        source, _ = self._source(keys, state, group)
        args = [keys.scope, codec.num(now), BULK_BATCH, group or "", keys.notify_channel]
        total, woke = await self._drain(lambda: Call(script("run_all"), [source, keys.pending, keys.groups], args))
        if woke:
            self._wake(queue)
        return total

    async def archive_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        group = self._check_bulk("archive", queue, state, ARCHIVABLE, group)
        keys = await self._require_queue(queue)
        source, kind = self._source(keys, state, group)
        args = [keys.scope, codec.num(now), BULK_BATCH, kind, group or ""]
        total, _ = await self._drain(lambda: Call(script("archive_all"), [source, keys.archived, keys.groups], args))
        return total

    async def delete_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        group = self._check_bulk("delete", queue, state, DELETABLE, group)
        keys = await self._require_queue(queue)
        source, kind = self._source(keys, state, group)
        args = [keys.scope, BULK_BATCH, kind, group or "", codec.num(now)]
        total, _ = await self._drain(lambda: Call(script("delete_all"), [source, keys.groups], args))
        return total

    # ---- queues

    async def delete_queue(self, queue: str, force: bool) -> None:
        keys = await self._require_queue(queue)
        call = Call(
            script("delete_queue"),
            [
                keys.pending,
                keys.active,
                keys.scheduled,
                keys.retry,
                keys.archived,
                keys.completed,
                keys.groups,
                keys.staging,
                keys.paused,
                keys.meta,
                keys.processed,
                keys.failed,
                keys.lease,
                keys.waiting,
            ],
            [keys.scope, "1" if force else "0"],
        )
        [reply] = await self._transport.run([call])
        outcome = codec.text(reply)
        if outcome == "active":
            raise OperationNotAllowed(f"cannot delete queue {queue!r}: jobs are active; cancel them or wait")
        if outcome == "not_empty":
            raise QueueNotEmpty(f"queue {queue!r} still has jobs; delete them first or pass force=True", queue=queue)
        await self._transport.execute([("SREM", self._keys.queues, queue)])
