"""memory:// — the Redis driver's scripts on an in-process fakeredis server."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any
from urllib.parse import urlsplit

import fakeredis

from queue_core import Capabilities, InvalidBrokerURL, ServerReport
from queue_fakeredis.notify import LocalPubSub, Subscription
from queue_redis.broker import RedisBroker
from queue_redis.keys import DEFAULT_PREFIX
from queue_redis.wire.redis_sync import SyncCore
from queue_redis.wire.transport import Call

MEMORY_CAPABILITIES = Capabilities(
    name="memory",
    blocking_wait=True,
    features=frozenset({"admin", "aggregation", "coordination", "dependencies", "metrics", "testing"}),
)

_FAKEREDIS_VERSION = version("fakeredis")

#: channels whose messages scripts publish themselves, without telling the caller:
#: the tap below forwards them to the in-process subscribers.
TAPPED_CHANNELS = "*:finished"


class FinishedTap:
    """Forwards what scripts PUBLISH on the finished channels of one in-process server to
    its ``LocalPubSub``. fakeredis delivers a script's PUBLISH to its own subscribers at
    once, so draining right after each script call forwards every announcement before
    that call returns; a second broker of the same server drains the same tap, and the
    lock makes each message forwarded once."""

    def __init__(self, server: fakeredis.FakeServer, notifier: LocalPubSub) -> None:
        self._pubsub: Any = fakeredis.FakeRedis(server=server).pubsub()
        self._pubsub.psubscribe(TAPPED_CHANNELS)
        self._notifier = notifier
        self._lock = threading.Lock()

    def drain(self) -> None:
        with self._lock:
            while (message := self._pubsub.get_message(timeout=0)) is not None:
                if message["type"] == "pmessage":
                    self._notifier.publish(message["channel"].decode(), message["data"])


_servers: dict[str, tuple[fakeredis.FakeServer, LocalPubSub, FinishedTap]] = {}
_servers_lock = threading.Lock()


def _server(name: str) -> tuple[fakeredis.FakeServer, LocalPubSub, FinishedTap]:
    with _servers_lock:
        if name not in _servers:
            server, notifier = fakeredis.FakeServer(), LocalPubSub()
            _servers[name] = (server, notifier, FinishedTap(server, notifier))
        return _servers[name]


class FakeTransport:
    """Runs each call inline: fakeredis does no I/O, so there is nothing to await."""

    def __init__(self, server: fakeredis.FakeServer, notifier: LocalPubSub, tap: FinishedTap) -> None:
        self._core = SyncCore(fakeredis.FakeRedis(server=server))
        self._pubsub = notifier
        self._tap = tap
        self._subscriptions: dict[str, Subscription] = {}

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        try:
            return self._core.run(calls)
        finally:
            self._tap.drain()

    async def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        return self._core.execute(commands)

    async def listen(self, slot: str, channels: Sequence[str], timeout: float) -> list[bytes]:
        if slot not in self._subscriptions:
            self._subscriptions[slot] = self._pubsub.subscription()
        return await self._subscriptions[slot].receive(channels, timeout)

    def published(self, channel: str, data: bytes) -> None:
        """A script just published ``data`` on ``channel``: fakeredis has no pub/sub
        between clients, so deliver it to this process's subscribers."""
        self._pubsub.publish(channel, data)

    async def close(self) -> None:
        # The server itself lives as long as the process: other brokers may share it.
        for subscription in self._subscriptions.values():
            subscription.close()
        self._subscriptions.clear()


class MemoryBroker(RedisBroker):
    """The Redis broker on an in-process server; only what fakeredis lacks differs."""

    def __init__(self, transport: FakeTransport, *, prefix: str, capabilities: Capabilities) -> None:
        super().__init__(transport, prefix=prefix, capabilities=capabilities)
        self._local = transport

    def _published(self, channel: str, data: bytes) -> None:
        self._local.published(channel, data)

    async def server_info(self) -> ServerReport:
        # fakeredis has no INFO command: describe the in-process server instead. It keeps
        # everything in the process's memory and never evicts.
        [keys] = await self._transport.execute([("DBSIZE",)])
        return ServerReport(backend="fakeredis", version=_FAKEREDIS_VERSION, details={"keys": str(keys)})


def open_memory_broker(
    url: str = "memory://", *, prefix: str | None = None, namespace: str | None = None
) -> RedisBroker:
    """A broker on the process-wide in-memory server named by the URL's host part.

    ``memory://`` is the default server; ``memory://other`` a separate one.
    """
    parts = urlsplit(url)
    if parts.scheme != "memory" or parts.path not in ("", "/"):
        raise InvalidBrokerURL("url", url, "memory:// or memory://<name>")
    server, notifier, tap = _server(parts.netloc)
    return MemoryBroker(
        FakeTransport(server, notifier, tap),
        prefix=prefix or namespace or DEFAULT_PREFIX,
        capabilities=MEMORY_CAPABILITIES,
    )
