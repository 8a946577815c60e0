"""Group aggregation: check groups, stage members, reclaim stale staging sets."""

from __future__ import annotations

from queue_core import (
    JobRecord,
)
from queue_redis.base import BrokerBase, unsupported


class AggregationOps(BrokerBase):
    async def list_groups(self, queue: str) -> dict[str, int]:
        unsupported("list_groups")

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
        unsupported("aggregation_check")

    async def read_staged(self, queue: str, group: str, set_id: str) -> list[JobRecord]:
        unsupported("read_staged")

    async def delete_staged(self, queue: str, group: str, set_id: str) -> None:
        unsupported("delete_staged")

    async def reclaim_staged(self, queue: str, now: float) -> int:
        unsupported("reclaim_staged")
