"""Idempotent background duties: forward due jobs, recover expired leases, purge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from queue_core import (
    DamagedData,
    QueueDamaged,
    Recovery,
)
from queue_redis import codec
from queue_redis.base import BrokerBase, utc_day
from queue_redis.keys import STATS_TTL_SECONDS
from queue_redis.scripts import script
from queue_redis.wire.transport import Call

#: Most records purge.lua deletes per queue and call.
PURGE_BATCH = 1000


class MaintenanceOps(BrokerBase):
    async def forward_due(self, queues: Sequence[str], now: float, limit: int = 1000) -> int:
        moved = 0
        damage: QueueDamaged | None = None
        for queue in queues:
            if moved >= limit:
                break
            keys = self._queue(queue)
            call = Call(
                script("forward"),
                [keys.scheduled, keys.retry, keys.pending, keys.groups],
                [keys.scope, codec.num(now), limit - moved, keys.notify_channel],
            )
            try:
                [(count, notified)] = await self._transport.run([call])
            except DamagedData as exc:
                damage = damage or await self._damaged(queue, exc)
                continue
            if notified == 1:
                self._wake(queue)
            moved += int(count)
        if damage is not None:
            raise damage
        return moved

    async def next_due(self, queues: Sequence[str]) -> float | None:
        commands: list[tuple[Any, ...]] = []
        for queue in queues:
            keys = self._queue(queue)
            commands += [("ZRANGE", keys.scheduled, 0, 0, "WITHSCORES"), ("ZRANGE", keys.retry, 0, 0, "WITHSCORES")]
        try:
            replies = await self._transport.execute(commands) if commands else []
        except DamagedData as exc:
            for queue in queues:
                keys = self._queue(queue)
                try:
                    await self._transport.execute([("ZCARD", keys.scheduled), ("ZCARD", keys.retry)])
                except DamagedData:
                    raise await self._damaged(queue, exc) from exc
            raise
        # redis-py parses ZRANGE WITHSCORES into [(member, score)] pairs.
        scores = [float(reply[0][1]) for reply in replies if reply]
        return min(scores, default=None)

    async def recover_expired(self, queues: Sequence[str], now: float, max_crashes: int) -> Recovery:
        day = utc_day(now)
        calls = []
        for queue in queues:
            keys = self._queue(queue)
            calls.append(
                Call(
                    script("recover"),
                    [
                        keys.active,
                        keys.lease,
                        keys.pending,
                        keys.archived,
                        keys.processed,
                        keys.failed,
                        keys.processed_on(day),
                        keys.failed_on(day),
                    ],
                    [keys.scope, codec.num(now), max_crashes, STATS_TTL_SECONDS, keys.notify_channel],
                )
            )
        replies = await self._run_per_queue(queues, calls)
        requeued: list[str] = []
        archived: list[str] = []
        for queue, (back, dead, notified) in zip(queues, replies, strict=True):
            requeued += [codec.text(i) for i in back]
            archived += [codec.text(i) for i in dead]
            if notified == 1:
                self._wake(queue)
        return Recovery(requeued=requeued, archived=archived)

    async def purge_expired(
        self, queues: Sequence[str], now: float, archive_max_size: int, archive_max_age: float
    ) -> int:
        calls = []
        for queue in queues:
            keys = self._queue(queue)
            args = [keys.scope, codec.num(now), archive_max_size, codec.num(now - archive_max_age), PURGE_BATCH]
            calls.append(Call(script("purge"), [keys.completed, keys.archived], args))
        replies = await self._run_per_queue(queues, calls)
        return sum(int(deleted) for deleted in replies)
