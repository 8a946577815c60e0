"""Enqueue and the processing transitions: dequeue, settle, leases, results, wake-ups."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Sequence
from typing import Any

from queue_core import (
    DamagedData,
    EnqueueOutcome,
    Job,
    Lease,
    Renewal,
    SettleKind,
    Settlement,
)
from queue_redis import codec
from queue_redis.base import BrokerBase, grouped, utc_day
from queue_redis.keys import STATS_TTL_SECONDS, QueueKeys
from queue_redis.scripts import script
from queue_redis.wire.transport import Call

#: Jobs per enqueue script call; one round trip carries all chunks.
ENQUEUE_CHUNK = 500


@functools.lru_cache(maxsize=1024)
def _enqueue_keys(prefix: str, queue: str) -> tuple[QueueKeys, tuple[str, ...]]:
    """A queue's keys and enqueue.lua's KEYS, built once per queue (not per enqueue)."""
    keys = QueueKeys(prefix, queue)
    return keys, (keys.pending, keys.scheduled, keys.groups, keys.meta)


class ProcessingOps(BrokerBase):
    async def enqueue(self, jobs: Sequence[Job], now: float) -> list[EnqueueOutcome]:
        return await self._store(jobs, now, atomic=False)

    async def enqueue_flow(self, jobs: Sequence[Job], now: float) -> list[EnqueueOutcome]:
        return await self._store(jobs, now, atomic=True)

    async def _store(self, jobs: Sequence[Job], now: float, *, atomic: bool) -> list[EnqueueOutcome]:
        """One script call per chunk of a queue's jobs; a flow is one call per queue, so
        its all-or-nothing check covers every job of the queue."""
        calls: list[Call] = []
        plan: list[tuple[str, list[tuple[int, Job]]]] = []
        enqueue = script("enqueue")
        for queue, members in grouped(jobs, lambda job: job.queue).items():
            keys, script_keys = _enqueue_keys(self._keys.prefix, queue)
            step = len(members) if atomic else ENQUEUE_CHUNK
            for start in range(0, len(members), step):
                chunk = members[start : start + step]
                args: list[Any] = [keys.scope, codec.num(now), keys.notify_channel, len(chunk), "1" if atomic else "0"]
                for _, job in chunk:
                    args.extend(self._job_args(keys, job, now))
                calls.append(Call(enqueue, script_keys, args))
                plan.append((queue, chunk))
        replies = await self._transport.run(calls) if calls else []

        outcomes: list[EnqueueOutcome | None] = [None] * len(jobs)
        registrations: list[tuple[Any, ...]] = []
        for (queue, chunk), reply in zip(plan, replies, strict=True):
            if reply[0] == 1:
                registrations.append(("SADD", self._keys.queues, queue))
            if reply[1] == 1:
                self._wake(queue)
            for position, (index, job) in enumerate(chunk):
                code, holder = reply[2 + 2 * position], codec.text(reply[3 + 2 * position])
                outcomes[index] = self._outcome(job, now, code, holder)
        if registrations:
            await self._transport.execute(registrations)
        return [outcome for outcome in outcomes if outcome is not None]

    # ---- processing

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
            try:
                [reply] = await self._transport.run([call])
            except DamagedData as exc:
                # Jobs leased from earlier queues are returned (they must not be stranded);
                # the damage is raised when it is all this call met.
                if leases:
                    break
                raise await self._damaged(queue, exc) from exc
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
        for (queue, kind), members in grouped(settlements, lambda s: (s.lease.queue, s.kind)).items():
            calls.append(self._settle_call(self._queue(queue), kind, [s for _, s in members], now, day))
            plan.append((kind, members))
        replies = await self._transport.run(calls) if calls else []

        results = [False] * len(settlements)
        for (kind, members), reply in zip(plan, replies, strict=True):
            if kind is not SettleKind.RETRY:  # the others lead with whether they woke workers
                if reply[0] == 1:
                    self._wake(members[0][1].lease.queue)
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
                if s.result is None:
                    args += [s.lease.job_id, s.lease.token, expires, "0"]
                else:
                    args += [s.lease.job_id, s.lease.token, expires, "1", s.result]
            return Call(
                script("complete"), [keys.active, keys.lease, keys.completed, keys.processed, processed], head + args
            )
        if kind is SettleKind.RETRY:
            for s in items:
                failure = "1" if s.counts_as_failure else "0"
                args += [s.lease.job_id, s.lease.token, codec.num(s.retry_at or now), s.error or "", failure]
                args.append(s.traceback or "")
            zkeys = [keys.active, keys.lease, keys.retry, keys.processed, keys.failed, processed, failed]
            return Call(script("retry"), zkeys, head + args)
        if kind is SettleKind.ARCHIVE:
            for s in items:
                args += [s.lease.job_id, s.lease.token, s.error or "", "1" if s.release_unique else "0"]
                args.append(s.traceback or "")
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
        for queue, members in grouped(leases, lambda lease: lease.queue).items():
            keys = self._queue(queue)
            args: list[Any] = [keys.scope, codec.num(now + lease_for), len(members)]
            for _, lease in members:
                args += [lease.job_id, lease.token]
            calls.append(Call(script("extend"), [keys.lease], args))
            plans.append(members)
        replies = await self._transport.run(calls) if calls else []
        lost: list[Lease] = []
        cancelled: list[Lease] = []
        for members, reply in zip(plans, replies, strict=True):
            for (_, lease), code in zip(members, reply, strict=True):
                if code == 0:
                    lost.append(lease)
                elif code == 2:
                    cancelled.append(lease)
        return Renewal(lost=lost, cancelled=cancelled)

    async def write_result(self, lease: Lease, result: bytes) -> bool:
        keys = self._queue(lease.queue)
        [written] = await self._transport.run(
            [Call(script("write_result"), [keys.job(lease.job_id)], [lease.token, result])]
        )
        return bool(written == 1)

    async def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        await self._transport.listen("jobs", [self._queue(q).notify_channel for q in queues], timeout)

    async def wait_for_finished(self, queue: str, timeout: float) -> list[str]:
        # One subscription per queue: a waiter for another queue never has to interrupt
        # this one to add its channel.
        channel = self._queue(queue).finished_channel
        messages = await self._transport.listen(f"finished:{queue}", [channel], timeout)
        return [job_id for message in messages for job_id in codec.text(message).split()]
