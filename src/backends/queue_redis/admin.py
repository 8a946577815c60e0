"""Operator actions: pause, resume, run / archive / delete jobs, delete queues, cancel."""

from __future__ import annotations

from queue_core import (
    JobInfo,
    JobState,
)
from queue_redis.base import BrokerBase, unsupported


class AdminOps(BrokerBase):
    async def pause(self, queue: str) -> bool:
        [changed] = await self._transport.execute([("SET", self._queue(queue).paused, "1", "NX")])
        return bool(changed)

    async def resume(self, queue: str) -> bool:
        [removed] = await self._transport.execute([("DEL", self._queue(queue).paused)])
        return bool(removed)

    async def run_job(self, queue: str, job_id: str, now: float) -> JobState:
        unsupported("run_job")

    async def archive_job(self, queue: str, job_id: str, now: float) -> JobState:
        unsupported("archive_job")

    async def delete_job(self, queue: str, job_id: str, now: float) -> JobState:
        unsupported("delete_job")

    async def run_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        unsupported("run_all")

    async def archive_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        unsupported("archive_all")

    async def delete_all(self, queue: str, state: JobState, now: float, group: str | None = None) -> int:
        unsupported("delete_all")

    async def delete_queue(self, queue: str, force: bool) -> None:
        unsupported("delete_queue")

    async def request_cancel(self, queue: str, job_id: str, now: float) -> JobState:
        unsupported("request_cancel")

    async def list_jobs(
        self, queue: str, state: JobState, page: int, page_size: int, now: float, group: str | None = None
    ) -> list[JobInfo]:
        unsupported("list_jobs")
