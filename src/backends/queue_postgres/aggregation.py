"""Group aggregation: check groups, stage members, commit or reclaim staging sets.

A group is its aggregating jobs (``jobs.grp``) not staged yet; a staging set is the jobs
whose ``staged`` column holds its id, with its deadline in ``staging``."""

from __future__ import annotations

import json
import secrets
from typing import Any

from queue_core import EnqueueOutcome, EnqueueStatus, Job, JobRecord, JobState
from queue_postgres import snapshots
from queue_postgres.base import BrokerBase, Jsonb, entry_state

#: commit_staged's reply codes (enqueue.sql's, and 3 for a stale set).
_STATUSES = {1: EnqueueStatus.ID_CONFLICT, 2: EnqueueStatus.DUPLICATE, 3: EnqueueStatus.STALE}


def job_entry(job: Job, now: float) -> dict[str, Any]:
    """One element of enqueue.sql's jobs array (see its header); the payload goes apart."""
    assert job.job_id is not None
    state, due_at = entry_state(job, now)
    entry: dict[str, Any] = {
        "queue": job.queue,
        "id": job.job_id,
        "type": job.type,
        "max_retries": job.max_retries,
        "state": state.value,
        "due_at": None if due_at == now else due_at,
    }
    if job.timeout is not None:
        entry["timeout"] = job.timeout
    if job.deadline is not None:
        entry["deadline"] = job.deadline
    if job.retention:
        entry["retention"] = job.retention
    if job.group:
        entry["group"] = job.group
    if job.headers:
        entry["headers"] = json.dumps(dict(job.headers), separators=(",", ":"), sort_keys=True)
    if job.depends_on:
        entry["deps"] = list(job.depends_on)
        entry["dep_policy"] = job.on_dependency_failure
    if job.lock_key is not None and job.unique_for is not None:
        entry["unique"] = job.lock_key
        entry["unique_until"] = job.process_at(now) + job.unique_for
    return entry


class AggregationMixin(BrokerBase):
    async def list_groups(self, queue: str) -> dict[str, int]:
        await self._require_queue(queue)
        rows = await self._query(
            "SELECT grp, count(*) FROM _qc_.jobs WHERE queue = %s AND state = 'aggregating' AND staged IS NULL"
            " GROUP BY grp",
            queue,
        )
        return {group: int(size) for group, size in rows}

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
        set_id = secrets.token_hex(8)
        staged = await self._call(
            "aggregation_check", queue, group, now, grace, max_delay, max_size, now + stage_for, set_id
        )
        return str(staged) if staged else None

    async def read_staged(self, queue: str, group: str, set_id: str) -> list[JobRecord]:
        rows = await self._query(
            f"SELECT {snapshots.RECORD_COLUMNS} FROM _qc_.jobs"
            " WHERE queue = %s AND staged = %s AND grp = %s AND state = 'aggregating'"
            ' ORDER BY joined_at, id COLLATE "C"',
            queue,
            set_id,
            group,
        )
        return [snapshots.record(queue, row) for row in rows]

    async def commit_staged(self, queue: str, group: str, set_id: str, job: Job, now: float) -> EnqueueOutcome:
        job = job.with_options(queue=queue, group=None).with_id()
        assert job.job_id is not None
        code, detail = await self._call(
            "commit_staged", queue, group, set_id, now, Jsonb(job_entry(job, now)), bytes(job.payload)
        )
        if code == 0:
            state = JobState(detail) if detail else entry_state(job, now)[0]
            return EnqueueOutcome(job.job_id, queue, EnqueueStatus.ENQUEUED, state=state)
        if code == 4:
            return EnqueueOutcome(job.job_id, queue, EnqueueStatus.DEPENDENCY_MISSING, missing=detail)
        holder = detail or None if code == 2 else None
        return EnqueueOutcome(job.job_id, queue, _STATUSES[int(code)], holder=holder)

    async def reclaim_staged(self, queue: str, now: float) -> int:
        return int(await self._call("reclaim_staged", queue, now))
