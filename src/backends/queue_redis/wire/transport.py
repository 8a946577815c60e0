"""How the Redis driver talks to a server: one small interface, three implementations.

- ``AsyncioTransport``: redis.asyncio, used under asyncio;
  ``PipelinedTransport``, the same with script calls on one pipelined hiredis connection
  (``resp``), used for plain ``redis://`` and ``unix://`` URLs when hiredis is installed;
  ``PipelinedThreadTransport``, its counterpart under trio.
- ``ThreadTransport``: redis-py's sync client on worker threads, used under trio
  (redis-py has no trio support).
- The fakeredis driver runs ``SyncCore`` inline on an in-process server.

Every method maps redis-py exceptions to queue-core errors here, at the edge.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import redis
import redis.asyncio
from redis.exceptions import (
    AuthenticationError,
    NoPermissionError,
    NoScriptError,
    RedisClusterException,
    ResponseError,
)
from redis.utils import str_if_bytes

from queue_core import BrokerAuthError, BrokerError, BrokerUnavailable
from queue_redis.scripts import Script, all_scripts

# While waiting for notifications on a thread, wake this often so cancellation is prompt.
_THREAD_WAIT_SLICE = 0.25
# How long a new subscription waits for the server to confirm it (one round trip when
# the server answers) before the wait counts as a lost connection.
_CONFIRM_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Call:
    """One script invocation."""

    script: Script
    keys: Sequence[str]
    args: Sequence[Any]


class Transport(Protocol):
    async def run(self, calls: Sequence[Call]) -> list[Any]:
        """Run the scripts in one round trip; replies in order."""

    async def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Run plain commands in one round trip (a non-transactional pipeline)."""

    async def listen(self, slot: str, channels: Sequence[str], timeout: float) -> list[bytes]:
        """Messages published on ``channels``: returns as soon as there is at least one,
        or ``[]`` after ``timeout`` seconds. Each ``slot`` ("jobs", "cancel") is its own
        subscription, so two listeners never steal each other's messages. Subscribing is
        lazy and sticky: messages that arrive between calls are kept for the next one."""

    def published(self, channel: str, data: bytes) -> None:
        """A script just published ``data`` on ``channel``; in-process transports deliver
        it here, Redis transports do nothing (Redis delivered it)."""

    async def close(self) -> None: ...


@contextlib.contextmanager
def mapped_errors() -> Iterator[None]:
    """Turn redis-py exceptions into queue-core ones, cause chained."""
    try:
        yield
    except AuthenticationError as exc:
        raise BrokerAuthError(f"Redis refused the credentials: {exc}") from exc
    except NoPermissionError as exc:  # redis-py strips the NOPERM code from its text
        raise BrokerAuthError(f"Redis refused the command (NOPERM): {exc}") from exc
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise BrokerUnavailable(f"Redis is unreachable: {exc}") from exc
    except ResponseError as exc:
        text = str(exc)
        if "NOAUTH" in text or "WRONGPASS" in text or "NOPERM" in text:
            raise BrokerAuthError(f"Redis refused the command: {text}") from exc
        if "LOADING" in text or "BUSY" in text or "MASTERDOWN" in text or "READONLY" in text:
            raise BrokerUnavailable(f"Redis cannot serve now: {text}") from exc
        raise BrokerError(f"Redis error: {text}") from exc
    except redis.RedisError as exc:
        raise BrokerError(f"Redis error: {exc}") from exc
    except RedisClusterException as exc:  # not a RedisError: no reachable node, or no slot map
        raise BrokerUnavailable(f"Redis Cluster is unreachable: {exc}") from exc


def _evalsha_args(call: Call) -> tuple[Any, ...]:
    return (call.script.sha, len(call.keys), *call.keys, *call.args)


def _eval_args(call: Call) -> tuple[Any, ...]:
    return (call.script.source, len(call.keys), *call.keys, *call.args)


def _raise_first_error(replies: list[Any]) -> list[Any]:
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


class SyncCore:
    """Script running over a sync redis-py (or fakeredis) client.

    On Redis Cluster, redis-py refuses EVALSHA inside pipelines, so each call is its own
    round trip there (each still touches a single slot).
    """

    def __init__(self, client: Any, *, cluster: bool = False) -> None:
        self.client = client
        self.cluster = cluster

    def _run_one(self, call: Call) -> Any:
        try:
            return self.client.evalsha(*_evalsha_args(call))
        except NoScriptError:
            # The server lost its script cache (restart, SCRIPT FLUSH): EVAL loads it.
            return self.client.eval(*_eval_args(call))

    def run(self, calls: Sequence[Call]) -> list[Any]:
        with mapped_errors():
            if len(calls) == 1 or self.cluster:
                return [self._run_one(call) for call in calls]
            pipe = self.client.pipeline(transaction=False)
            for call in calls:
                pipe.evalsha(*_evalsha_args(call))
            replies = pipe.execute(raise_on_error=False)
            # A script that got NOSCRIPT did not run, so running just it again is safe.
            for i, reply in enumerate(replies):
                if isinstance(reply, NoScriptError):
                    replies[i] = self.client.eval(*_eval_args(calls[i]))
            return _raise_first_error(replies)

    def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        with mapped_errors():
            pipe = self.client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            return _raise_first_error(pipe.execute(raise_on_error=False))

    def load_scripts(self) -> None:
        with mapped_errors():
            pipe = self.client.pipeline(transaction=False)
            for s in all_scripts():
                pipe.script_load(s.source)
            pipe.execute()


def _sort(message: dict[str, Any], messages: list[bytes], unconfirmed: set[str] | None = None) -> None:
    """File one pubsub reply: a notification's data, or a subscribe confirmation."""
    kind = str_if_bytes(message["type"])
    if kind == "message":
        messages.append(message["data"])
    elif kind == "subscribe" and unconfirmed is not None:
        unconfirmed.discard(str_if_bytes(message["channel"]))


def _unconfirmed_error(unconfirmed: set[str]) -> redis.TimeoutError:
    return redis.TimeoutError(
        f"Redis did not confirm the subscription to {sorted(unconfirmed)} within {_CONFIRM_TIMEOUT:.0f}s"
    )


def _confirmed_sync(pubsub: Any, channels: set[str]) -> list[bytes]:
    """``_confirmed`` for a sync pubsub."""
    pubsub.subscribe(*channels)
    messages: list[bytes] = []
    unconfirmed = set(channels)
    confirm_by = time.monotonic() + _CONFIRM_TIMEOUT
    while unconfirmed:
        if (remaining := confirm_by - time.monotonic()) <= 0:
            raise _unconfirmed_error(unconfirmed)
        if (message := pubsub.get_message(timeout=remaining)) is not None:
            _sort(message, messages, unconfirmed)
    return messages


class _SyncSubscription:
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
                    messages = _confirmed_sync(self._pubsub, new)
                    self._channels |= new
                if not messages and (message := self._pubsub.get_message(timeout=timeout)) is not None:
                    _sort(message, messages)
                while (message := self._pubsub.get_message(timeout=0)) is not None:
                    _sort(message, messages)
                return messages
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                self.close()
                raise

    def close(self) -> None:
        pubsub, self._pubsub, self._channels = self._pubsub, None, set()
        if pubsub is not None:
            with contextlib.suppress(Exception):
                pubsub.close()


class ThreadTransport:
    """redis-py's sync client, each round trip on a worker thread (for trio)."""

    def __init__(self, client: Any, limiter: anyio.CapacityLimiter | None = None, *, cluster: bool = False) -> None:
        self._core = SyncCore(client, cluster=cluster)
        self._limiter = limiter or anyio.CapacityLimiter(16)
        self._subscriptions: dict[str, _SyncSubscription] = {}

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        return await anyio.to_thread.run_sync(self._core.run, calls, limiter=self._limiter)

    async def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        return await anyio.to_thread.run_sync(self._core.execute, commands, limiter=self._limiter)

    async def listen(self, slot: str, channels: Sequence[str], timeout: float) -> list[bytes]:
        subscription = self._subscriptions.setdefault(slot, _SyncSubscription(self._core.client))
        deadline = time.monotonic() + timeout
        # Wait in short slices: a thread cannot be cancelled, so this keeps cancellation
        # prompt. At least one slice, so that a zero timeout still subscribes.
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            messages = await anyio.to_thread.run_sync(
                subscription.receive, channels, min(remaining, _THREAD_WAIT_SLICE), limiter=self._limiter
            )
            if messages or time.monotonic() >= deadline:
                return messages

    def published(self, channel: str, data: bytes) -> None:
        pass  # the script's PUBLISH reaches subscribers through Redis

    async def close(self) -> None:
        await anyio.to_thread.run_sync(self._close_sync)

    def _close_sync(self) -> None:
        for subscription in self._subscriptions.values():
            subscription.close()
        with contextlib.suppress(Exception):
            self._core.client.close()


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


async def _confirmed(pubsub: Any, channels: set[str]) -> list[bytes]:
    """Subscribe ``pubsub`` to ``channels`` and wait for the server's confirmation;
    returns the notifications that arrived meanwhile."""
    await pubsub.subscribe(*channels)
    messages: list[bytes] = []
    unconfirmed = set(channels)
    with anyio.move_on_after(_CONFIRM_TIMEOUT):
        while unconfirmed:
            if (message := await pubsub.get_message(timeout=_CONFIRM_TIMEOUT)) is not None:
                _sort(message, messages, unconfirmed)
    if unconfirmed:
        raise _unconfirmed_error(unconfirmed)
    return messages


class _AsyncSubscription:
    """One pubsub connection of an asyncio client, subscribed to a growing set of
    channels, each confirmed by the server before the wait begins (as ``_SyncSubscription``)."""

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
                messages = await _confirmed(pubsub, channels)
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
                    messages = await _confirmed(self._pubsub, new)
                    self._channels |= new
                deadline = time.monotonic() + timeout
                # get_message returns early on other replies than a notification: keep waiting.
                while not messages and (remaining := deadline - time.monotonic()) > 0:
                    if (message := await self._pubsub.get_message(timeout=remaining)) is not None:
                        _sort(message, messages)
                while (message := await self._pubsub.get_message(timeout=0)) is not None:
                    _sort(message, messages)
                return messages
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                await self.close()
                raise

    async def close(self) -> None:
        pubsub, self._pubsub, self._channels = self._pubsub, None, set()
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()


class AsyncioTransport:
    """redis.asyncio: one connection pool, pipelines for multi-call round trips.

    On Redis Cluster (``cluster=True``) script calls run concurrently, one per request
    (redis-py refuses EVALSHA in cluster pipelines), and subscriptions go through
    ``cluster_nodes``, plain connections to the nodes: classic pub/sub reaches every node.
    """

    def __init__(self, client: Any, *, cluster: bool = False, cluster_nodes: ClusterNodeClients | None = None) -> None:
        self.client = client
        self.cluster = cluster
        self._cluster_nodes = cluster_nodes
        self._subscriptions: dict[str, _AsyncSubscription] = {}

    async def _pubsub_clients(self) -> Sequence[Any]:
        return [self.client] if self._cluster_nodes is None else await self._cluster_nodes()

    async def _run_one(self, call: Call) -> Any:
        try:
            return await self.client.evalsha(*_evalsha_args(call))
        except NoScriptError:
            return await self.client.eval(*_eval_args(call))

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        with mapped_errors():
            if len(calls) == 1:
                return [await self._run_one(calls[0])]
            if self.cluster:
                replies: list[Any] = [None] * len(calls)

                async def one(index: int) -> None:
                    replies[index] = await self._run_one(calls[index])

                async with anyio.create_task_group() as tg:
                    for index in range(len(calls)):
                        tg.start_soon(one, index)
                return replies
            pipe = self.client.pipeline(transaction=False)
            for call in calls:
                pipe.evalsha(*_evalsha_args(call))
            replies = await pipe.execute(raise_on_error=False)
            for i, reply in enumerate(replies):
                if isinstance(reply, NoScriptError):
                    replies[i] = await self.client.eval(*_eval_args(calls[i]))
            return _raise_first_error(replies)

    async def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        with mapped_errors():
            pipe = self.client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            return _raise_first_error(await pipe.execute(raise_on_error=False))

    async def listen(self, slot: str, channels: Sequence[str], timeout: float) -> list[bytes]:
        subscription = self._subscriptions.setdefault(slot, _AsyncSubscription(self._pubsub_clients))
        return await subscription.receive(channels, timeout)

    def published(self, channel: str, data: bytes) -> None:
        pass  # the script's PUBLISH reaches subscribers through Redis

    async def close(self) -> None:
        for subscription in self._subscriptions.values():
            await subscription.close()
        with contextlib.suppress(Exception):
            await self.client.aclose()
        if self._cluster_nodes is not None:
            await self._cluster_nodes.aclose()


class _PipelinedScripts:
    """Script calls over one pipelined hiredis connection (``queue_redis.wire.resp``)."""

    _connection: Any

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        with mapped_errors():
            replies = await self._connection.send([("EVALSHA", *_evalsha_args(call)) for call in calls])
            for i, reply in enumerate(replies):
                if isinstance(reply, NoScriptError):
                    # The script did not run: loading it with EVAL runs it once, safely.
                    [replies[i]] = await self._connection.send([("EVAL", *_eval_args(calls[i]))])
            return _raise_first_error(replies)


class PipelinedTransport(_PipelinedScripts, AsyncioTransport):
    """``AsyncioTransport`` whose script calls -- every transition -- go over one
    pipelined connection parsed by hiredis (``resp.RespConnection``): a round trip costs
    a third of redis.asyncio's. Plain commands and pub/sub stay on redis.asyncio."""

    def __init__(self, client: Any, connection: Any) -> None:
        super().__init__(client)
        self._connection = connection
        self._subscribers: dict[str, Any] = {}

    async def listen(self, slot: str, channels: Sequence[str], timeout: float) -> list[bytes]:
        # Its own hiredis subscriber too: a wake-up is on the path of every pickup.
        subscriber = self._subscribers.get(slot)
        if subscriber is None:
            subscriber = self._subscribers[slot] = self._connection.subscription()
        with mapped_errors():
            messages: list[bytes] = await subscriber.receive(channels, timeout)
            return messages

    async def close(self) -> None:
        for subscriber in self._subscribers.values():
            with contextlib.suppress(Exception):
                await subscriber.close()
        with contextlib.suppress(Exception):
            await self._connection.close()
        await super().close()


class PipelinedThreadTransport(_PipelinedScripts, ThreadTransport):
    """``ThreadTransport`` (trio) whose script calls go over one pipelined anyio
    connection (``resp.AnyioRespConnection``) instead of a thread hop each. Plain
    commands and pub/sub stay on redis-py's threads."""

    def __init__(self, client: Any, connection: Any) -> None:
        super().__init__(client)
        self._connection = connection

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._connection.close()
        await super().close()
