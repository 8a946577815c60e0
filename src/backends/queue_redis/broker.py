"""The Redis driver: the reference implementation of queue-core's Broker protocol.

Every state transition is one Lua script (``lua/``) run atomically on the server; this
module only plans calls, batches them into round trips and decodes replies.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio
import sniffio

from queue_core import Capabilities, InvalidBrokerURL
from queue_redis.admin import AdminOps
from queue_redis.aggregation import AggregationOps
from queue_redis.coordination import CoordinationOps
from queue_redis.inspection import InspectionOps
from queue_redis.keys import DEFAULT_PREFIX, GlobalKeys
from queue_redis.maintenance import MaintenanceOps
from queue_redis.processing import ProcessingOps
from queue_redis.transport import AsyncioTransport, ThreadTransport, Transport

REDIS_CAPABILITIES = Capabilities(name="redis", blocking_wait=True, memory_usage=True)


class RedisBroker(ProcessingOps, MaintenanceOps, InspectionOps, AdminOps, AggregationOps, CoordinationOps):
    """Broker over Redis (and, through ``queue_fakeredis``, over an in-process fakeredis)."""

    capabilities: Capabilities = REDIS_CAPABILITIES

    def __init__(
        self,
        transport: Transport,
        *,
        prefix: str = DEFAULT_PREFIX,
        capabilities: Capabilities | None = None,
    ) -> None:
        self._transport = transport
        self._keys = GlobalKeys(prefix)
        if capabilities is not None:
            self.capabilities = capabilities

    @classmethod
    def from_url(cls, url: str, *, prefix: str | None = None, **client_options: Any) -> RedisBroker:
        """Connect lazily to ``url`` (``redis://``, ``rediss://``, ``unix://``).

        ``prefix`` (or ``?prefix=`` in the URL) namespaces every key. Under asyncio the
        driver uses redis.asyncio; under trio, redis-py's sync client on threads.
        """
        url, url_prefix = _split_prefix(url)
        prefix = prefix or url_prefix or DEFAULT_PREFIX
        options: dict[str, Any] = {"socket_connect_timeout": 5, **client_options}
        try:
            if sniffio.current_async_library() == "asyncio":
                transport: Transport = AsyncioTransport(redis.asyncio.from_url(url, **options))
            else:
                transport = ThreadTransport(redis.from_url(url, **options))
        except ValueError as exc:
            raise InvalidBrokerURL("url", url, f"a redis://, rediss:// or unix:// URL ({exc})") from exc
        return cls(transport, prefix=prefix)

    # ---- lifecycle

    async def ping(self) -> None:
        await self._transport.execute([("PING",)])

    async def close(self) -> None:
        await self._transport.close()

    async def server_time(self) -> float:
        [(seconds, micros)] = await self._transport.execute([("TIME",)])
        return int(seconds) + int(micros) / 1_000_000


def _split_prefix(url: str) -> tuple[str, str | None]:
    """Take queue-core's own ``prefix`` query parameter out of a Redis URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((value for name, value in query if name == "prefix"), None)
    rest = urlencode([(name, value) for name, value in query if name != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix
