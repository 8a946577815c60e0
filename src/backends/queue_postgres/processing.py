"""Enqueue and the processing transitions: dequeue, settle, leases, results, wake-ups."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any

from queue_core import EnqueueOutcome, Job, Lease, Renewal, SettleKind, Settlement
from queue_postgres import codec
from queue_postgres.base import BrokerBase, Jsonb, entry_state
from queue_postgres.listen import Subscription

#: Jobs per enqueue call: one round trip each.
ENQUEUE_CHUNK = 500


class ProcessingOps(BrokerBase):
    async def enqueue(self, jobs: Sequence[Job], now: float) -> list[EnqueueOutcome]:
        return await self._store(jobs, now, atomic=False)

    async def enqueue_flow(self, jobs: Sequence[Job], now: float) -> list[EnqueueOutcome]:
        return await self._store(jobs, now, atomic=True)

    async def _store(self, jobs: Sequence[Job], now: float, *, atomic: bool) -> list[EnqueueOutcome]:
        """One call per chunk; a flow is one call, so its all-or-nothing check covers
        every job of each queue."""
        outcomes: list[EnqueueOutcome] = []
        step = max(len(jobs), 1) if atomic else ENQUEUE_CHUNK
        for start in range(0, len(jobs), step):
            chunk = jobs[start : start + step]
            args = self._enqueue_args(chunk, now, atomic)
            reply = await self._call("enqueue", *args)
            outcomes += self._enqueue_outcomes(chunk, now, reply)
        return outcomes

    def _enqueue_args(self, chunk: Sequence[Job], now: float, atomic: bool) -> tuple[Any, ...]:
        items, payloads = [], []
        for job in chunk:
            state, due_at = entry_state(job, now)
            items.append(codec.job_item(job, state, due_at, now))
            payloads.append(job.payload)
        return now, Jsonb(items), payloads, atomic

    @staticmethod
    def _enqueue_outcomes(chunk: Sequence[Job], now: float, reply: list[Any]) -> list[EnqueueOutcome]:
        return [
            codec.outcome(job, entry_state(job, now)[0], int(code), str(detail))
            for job, (code, detail) in zip(chunk, reply, strict=True)
        ]

    # ---- processing

    async def dequeue(
        self, queues: Sequence[str], now: float, lease_for: float, worker_id: str, limit: int
    ) -> list[Lease]:
        if not queues or limit <= 0:
            return []
        token_prefix = f"{worker_id}:{secrets.token_hex(6)}"
        expiry = now + lease_for
        rows = await self._rows("dequeue", list(queues), now, expiry, token_prefix, limit)
        return [Lease(codec.record(row), row[2], expiry) for row in rows]

    async def settle(self, settlements: Sequence[Settlement], now: float) -> list[bool]:
        if not settlements:
            return []
        items: list[dict[str, Any]] = []
        results: list[bytes | None] = []
        for s in settlements:
            item: dict[str, Any] = {"kind": s.kind.value, "queue": s.lease.queue, "id": s.lease.job_id}
            item["token"] = s.lease.token
            result = None
            if s.kind is SettleKind.COMPLETE:
                retention = s.lease.record.retention
                item["expires"] = now + retention if retention > 0 else None
                item["has_result"] = s.result is not None
                result = s.result
            elif s.kind is SettleKind.RETRY:
                item.update(retry_at=s.retry_at if s.retry_at is not None else now, error=s.error or "")
                item.update(failure=s.counts_as_failure, traceback=s.traceback)
            elif s.kind is SettleKind.ARCHIVE:
                item.update(error=s.error or "", release_unique=s.release_unique, traceback=s.traceback)
            items.append(item)
            results.append(result)
        reply = await self._call("settle", now, Jsonb(items), results)
        return [bool(settled) for settled in reply]

    async def extend_leases(self, leases: Sequence[Lease], now: float, lease_for: float) -> Renewal:
        if not leases:
            return Renewal()
        items = [[lease.queue, lease.job_id, lease.token] for lease in leases]
        reply = await self._call("extend_leases", now + lease_for, Jsonb(items))
        lost = [lease for lease, code in zip(leases, reply, strict=True) if code == 0]
        cancelled = [lease for lease, code in zip(leases, reply, strict=True) if code == 2]
        return Renewal(lost=lost, cancelled=cancelled)

    async def write_result(self, lease: Lease, result: bytes) -> bool:
        return bool(await self._call("write_result", lease.queue, lease.job_id, lease.token, result))

    # ---- wake-ups

    async def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        # One slot for every call, as the Redis driver's one subscription: it keeps (once
        # each) the queues of any call so far that may have work, and a call returns on any
        # of them (an early return is allowed; callers dequeue and wait again).
        self._waited_queues.update(queues)
        wanted = self._waited_queues
        channel = self._channel("jobs")
        await self._listener.wait("jobs", lambda: Subscription(channel, _keep_if(wanted), unique=True), timeout)

    async def wait_for_finished(self, queue: str, timeout: float) -> list[str]:
        def subscription() -> Subscription:
            return Subscription(self._channel("done"), _finished_in(queue))

        return await self._listener.wait(f"done:{queue}", subscription, timeout)


def _finished_in(queue: str) -> Callable[[str], list[str]]:
    """The ids a ``done`` payload ('<nonce> <queue> <id> ...') announces for ``queue``."""
    prefix = queue + " "

    def keep(payload: str) -> list[str]:
        _nonce, _, announced = payload.partition(" ")
        return announced[len(prefix) :].split() if announced.startswith(prefix) else []

    return keep


def _keep_if(queues: set[str]) -> Callable[[str], list[str]]:
    return lambda payload: [payload] if payload in queues else []
