"""Cross-process coordination: heartbeats, claims, distributed rate limits, cancel notices."""

from __future__ import annotations

from queue_redis.base import BrokerBase, unsupported


class CoordinationOps(BrokerBase):
    async def put_heartbeat(self, kind: str, member_id: str, info: bytes, now: float, ttl: float) -> None:
        unsupported("put_heartbeat")

    async def remove_heartbeat(self, kind: str, member_id: str) -> None:
        unsupported("remove_heartbeat")

    async def list_heartbeats(self, kind: str, now: float) -> dict[str, bytes]:
        unsupported("list_heartbeats")

    async def claim(self, key: str, now: float, ttl: float) -> bool:
        unsupported("claim")

    async def take_tokens(self, key: str, rate: float, burst: int, now: float) -> float:
        unsupported("take_tokens")

    async def wait_for_cancel(self, timeout: float) -> list[str]:
        unsupported("wait_for_cancel")
