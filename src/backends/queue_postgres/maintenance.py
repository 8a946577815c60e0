"""Idempotent background duties: forward due jobs, recover expired leases, purge."""

from __future__ import annotations

from collections.abc import Sequence

from queue_core import Recovery
from queue_postgres.base import BrokerBase

#: Most records purge_expired deletes per queue, cap and call.
PURGE_BATCH = 1000


class MaintenanceOps(BrokerBase):
    async def forward_due(self, queues: Sequence[str], now: float, limit: int = 1000) -> int:
        if not queues or limit <= 0:
            return 0
        return int(await self._call("forward_due", list(queues), now, limit))

    async def next_due(self, queues: Sequence[str]) -> float | None:
        if not queues:
            return None
        rows = await self._query(
            "SELECT min(x.due_at) FROM _qc_.jobs x WHERE x.queue = ANY(%s) AND x.state IN ('scheduled', 'retry')",
            list(queues),
        )
        return None if rows[0][0] is None else float(rows[0][0])

    async def recover_expired(self, queues: Sequence[str], now: float, max_crashes: int) -> Recovery:
        if not queues:
            return Recovery()
        reply = await self._call("recover_expired", list(queues), now, max_crashes)
        return Recovery(requeued=list(reply["requeued"]), archived=list(reply["archived"]))

    async def purge_expired(
        self, queues: Sequence[str], now: float, archive_max_size: int, archive_max_age: float
    ) -> int:
        if not queues:
            return 0
        args = (list(queues), now, archive_max_size, now - archive_max_age, PURGE_BATCH)
        return int(await self._call("purge_expired", *args))
