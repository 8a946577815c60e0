"""Group aggregation: check groups, stage members, commit or reclaim staging sets.

A group is its aggregating jobs (``jobs.grp``) not staged yet; a staging set is the jobs
whose ``staged`` column holds its id, with its deadline in ``staging``."""

from __future__ import annotations

import secrets

from queue_core import EnqueueOutcome, EnqueueStatus, Job, JobRecord
from queue_postgres import codec, snapshots
from queue_postgres.base import BrokerBase, Jsonb, entry_state

#: commit_staged's code for a set committed, reclaimed, expired or changed by an operator.
STALE = 3


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
        return [codec.record(row) for row in rows]

    async def commit_staged(self, queue: str, group: str, set_id: str, job: Job, now: float) -> EnqueueOutcome:
        job = job.with_options(queue=queue, group=None).with_id()
        assert job.job_id is not None
        state, due_at = entry_state(job, now)
        item = codec.job_item(job, state, due_at, now)
        code, detail = await self._call("commit_staged", queue, group, set_id, now, Jsonb(item), bytes(job.payload))
        if code == STALE:
            return EnqueueOutcome(job.job_id, queue, EnqueueStatus.STALE)
        return codec.outcome(job, state, int(code), str(detail))

    async def reclaim_staged(self, queue: str, now: float) -> int:
        return int(await self._call("reclaim_staged", queue, now))
