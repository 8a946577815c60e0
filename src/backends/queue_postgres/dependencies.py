"""Reads of the workflow links: results copied from dependencies, and dependents.
(Release itself is part of each dependency's transition: sql/_common.sql.)"""

from __future__ import annotations

from queue_core import JobNotFound
from queue_postgres.base import BrokerBase


class DependencyOps(BrokerBase):
    async def dependency_results(self, queue: str, job_id: str) -> dict[str, bytes]:
        rows = await self._query(
            "SELECT r.dep_id, r.result FROM _qc_.jobs x"
            " LEFT JOIN _qc_.dependency_results r ON r.queue = x.queue AND r.job_id = x.id"
            " WHERE x.queue = %s AND x.id = %s",
            queue,
            job_id,
        )
        if not rows:
            raise JobNotFound(queue, job_id)
        return {dep: bytes(result) for dep, result in rows if dep is not None}

    async def job_dependents(self, queue: str, job_id: str) -> list[str]:
        rows = await self._query(
            "SELECT w.id FROM _qc_.jobs x"
            " LEFT JOIN _qc_.dependents n ON n.queue = x.queue AND n.dep_id = x.id"
            " LEFT JOIN _qc_.jobs w ON w.queue = n.queue AND w.id = n.job_id AND w.state = 'waiting'"
            " WHERE x.queue = %s AND x.id = %s",
            queue,
            job_id,
        )
        if not rows:
            raise JobNotFound(queue, job_id)
        return sorted(dependent for (dependent,) in rows if dependent is not None)
