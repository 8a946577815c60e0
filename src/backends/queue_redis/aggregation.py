"""Group aggregation: check groups, stage members, commit or reclaim staging sets."""

from __future__ import annotations

import secrets

from queue_core import EnqueueOutcome, Job, JobRecord
from queue_redis import codec
from queue_redis.base import BrokerBase
from queue_redis.scripts import script
from queue_redis.wire.transport import Call


class AggregationOps(BrokerBase):
    async def list_groups(self, queue: str) -> dict[str, int]:
        keys = await self._require_queue(queue)
        [flat] = await self._transport.run([Call(script("groups"), [keys.groups], [keys.scope])])
        return {codec.text(name): int(size) for name, size in zip(flat[::2], flat[1::2], strict=True)}

    async def aggregation_check(
        self,
        queue: str,
        group: str,
        now: float,
        grace: float,
        max_delay: float | None,
        max_size: int | None,
        stage_for: float,
    ) -> str | None:
        keys = self._queue(queue)
        args = [
            keys.scope,
            group,
            codec.num(now),
            codec.num(grace),
            codec.num(max_delay),
            codec.num(max_size),
            codec.num(now + stage_for),
            secrets.token_hex(8),
        ]
        call = Call(script("aggregation_check"), [keys.group(group), keys.groups, keys.staging], args)
        [set_id] = await self._transport.run([call])
        return codec.text(set_id) or None

    async def read_staged(self, queue: str, group: str, set_id: str) -> list[JobRecord]:
        keys = self._queue(queue)
        [flat] = await self._transport.run(
            [Call(script("read_staged"), [keys.staged(group, set_id)], [keys.scope, set_id])]
        )
        width = 1 + len(codec.RECORD_FIELDS)
        return [codec.record(codec.text(flat[i]), queue, flat[i + 1 : i + width]) for i in range(0, len(flat), width)]

    async def commit_staged(self, queue: str, group: str, set_id: str, job: Job, now: float) -> EnqueueOutcome:
        keys = self._queue(queue)
        job = job.with_options(queue=queue, group=None).with_id()
        args = [keys.scope, group, set_id, codec.num(now), keys.notify_channel, *self._job_args(keys, job, now)]
        call = Call(
            script("commit_staged"),
            [keys.staged(group, set_id), keys.staging, keys.pending, keys.scheduled, keys.groups],
            args,
        )
        [(code, holder, notified)] = await self._transport.run([call])
        if notified == 1:
            self._wake(queue)
        return self._enqueue_outcome(job, now, int(code), codec.text(holder))

    async def reclaim_staged(self, queue: str, now: float) -> int:
        keys = self._queue(queue)
        call = Call(script("reclaim_staged"), [keys.staging, keys.groups], [keys.scope, codec.num(now)])
        [returned] = await self._transport.run([call])
        return int(returned)
