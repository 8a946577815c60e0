"""Read-only views for the Manager: queues, stats, history, job snapshots."""

from __future__ import annotations

from typing import Any

from queue_core import (
    DailyStats,
    JobInfo,
    JobNotFound,
    JobState,
    OperationNotAllowed,
    QueueStats,
    ResultNotFound,
    validation,
)
from queue_redis import codec
from queue_redis.base import BrokerBase, utc_day
from queue_redis.scripts import script
from queue_redis.transport import Call


class InspectionOps(BrokerBase):
    async def list_queues(self) -> list[str]:
        [members] = await self._transport.execute([("SMEMBERS", self._keys.queues)])
        return sorted(codec.text(m) for m in members)

    async def queue_stats(self, queue: str, now: float) -> QueueStats:
        keys = await self._require_queue(queue)
        day = utc_day(now)
        call = Call(
            script("stats"),
            [
                keys.pending,
                keys.active,
                keys.scheduled,
                keys.retry,
                keys.archived,
                keys.completed,
                keys.groups,
                keys.paused,
                keys.processed,
                keys.failed,
                keys.processed_on(day),
                keys.failed_on(day),
            ],
            [keys.scope],
        )
        [reply] = await self._transport.run([call])
        counts = [int(value) for value in reply[:13]]
        since = codec.text(reply[13])
        return QueueStats(
            queue=queue,
            pending=counts[0],
            active=counts[1],
            scheduled=counts[2],
            retry=counts[3],
            archived=counts[4],
            completed=counts[5],
            aggregating=counts[6],
            groups=counts[7],
            paused=counts[8] == 1,
            processed_total=counts[9],
            failed_total=counts[10],
            processed_today=counts[11],
            failed_today=counts[12],
            latency=max(0.0, now - float(since)) if since else 0.0,
            timestamp=now,
        )

    async def daily_stats(self, queue: str, days: int, now: float) -> list[DailyStats]:
        keys = await self._require_queue(queue)
        dates = [utc_day(now - 86400 * i) for i in range(days)]
        commands: list[tuple[Any, ...]] = []
        for day in dates:
            commands += [("GET", keys.processed_on(day)), ("GET", keys.failed_on(day))]
        replies = await self._transport.execute(commands) if commands else []
        return [
            DailyStats(queue, day, int(replies[2 * i] or 0), int(replies[2 * i + 1] or 0))
            for i, day in enumerate(dates)
        ]

    async def job_info(self, queue: str, job_id: str, now: float) -> JobInfo:
        keys = self._queue(queue)
        fields, lease_score = await self._transport.execute(
            [("HGETALL", keys.job(job_id)), ("ZSCORE", keys.lease, job_id)]
        )
        if not fields:
            raise JobNotFound(queue, job_id)
        return codec.info(job_id, queue, fields, float(lease_score) if lease_score is not None else None)

    async def _job_fields(self, queue: str, job_id: str, field: str) -> bytes | None:
        [(state, value)] = await self._transport.execute([("HMGET", self._queue(queue).job(job_id), "state", field)])
        if state is None:
            raise JobNotFound(queue, job_id)
        return value  # type: ignore[no-any-return]

    async def job_payload(self, queue: str, job_id: str) -> bytes:
        return await self._job_fields(queue, job_id, "payload") or b""

    async def job_result(self, queue: str, job_id: str) -> bytes:
        result = await self._job_fields(queue, job_id, "result")
        if result is None:
            raise ResultNotFound(queue, job_id)
        return result

    async def list_jobs(
        self, queue: str, state: JobState, page: int, page_size: int, now: float, group: str | None = None
    ) -> list[JobInfo]:
        page, page_size = validation.page(page, page_size)
        keys = await self._require_queue(queue)
        if state is JobState.AGGREGATING:
            if not group:
                raise OperationNotAllowed(f"listing aggregating jobs of queue {queue!r} needs a group name")
            container, order = keys.group(validation.group_name(group)), "asc"
        elif state is JobState.PENDING:
            container, order = keys.pending, "pending"
        else:
            container, order = getattr(keys, state.value), "desc" if state is JobState.ARCHIVED else "asc"
        offset = (page - 1) * page_size
        call = Call(script("list_jobs"), [container, keys.lease], [keys.scope, order, offset, page_size])
        [reply] = await self._transport.run([call])
        infos = []
        for job_id, flat, lease in reply:
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            expiry = float(lease) if lease not in (b"", "") else None
            infos.append(codec.info(codec.text(job_id), queue, fields, expiry))
        return infos
