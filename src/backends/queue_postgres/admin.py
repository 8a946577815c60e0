"""Operator actions: pause, resume, run / archive / delete jobs, delete queues, cancel.

Each single-job action is one ``operate_job`` call that checks the job's state and moves
it atomically; the allowed states come from ``queue_core.states`` so the errors name
them. Bulk actions run in batches (``operate_all``), each batch atomic, until the state
is drained.
"""

from __future__ import annotations

from collections.abc import Collection

from queue_core import GroupRequired, JobNotFound, JobState, OperationNotAllowed, QueueNotEmpty, QueueNotFound
from queue_core.states import ARCHIVABLE, CANCELLABLE, DELETABLE, GERUNDS, RUNNABLE, refuse
from queue_postgres.base import BrokerBase

#: Jobs moved per bulk call, so no single transaction holds many row locks for long.
BULK_BATCH = 500
#: no batch limit (an SQL integer) for waiting jobs: see ``_all``
WAITING_BATCH = 2**31 - 1


class AdminMixin(BrokerBase):
    async def pause(self, queue: str) -> bool:
        rows = await self._query(
            "INSERT INTO _qc_.paused (queue) VALUES (%s) ON CONFLICT DO NOTHING RETURNING 1", queue
        )
        return bool(rows)

    async def resume(self, queue: str) -> bool:
        rows = await self._query("DELETE FROM _qc_.paused WHERE queue = %s RETURNING 1", queue)
        return bool(rows)

    # ---- one job

    async def _one(self, action: str, allowed: Collection[JobState], queue: str, job_id: str, now: float) -> JobState:
        outcome, state = await self._call("operate_job", queue, job_id, action, now)
        if outcome == "no_queue":
            raise QueueNotFound(queue)
        if outcome == "missing":
            raise JobNotFound(queue, job_id)
        if outcome == "refused":
            refuse(action, queue, JobState(state), allowed, job_id)
        return JobState(state)

    async def run_job(self, queue: str, job_id: str, now: float) -> JobState:
        return await self._one("run", RUNNABLE, queue, job_id, now)

    async def archive_job(self, queue: str, job_id: str, now: float) -> JobState:
        return await self._one("archive", ARCHIVABLE, queue, job_id, now)

    async def delete_job(self, queue: str, job_id: str, now: float) -> JobState:
        return await self._one("delete", DELETABLE, queue, job_id, now)

    async def request_cancel(self, queue: str, job_id: str, now: float) -> JobState:
        return await self._one("cancel", CANCELLABLE, queue, job_id, now)

    # ---- all jobs of a state

    async def _all(
        self, action: str, allowed: frozenset[JobState], queue: str, state: JobState, now: float, group: str | None
    ) -> int:
        if state not in allowed:
            refuse(action, queue, state, allowed)
        # Only aggregating jobs have a group to pick: a group given with another state is ignored.
        if state is JobState.AGGREGATING:
            if not group:
                raise GroupRequired(GERUNDS[action])
        else:
            group = None
        # Waiting jobs go in one call: each one taken settles its dependents (released to
        # pending or cancelled), so a later batch would no longer find them waiting and the
        # action would stop part-way through a chain. One call ends like the protocol's one
        # atomic action.
        batch = WAITING_BATCH if state is JobState.WAITING else BULK_BATCH
        total = 0
        while True:
            taken = int(await self._call("operate_all", queue, state.value, group, action, now, batch))
            if taken < 0:
                raise QueueNotFound(queue)
            total += taken
            if taken < batch:
                return total

    async def run_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        return await self._all("run", RUNNABLE, queue, state, now, group)

    async def archive_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        return await self._all("archive", ARCHIVABLE, queue, state, now, group)

    async def delete_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        return await self._all("delete", DELETABLE, queue, state, now, group)

    # ---- queues

    async def delete_queue(self, queue: str, force: bool) -> None:
        outcome = await self._call("delete_queue", queue, force)
        if outcome == "missing":
            raise QueueNotFound(queue)
        if outcome == "active":
            raise OperationNotAllowed(f"cannot delete queue {queue!r}: jobs are active; cancel them or wait")
        if outcome == "not_empty":
            raise QueueNotEmpty(f"queue {queue!r} still has jobs; delete them first or pass force=True", queue=queue)
