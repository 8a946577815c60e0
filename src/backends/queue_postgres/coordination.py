"""Cross-process coordination: heartbeats, claims, distributed rate limits, cancel notices
and event histories (tables of ``migrations/0002_coordination.sql``)."""

from __future__ import annotations

from queue_postgres.base import BrokerBase
from queue_postgres.listen import Subscription


class CoordinationMixin(BrokerBase):
    async def put_heartbeat(self, kind: str, member_id: str, info: bytes, now: float, ttl: float) -> None:
        await self._call("put_heartbeat", kind, member_id, bytes(info), now, ttl)

    async def remove_heartbeat(self, kind: str, member_id: str) -> None:
        await self._query("DELETE FROM _qc_.heartbeats WHERE kind = %s AND member_id = %s", kind, member_id)

    async def list_heartbeats(self, kind: str, now: float) -> dict[str, bytes]:
        rows = await self._rows("list_heartbeats", kind, now)
        return {member: bytes(info) for member, info in rows}

    async def claim(self, key: str, now: float, ttl: float) -> bool:
        return bool(await self._call("claim", key, now, ttl))

    async def take_tokens(self, key: str, rate: float, burst: int, now: float) -> float:
        return float(await self._call("take_tokens", key, now, float(rate), int(burst)))

    async def wait_for_cancel(self, timeout: float) -> list[str]:
        # request_cancel notifies one job id per notification on the schema's "cancel" channel.
        channel = self._channel("cancel")
        return await self._listener.wait("cancel", lambda: Subscription(channel, lambda payload: [payload]), timeout)

    async def record_event(self, stream: str, event: bytes, now: float, keep: int) -> None:
        await self._call("record_event", stream, bytes(event), now, int(keep))

    async def list_events(self, stream: str, limit: int) -> list[tuple[float, bytes]]:
        if limit <= 0:
            return []
        rows = await self._query(
            "SELECT at, event FROM _qc_.events WHERE stream = %s ORDER BY at DESC, event DESC LIMIT %s", stream, limit
        )
        return [(float(at), bytes(event)) for at, event in rows]
