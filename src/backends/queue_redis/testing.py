"""The optional testing interface (``queue_core.BrokerTestHooks``): crash windows and the
storage footprint, for the conformance kit. Never called by the core."""

from __future__ import annotations

import re

from queue_core import Footprint
from queue_redis import codec
from queue_redis.base import BrokerBase, unsupported
from queue_redis.scripts import script
from queue_redis.wire.transport import Call

#: PTTL's answer for a key that exists and has no expiry.
NO_EXPIRY = -1


class TestingOps(BrokerBase):
    async def lose_lease(self, queue: str, job_id: str) -> bool:
        self._require_testing("lose_lease")
        keys = self._queue(queue)
        [lost] = await self._transport.run([Call(script("lose_lease"), [keys.lease], [keys.scope, job_id])])
        return int(lost) == 1

    async def footprint(self) -> Footprint:
        self._require_testing("footprint")
        prefix = self._keys.prefix
        # KEYS walks the whole keyspace and blocks the server meanwhile: acceptable on the
        # throwaway database tests run against, which is all this interface is for.
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + ":*"
        [found] = await self._transport.execute([("KEYS", pattern)])
        names = sorted(codec.text(key) for key in found)
        ttls = await self._transport.execute([("PTTL", name) for name in names]) if names else []
        # A key that vanished between the two calls (its TTL ran out) is not reported.
        kept = [(name, int(ttl)) for name, ttl in zip(names, ttls, strict=True) if int(ttl) != -2]
        relative = {name: name[len(prefix) + 1 :] for name, _ in kept}
        return Footprint(
            items={relative[name]: 1 for name, _ in kept},
            persistent=frozenset(relative[name] for name, ttl in kept if ttl == NO_EXPIRY),
        )

    def _require_testing(self, operation: str) -> None:
        if "testing" not in self.capabilities.features:
            unsupported(operation)
