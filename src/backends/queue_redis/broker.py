"""The Redis driver: the reference implementation of queue-core's Broker protocol.

Every state transition is one Lua script (``lua/``) run atomically on the server; this
module only plans calls, batches them into round trips and decodes replies.
"""

from __future__ import annotations

import math
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio
import sniffio

from queue_core import (
    Capabilities,
    DailyStats,
    EnqueueOutcome,
    EnqueueStatus,
    InvalidBrokerURL,
    InvalidJobId,
    Job,
    JobInfo,
    JobNotFound,
    JobRecord,
    JobState,
    Lease,
    QueueNotFound,
    QueueStats,
    Recovery,
    Renewal,
    ResultNotFound,
    Settlement,
    SettleKind,
    Unsupported,
)
from queue_redis import codec
from queue_redis.keys import DEFAULT_PREFIX, STATS_TTL_SECONDS, GlobalKeys, QueueKeys
from queue_redis.scripts import script
from queue_redis.transport import AsyncioTransport, Call, ThreadTransport, Transport

#: Jobs per enqueue script call; one round trip carries all chunks.
ENQUEUE_CHUNK = 500
#: Most records purge.lua deletes per queue and call.
PURGE_BATCH = 1000

T = TypeVar("T")

REDIS_CAPABILITIES = Capabilities(name="redis", blocking_wait=True)


def utc_day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def _grouped(items: Sequence[T], key: Callable[[T], Any]) -> dict[Any, list[tuple[int, T]]]:
    """Items grouped by ``key``, each with its index, in first-seen order."""
    groups: dict[Any, list[tuple[int, T]]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[key(item)].append((index, item))
    return groups


class RedisBroker:
    """Broker over Redis (and, through ``queue_fakeredis``, over an in-process fakeredis)."""

    capabilities: Capabilities = REDIS_CAPABILITIES

    def __init__(
        self,
        transport: Transport,
        *,
        prefix: str = DEFAULT_PREFIX,
        capabilities: Capabilities | None = None,
    ) -> None:
        self._transport = transport
        self._keys = GlobalKeys(prefix)
        if capabilities is not None:
            self.capabilities = capabilities

    @classmethod
    def from_url(cls, url: str, *, prefix: str | None = None, **client_options: Any) -> RedisBroker:
        """Connect lazily to ``url`` (``redis://``, ``rediss://``, ``unix://``).

        ``prefix`` (or ``?prefix=`` in the URL) namespaces every key. Under asyncio the
        driver uses redis.asyncio; under trio, redis-py's sync client on threads.
        """
        url, url_prefix = _split_prefix(url)
        prefix = prefix or url_prefix or DEFAULT_PREFIX
        options: dict[str, Any] = {"socket_connect_timeout": 5, **client_options}
        try:
            if sniffio.current_async_library() == "asyncio":
                transport: Transport = AsyncioTransport(redis.asyncio.from_url(url, **options))
            else:
                transport = ThreadTransport(redis.from_url(url, **options))
        except ValueError as exc:
            raise InvalidBrokerURL("url", url, f"a redis://, rediss:// or unix:// URL ({exc})") from exc
        return cls(transport, prefix=prefix)

    # ------------------------------------------------------------------ lifecycle

    async def ping(self) -> None:
        await self._transport.execute([("PING",)])

    async def close(self) -> None:
        await self._transport.close()

    async def server_time(self) -> float:
        [(seconds, micros)] = await self._transport.execute([("TIME",)])
        return int(seconds) + int(micros) / 1_000_000

    def _queue(self, name: str) -> QueueKeys:
        return self._keys.queue(name)

    # ------------------------------------------------------------------ enqueue

    async def enqueue(self, jobs: Sequence[Job], now: float) -> list[EnqueueOutcome]:
        calls: list[Call] = []
        plan: list[tuple[str, list[tuple[int, Job]]]] = []
        for queue, members in _grouped(jobs, lambda job: job.queue).items():
            keys = self._queue(queue)
            for start in range(0, len(members), ENQUEUE_CHUNK):
                chunk = members[start : start + ENQUEUE_CHUNK]
                args: list[Any] = [keys.scope, codec.num(now), keys.notify_channel, len(chunk)]
                for _, job in chunk:
                    args.extend(self._job_args(keys, job, now))
                calls.append(Call(script("enqueue"), [keys.pending, keys.scheduled, keys.groups, keys.meta], args))
                plan.append((queue, chunk))
        replies = await self._transport.run(calls) if calls else []

        outcomes: list[EnqueueOutcome | None] = [None] * len(jobs)
        registrations: list[tuple[Any, ...]] = []
        for (queue, chunk), reply in zip(plan, replies, strict=True):
            if reply[0] == 1:
                registrations.append(("SADD", self._keys.queues, queue))
            if reply[1] == 1:
                self._transport.published(self._queue(queue).notify_channel)
            for position, (index, job) in enumerate(chunk):
                code, holder = reply[2 + 2 * position], codec.text(reply[3 + 2 * position])
                outcomes[index] = self._outcome(job, now, code, holder)
        if registrations:
            await self._transport.execute(registrations)
        return [outcome for outcome in outcomes if outcome is not None]

    def _job_args(self, keys: QueueKeys, job: Job, now: float) -> list[Any]:
        if job.job_id is None:
            raise InvalidJobId("job_id", None, "an ID on every job passed to Broker.enqueue (use Job.with_id())")
        state, due_at = _entry_state(job, now)
        lock_key, lock_ttl_ms = "", 0
        if job.lock_key is not None and job.unique_for is not None:
            lock_key = keys.unique(job.lock_key)
            lock_ttl_ms = max(1, math.ceil((due_at - now + job.unique_for) * 1000))
        return codec.job_args(job, state, due_at, lock_key, lock_ttl_ms, now)

    @staticmethod
    def _outcome(job: Job, now: float, code: int, holder: str) -> EnqueueOutcome:
        assert job.job_id is not None
        if code == 1:
            return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.ID_CONFLICT)
        if code == 2:
            return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.DUPLICATE, holder=holder or None)
        return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.ENQUEUED, state=_entry_state(job, now)[0])

    # ------------------------------------------------------------------ processing

    async def dequeue(
        self, queues: Sequence[str], now: float, lease_for: float, worker_id: str, limit: int
    ) -> list[Lease]:
        leases: list[Lease] = []
        token_prefix = f"{worker_id}:{secrets.token_hex(6)}"
        expiry = now + lease_for
        day = utc_day(now)
        for queue in queues:
            if len(leases) >= limit:
                break
            keys = self._queue(queue)
            call = Call(
                script("dequeue"),
                [
                    keys.pending,
                    keys.active,
                    keys.lease,
                    keys.paused,
                    keys.archived,
                    keys.processed,
                    keys.failed,
                    keys.processed_on(day),
                    keys.failed_on(day),
                ],
                [keys.scope, codec.num(now), codec.num(expiry), token_prefix, limit - len(leases), STATS_TTL_SECONDS],
            )
            [reply] = await self._transport.run([call])
            width = 2 + len(codec.RECORD_FIELDS)
            for start in range(0, len(reply), width):
                job_id, token = codec.text(reply[start]), codec.text(reply[start + 1])
                record = codec.record(job_id, queue, reply[start + 2 : start + width])
                leases.append(Lease(record, token, expiry))
        return leases

    async def settle(self, settlements: Sequence[Settlement], now: float) -> list[bool]:
        day = utc_day(now)
        calls: list[Call] = []
        plan: list[tuple[SettleKind, list[tuple[int, Settlement]]]] = []
        for (queue, kind), members in _grouped(settlements, lambda s: (s.lease.queue, s.kind)).items():
            calls.append(self._settle_call(self._queue(queue), kind, [s for _, s in members], now, day))
            plan.append((kind, members))
        replies = await self._transport.run(calls) if calls else []

        results = [False] * len(settlements)
        for (kind, members), reply in zip(plan, replies, strict=True):
            if kind is SettleKind.REQUEUE:
                if reply[0] == 1:
                    self._transport.published(self._queue(members[0][1].lease.queue).notify_channel)
                reply = reply[1:]
            for (index, _), settled in zip(members, reply, strict=True):
                results[index] = settled == 1
        return results

    def _settle_call(self, keys: QueueKeys, kind: SettleKind, items: list[Settlement], now: float, day: str) -> Call:
        head: list[Any] = [keys.scope, codec.num(now), STATS_TTL_SECONDS, len(items)]
        processed, failed = keys.processed_on(day), keys.failed_on(day)
        args: list[Any] = []
        if kind is SettleKind.COMPLETE:
            for s in items:
                retention = s.lease.record.retention
                expires = codec.num(now + retention) if retention > 0 else ""
                has_result = "1" if s.result is not None else "0"
                args += [s.lease.job_id, s.lease.token, expires, has_result, s.result or b""]
            return Call(script("complete"), [keys.active, keys.lease, keys.completed, keys.processed, processed], head + args)
        if kind is SettleKind.RETRY:
            for s in items:
                failure = "1" if s.counts_as_failure else "0"
                args += [s.lease.job_id, s.lease.token, codec.num(s.retry_at or now), s.error or "", failure]
            zkeys = [keys.active, keys.lease, keys.retry, keys.processed, keys.failed, processed, failed]
            return Call(script("retry"), zkeys, head + args)
        if kind is SettleKind.ARCHIVE:
            for s in items:
                args += [s.lease.job_id, s.lease.token, s.error or "", "1" if s.release_unique else "0"]
            zkeys = [keys.active, keys.lease, keys.archived, keys.processed, keys.failed, processed, failed]
            return Call(script("archive"), zkeys, head + args)
        if kind is SettleKind.REQUEUE:
            for s in items:
                args += [s.lease.job_id, s.lease.token]
            head[2] = keys.notify_channel
            return Call(script("requeue"), [keys.active, keys.lease, keys.pending], head + args)
        for s in items:
            args += [s.lease.job_id, s.lease.token]
        return Call(script("revoke"), [keys.active, keys.lease, keys.processed, processed], head + args)

    async def extend_leases(self, leases: Sequence[Lease], now: float, lease_for: float) -> Renewal:
        calls, plans = [], []
        for queue, members in _grouped(leases, lambda lease: lease.queue).items():
            keys = self._queue(queue)
            args: list[Any] = [keys.scope, codec.num(now + lease_for), len(members)]
            for _, lease in members:
                args += [lease.job_id, lease.token]
            calls.append(Call(script("extend"), [keys.lease], args))
            plans.append(members)
        replies = await self._transport.run(calls) if calls else []
        lost: list[str] = []
        cancelled: list[str] = []
        for members, reply in zip(plans, replies, strict=True):
            for (_, lease), code in zip(members, reply, strict=True):
                if code == 0:
                    lost.append(lease.job_id)
                elif code == 2:
                    cancelled.append(lease.job_id)
        return Renewal(lost=lost, cancelled=cancelled)

    async def write_result(self, lease: Lease, result: bytes) -> bool:
        keys = self._queue(lease.queue)
        [written] = await self._transport.run([Call(script("write_result"), [keys.job(lease.job_id)], [lease.token, result])])
        return bool(written == 1)

    async def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        await self._transport.wait_notify([self._queue(q).notify_channel for q in queues], timeout)

    # ------------------------------------------------------------------ maintenance

    async def forward_due(self, queues: Sequence[str], now: float, limit: int = 1000) -> int:
        moved = 0
        for queue in queues:
            if moved >= limit:
                break
            keys = self._queue(queue)
            call = Call(
                script("forward"),
                [keys.scheduled, keys.retry, keys.pending, keys.groups],
                [keys.scope, codec.num(now), limit - moved, keys.notify_channel],
            )
            [(count, notified)] = await self._transport.run([call])
            if notified == 1:
                self._transport.published(keys.notify_channel)
            moved += int(count)
        return moved

    async def next_due(self, queues: Sequence[str]) -> float | None:
        commands: list[tuple[Any, ...]] = []
        for queue in queues:
            keys = self._queue(queue)
            commands += [("ZRANGE", keys.scheduled, 0, 0, "WITHSCORES"), ("ZRANGE", keys.retry, 0, 0, "WITHSCORES")]
        replies = await self._transport.execute(commands) if commands else []
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
        replies = await self._transport.run(calls) if calls else []
        requeued: list[str] = []
        archived: list[str] = []
        for queue, (back, dead, notified) in zip(queues, replies, strict=True):
            requeued += [codec.text(i) for i in back]
            archived += [codec.text(i) for i in dead]
            if notified == 1:
                self._transport.published(self._queue(queue).notify_channel)
        return Recovery(requeued=requeued, archived=archived)

    async def purge_expired(
        self, queues: Sequence[str], now: float, archive_max_size: int, archive_max_age: float
    ) -> int:
        calls = []
        for queue in queues:
            keys = self._queue(queue)
            args = [keys.scope, codec.num(now), archive_max_size, codec.num(now - archive_max_age), PURGE_BATCH]
            calls.append(Call(script("purge"), [keys.completed, keys.archived], args))
        replies = await self._transport.run(calls) if calls else []
        return sum(int(deleted) for deleted in replies)

    # ------------------------------------------------------------------ inspection

    async def list_queues(self) -> list[str]:
        [members] = await self._transport.execute([("SMEMBERS", self._keys.queues)])
        return sorted(codec.text(m) for m in members)

    async def _require_queue(self, queue: str) -> QueueKeys:
        [known] = await self._transport.execute([("SISMEMBER", self._keys.queues, queue)])
        if not known:
            raise QueueNotFound(queue)
        return self._queue(queue)

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

    # ------------------------------------------------------------------ admin

    async def pause(self, queue: str) -> bool:
        [changed] = await self._transport.execute([("SET", self._queue(queue).paused, "1", "NX")])
        return bool(changed)

    async def resume(self, queue: str) -> bool:
        [removed] = await self._transport.execute([("DEL", self._queue(queue).paused)])
        return bool(removed)

    async def run_job(self, queue: str, job_id: str, now: float) -> JobState:
        _unsupported("run_job")

    async def archive_job(self, queue: str, job_id: str, now: float) -> JobState:
        _unsupported("archive_job")

    async def delete_job(self, queue: str, job_id: str, now: float) -> JobState:
        _unsupported("delete_job")

    async def run_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        _unsupported("run_all")

    async def archive_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        _unsupported("archive_all")

    async def delete_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        _unsupported("delete_all")

    async def delete_queue(self, queue: str, force: bool) -> None:
        _unsupported("delete_queue")

    async def request_cancel(self, queue: str, job_id: str, now: float) -> JobState:
        _unsupported("request_cancel")

    async def list_jobs(
        self, queue: str, state: JobState, page: int, page_size: int, now: float, group: str | None = None
    ) -> list[JobInfo]:
        _unsupported("list_jobs")

    # ------------------------------------------------------------------ aggregation

    async def list_groups(self, queue: str) -> dict[str, int]:
        _unsupported("list_groups")

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
        _unsupported("aggregation_check")

    async def read_staged(self, queue: str, group: str, set_id: str) -> list[JobRecord]:
        _unsupported("read_staged")

    async def delete_staged(self, queue: str, group: str, set_id: str) -> None:
        _unsupported("delete_staged")

    async def reclaim_staged(self, queue: str, now: float) -> int:
        _unsupported("reclaim_staged")

    # ------------------------------------------------------------------ coordination

    async def put_heartbeat(self, kind: str, member_id: str, info: bytes, now: float, ttl: float) -> None:
        _unsupported("put_heartbeat")

    async def remove_heartbeat(self, kind: str, member_id: str) -> None:
        _unsupported("remove_heartbeat")

    async def list_heartbeats(self, kind: str, now: float) -> dict[str, bytes]:
        _unsupported("list_heartbeats")

    async def claim(self, key: str, now: float, ttl: float) -> bool:
        _unsupported("claim")

    async def take_tokens(self, key: str, rate: float, burst: int, now: float) -> float:
        _unsupported("take_tokens")

    async def wait_for_cancel(self, timeout: float) -> list[str]:
        _unsupported("wait_for_cancel")


def _unsupported(operation: str) -> NoReturn:
    raise Unsupported(f"this driver does not offer {operation} yet (see its Capabilities.features)")


def _entry_state(job: Job, now: float) -> tuple[JobState, float]:
    """Where a job enters at enqueue time, and its due time."""
    due_at = job.process_at(now)
    if due_at > now:
        return JobState.SCHEDULED, due_at
    if job.group is not None:
        return JobState.AGGREGATING, now
    return JobState.PENDING, now


def _split_prefix(url: str) -> tuple[str, str | None]:
    """Take queue-core's own ``prefix`` query parameter out of a Redis URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((value for name, value in query if name == "prefix"), None)
    rest = urlencode([(name, value) for name, value in query if name != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix
