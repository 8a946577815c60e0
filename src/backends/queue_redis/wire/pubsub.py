"""Subscriptions: one pub/sub connection per listening slot, each new channel confirmed by
the server before the wait begins, so a notification is never lost between a listener's
start and its first wait. ``SyncSubscription`` for redis-py's sync client (on worker
threads), ``AsyncSubscription`` for redis.asyncio."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import redis
from redis.utils import str_if_bytes

from queue_redis.wire.errors import mapped_errors

# How long a new subscription waits for the server to confirm it (one round trip when
# the server answers) before the wait counts as a lost connection.
CONFIRM_TIMEOUT = 5.0


def sort_reply(message: dict[str, Any], messages: list[bytes], unconfirmed: set[str] | None = None) -> None:
    """File one pubsub reply: a notification's data, or a subscribe confirmation."""
    kind = str_if_bytes(message["type"])
    if kind == "message":
        messages.append(message["data"])
    elif kind == "subscribe" and unconfirmed is not None:
        unconfirmed.discard(str_if_bytes(message["channel"]))


def unconfirmed_error(unconfirmed: set[str]) -> redis.TimeoutError:
    return redis.TimeoutError(
        f"Redis did not confirm the subscription to {sorted(unconfirmed)} within {CONFIRM_TIMEOUT:.0f}s"
    )


def confirmed_sync(pubsub: Any, channels: set[str]) -> list[bytes]:
    """``_confirmed`` for a sync pubsub."""
    pubsub.subscribe(*channels)
    messages: list[bytes] = []
    unconfirmed = set(channels)
    confirm_by = time.monotonic() + CONFIRM_TIMEOUT
    while unconfirmed:
        if (remaining := confirm_by - time.monotonic()) <= 0:
            raise unconfirmed_error(unconfirmed)
        if (message := pubsub.get_message(timeout=remaining)) is not None:
            sort_reply(message, messages, unconfirmed)
    return messages


class SyncSubscription:
    """One pubsub connection of a sync client, subscribed to a growing set of channels.

    A channel is subscribed, and confirmed by the server, before the wait begins: once
    ``receive`` has returned, a notification is kept for the next call however late it
    comes (the worker reports itself started only then)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._pubsub: Any = None
        self._channels: set[str] = set()

    def receive(self, channels: Sequence[str], timeout: float) -> list[bytes]:
        with mapped_errors():
            try:
                if self._pubsub is None:
                    # untyped before redis-py 8.2
                    self._pubsub = self._client.pubsub()  # type: ignore[no-untyped-call, unused-ignore]
                messages: list[bytes] = []
                if new := set(channels) - self._channels:
                    messages = confirmed_sync(self._pubsub, new)
                    self._channels |= new
                if not messages and (message := self._pubsub.get_message(timeout=timeout)) is not None:
                    sort_reply(message, messages)
                while (message := self._pubsub.get_message(timeout=0)) is not None:
                    sort_reply(message, messages)
                return messages
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                self.close()
                raise

    def close(self) -> None:
        pubsub, self._pubsub, self._channels = self._pubsub, None, set()
        if pubsub is not None:
            with contextlib.suppress(Exception):
                pubsub.close()


async def confirmed(pubsub: Any, channels: set[str]) -> list[bytes]:
    """Subscribe ``pubsub`` to ``channels`` and wait for the server's confirmation;
    returns the notifications that arrived meanwhile."""
    await pubsub.subscribe(*channels)
    messages: list[bytes] = []
    unconfirmed = set(channels)
    with anyio.move_on_after(CONFIRM_TIMEOUT):
        while unconfirmed:
            if (message := await pubsub.get_message(timeout=CONFIRM_TIMEOUT)) is not None:
                sort_reply(message, messages, unconfirmed)
    if unconfirmed:
        raise unconfirmed_error(unconfirmed)
    return messages


class AsyncSubscription:
    """One pubsub connection of an asyncio client, subscribed to a growing set of
    channels, each confirmed by the server before the wait begins (as ``SyncSubscription``)."""

    def __init__(self, clients: PubSubClients) -> None:
        self._clients = clients
        self._pubsub: Any = None
        self._channels: set[str] = set()

    async def _open(self, channels: set[str]) -> tuple[Any, list[bytes]]:
        """A pubsub subscribed to ``channels`` on the first client that answers."""
        failure: Exception | None = None
        for client in await self._clients():
            pubsub = client.pubsub()
            try:
                messages = await confirmed(pubsub, channels)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                failure = exc
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                continue
            return pubsub, messages
        raise failure or redis.ConnectionError("no Redis node to subscribe through")

    async def receive(self, channels: Sequence[str], timeout: float) -> list[bytes]:
        with mapped_errors():
            try:
                messages: list[bytes] = []
                if self._pubsub is None:
                    self._pubsub, messages = await self._open(set(channels))
                    self._channels = set(channels)
                elif new := set(channels) - self._channels:
                    messages = await confirmed(self._pubsub, new)
                    self._channels |= new
                deadline = time.monotonic() + timeout
                # get_message returns early on other replies than a notification: keep waiting.
                while not messages and (remaining := deadline - time.monotonic()) > 0:
                    if (message := await self._pubsub.get_message(timeout=remaining)) is not None:
                        sort_reply(message, messages)
                while (message := await self._pubsub.get_message(timeout=0)) is not None:
                    sort_reply(message, messages)
                return messages
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                await self.close()
                raise

    async def close(self) -> None:
        pubsub, self._pubsub, self._channels = self._pubsub, None, set()
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()


#: the clients a subscription may use, best first (it takes the first that answers).
PubSubClients = Callable[[], Awaitable[Sequence[Any]]]


class ClusterNodeClients:
    """Plain clients to a cluster's nodes, for pub/sub: redis-py's asyncio cluster client
    has none before 8.2, and classic pub/sub reaches subscribers on any node. The cluster
    client's default node comes first, then every node it knows now, so after a failover
    (the node subscribed through was killed) the next subscription finds one alive."""

    def __init__(self, cluster: Any, connect: Callable[[str, int], Any]) -> None:
        self._cluster = cluster
        self._connect = connect
        self._clients: dict[tuple[str, int], Any] = {}

    async def __call__(self) -> list[Any]:
        await self._cluster.initialize()  # a no-op once the slots are known
        nodes = [self._cluster.get_default_node(), *self._cluster.get_nodes()]
        addresses = dict.fromkeys((node.host, node.port) for node in nodes if node is not None)
        return [self._client(address) for address in addresses]

    def _client(self, address: tuple[str, int]) -> Any:
        if address not in self._clients:
            self._clients[address] = self._connect(*address)
        return self._clients[address]

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()
