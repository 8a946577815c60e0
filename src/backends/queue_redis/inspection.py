"""Read-only views for the Manager: queues, stats, history, job snapshots."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from queue_core import (
    DailyStats,
    DamagedData,
    GroupRequired,
    JobInfo,
    JobNotFound,
    JobState,
    QueueStats,
    ResultNotFound,
    ServerReport,
    validation,
)
from queue_redis import codec, report
from queue_redis.base import BrokerBase, unsupported, utc_day
from queue_redis.scripts import script
from queue_redis.wire.transport import Call


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
                keys.waiting,
            ],
            [keys.scope],
        )
        try:
            [reply] = await self._transport.run([call])
        except DamagedData as exc:
            raise await self._damaged(queue, exc) from exc
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
            waiting=int(reply[14]),
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
        containers = [keys.pending, keys.active, keys.scheduled, keys.retry, keys.archived, keys.completed]
        call = Call(script("job_info"), [keys.job(job_id), keys.lease, *containers], [job_id])
        [(kind, flat, lease, held)] = await self._transport.run([call])
        kind = codec.text(kind)
        if kind == "none":
            raise JobNotFound(queue, job_id)
        if kind != "hash":
            return codec.damaged(job_id, queue, JobState(codec.text(held) or "archived"), kind)
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        return codec.info(job_id, queue, fields, float(lease) if lease not in (b"", "") else None)

    async def dependency_results(self, queue: str, job_id: str) -> dict[str, bytes]:
        [fields] = await self._transport.execute([("HGETALL", self._queue(queue).job(job_id))])
        if not fields:
            raise JobNotFound(queue, job_id)
        return codec.dependency_results(fields)

    async def job_dependents(self, queue: str, job_id: str) -> list[str]:
        keys = self._queue(queue)
        call = Call(script("dependents"), [keys.job(job_id), keys.dependents(job_id)], [keys.scope])
        [reply] = await self._transport.run([call])
        if reply == 0:
            raise JobNotFound(queue, job_id)
        return sorted(codec.text(member) for member in reply)

    async def _job_fields(self, queue: str, job_id: str, field: str) -> bytes | None:
        key = self._queue(queue).job(job_id)
        try:
            [(state, value)] = await self._transport.execute([("HMGET", key, "state", field)])
        except DamagedData as exc:
            raise DamagedData(
                f"job {job_id!r} in queue {queue!r} has a damaged record (its key is not a hash); delete or archive it"
            ) from exc
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

    async def memory_usage(self, queue: str, samples: int = 20) -> int:
        # MEMORY USAGE is not allowed in scripts on every Redis and is missing on fakeredis,
        # so this samples with plain commands in three round trips.
        if not self.capabilities.memory_usage:
            unsupported("memory_usage")
        keys = await self._require_queue(queue)
        lists = [keys.pending]
        zsets = [keys.active, keys.scheduled, keys.retry, keys.archived, keys.completed]
        fixed = [keys.lease, keys.groups, keys.staging, keys.meta, keys.paused, keys.processed, keys.failed]
        commands: list[tuple[Any, ...]] = [("SMEMBERS", keys.groups)]
        commands += [("MEMORY", "USAGE", key) for key in [*lists, *zsets, *fixed]]
        commands += [("LLEN", key) for key in lists] + [("ZCARD", key) for key in zsets]
        commands += [("LRANGE", key, 0, samples - 1) for key in lists]
        commands += [("ZRANGE", key, 0, samples - 1) for key in zsets]
        replies = await self._transport.execute(commands)
        groups = sorted(codec.text(g) for g in replies[0])
        containers = len(lists) + len(zsets)
        total = sum(int(size or 0) for size in replies[1 : 1 + containers + len(fixed)])
        counts = [int(n) for n in replies[1 + containers + len(fixed) : 1 + 2 * containers + len(fixed)]]
        sampled: list[list[bytes]] = list(replies[1 + 2 * containers + len(fixed) :])
        # Groups: up to five are sampled; their average stands in for the rest.
        looked_at = groups[:5]
        if looked_at:
            group_commands: list[tuple[Any, ...]] = []
            for group in looked_at:
                key = keys.group(group)
                group_commands += [("MEMORY", "USAGE", key), ("ZCARD", key), ("ZRANGE", key, 0, samples - 1)]
            group_replies = await self._transport.execute(group_commands)
            group_sizes = [int(size or 0) for size in group_replies[0::3]]
            total += sum(group_sizes) * len(groups) // len(looked_at)
            group_counts = [int(n) for n in group_replies[1::3]]
            counts.append(sum(group_counts) * len(groups) // len(looked_at))
            sampled.append([job_id for members in group_replies[2::3] for job_id in members][:samples])
        total += await self._sampled_jobs(keys.job, counts, sampled)
        return total

    async def _sampled_jobs(
        self, job_key: Callable[[str], str], counts: Sequence[int], sampled: Sequence[Sequence[bytes]]
    ) -> int:
        """Per container: the average size of its sampled job hashes times its count."""
        commands = [("MEMORY", "USAGE", job_key(codec.text(job_id))) for ids in sampled for job_id in ids]
        sizes = iter(await self._transport.execute(commands) if commands else [])
        total = 0
        for count, ids in zip(counts, sampled, strict=True):
            measured = [int(size) for size in (next(sizes) for _ in ids) if size is not None]
            if measured:
                total += sum(measured) * count // len(measured)
        return total

    async def server_info(self) -> ServerReport:
        """From ``INFO`` (of the node that answered, on Cluster); on Cluster also each
        queue's slot and nodes, from ``CLUSTER SLOTS``."""
        [info] = await self._transport.execute([("INFO",)])
        if not info.get("cluster_enabled"):
            return report.from_info(info)
        [queues, slots] = await self._transport.execute([("SMEMBERS", self._keys.queues), ("CLUSTER SLOTS",)])
        named = [(codec.text(queue), self._queue(codec.text(queue)).base) for queue in queues]
        return report.from_info(info, report.queue_locations(named, slots))

    async def list_jobs(
        self, queue: str, state: JobState, page: int, page_size: int, now: float, group: str | None = None
    ) -> list[JobInfo]:
        page, page_size = validation.page(page, page_size)
        keys = await self._require_queue(queue)
        if state is JobState.AGGREGATING:
            if not group:
                raise GroupRequired("listing")
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
            if codec.text(flat[0]) == "malformed":
                infos.append(codec.damaged(codec.text(job_id), queue, state, codec.text(flat[1])))
                continue
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            expiry = float(lease) if lease not in (b"", "") else None
            infos.append(codec.info(codec.text(job_id), queue, fields, expiry, held_in=state))
        return infos
