"""Group aggregation: check groups, stage members, reclaim stale staging sets."""

from __future__ import annotations

from queue_core import JobRecord
from queue_redis import codec
from queue_redis.base import BrokerBase, unsupported
from queue_redis.scripts import script
from queue_redis.transport import Call


class AggregationOps(BrokerBase):
    async def list_groups(self, queue: str) -> dict[str, int]:
        keys = await self._require_queue(queue)
        [flat] = await self._transport.run([Call(script("groups"), [keys.groups], [keys.scope])])
        return {codec.text(name): int(size) for name, size in zip(flat[::2], flat[1::2], strict=True)}

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
