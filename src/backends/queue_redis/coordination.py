"""Cross-process coordination: heartbeats, claims, distributed rate limits, cancel notices.

These touch global keys (outside any queue's hash slot), so each uses single-key
commands only and stays valid on Redis Cluster.
"""

from __future__ import annotations

import math
from typing import Any

from queue_redis import codec
from queue_redis.base import BrokerBase
from queue_redis.scripts import script
from queue_redis.wire.transport import Call


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


class CoordinationOps(BrokerBase):
    async def put_heartbeat(self, kind: str, member_id: str, info: bytes, now: float, ttl: float) -> None:
        # The index's score (the caller's now + ttl) decides liveness; the info key's TTL
        # only collects it, a minute after, as for claims: Redis' clock judges nothing.
        await self._transport.execute(
            [
                ("SET", self._keys.heartbeat(kind, member_id), info, "PX", _ms(ttl) + 60_000),
                ("ZADD", self._keys.heartbeats(kind), codec.num(now + ttl), member_id),
            ]
        )

    async def remove_heartbeat(self, kind: str, member_id: str) -> None:
        await self._transport.execute(
            [("DEL", self._keys.heartbeat(kind, member_id)), ("ZREM", self._keys.heartbeats(kind), member_id)]
        )

    async def list_heartbeats(self, kind: str, now: float) -> dict[str, bytes]:
        index = self._keys.heartbeats(kind)
        _, members = await self._transport.execute(
            [("ZREMRANGEBYSCORE", index, "-inf", codec.num(now)), ("ZRANGE", index, 0, -1)]
        )
        names = [codec.text(m) for m in members]
        if not names:
            return {}
        # One GET per member (not MGET): the members' keys may live on different cluster slots.
        infos = await self._transport.execute([("GET", self._keys.heartbeat(kind, name)) for name in names])
        return {name: info for name, info in zip(names, infos, strict=True) if info is not None}

    async def claim(self, key: str, now: float, ttl: float) -> bool:
        # Redis keeps the key a minute longer than the claim, only to collect it later.
        args = [codec.num(now), codec.num(now + ttl), _ms(ttl) + 60_000]
        [claimed] = await self._transport.run([Call(script("claim"), [self._keys.claim(key)], args)])
        return bool(claimed == 1)

    async def take_tokens(self, key: str, rate: float, burst: int, now: float) -> float:
        args: list[Any] = [codec.num(now), codec.num(rate), burst]
        [wait] = await self._transport.run([Call(script("take_token"), [self._keys.rate(key)], args)])
        return float(wait)

    async def wait_for_cancel(self, timeout: float) -> list[str]:
        messages = await self._transport.listen("cancel", [self._keys.cancel_channel], timeout)
        return [codec.text(m) for m in messages]

    async def record_event(self, stream: str, event: bytes, now: float, keep: int) -> None:
        key = self._keys.events(stream)
        await self._transport.execute([("ZADD", key, codec.num(now), event), ("ZREMRANGEBYRANK", key, 0, -keep - 1)])

    async def list_events(self, stream: str, limit: int) -> list[tuple[float, bytes]]:
        if limit <= 0:
            return []  # ZREVRANGE 0 -1 would be the whole history
        [pairs] = await self._transport.execute([("ZREVRANGE", self._keys.events(stream), 0, limit - 1, "WITHSCORES")])
        return [(float(score), bytes(member)) for member, score in pairs]
