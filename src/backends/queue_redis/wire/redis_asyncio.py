"""redis.asyncio: ``AsyncioTransport``, one connection pool, pipelines for multi-call round
trips, and the Cluster variant."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import anyio
from redis.exceptions import NoScriptError

from queue_redis.wire.errors import mapped_errors
from queue_redis.wire.pubsub import AsyncSubscription, ClusterNodeClients
from queue_redis.wire.script_calls import eval_args, evalsha_args, raise_first_error
from queue_redis.wire.transport import Call


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
        self._subscriptions: dict[str, AsyncSubscription] = {}

    async def _pubsub_clients(self) -> Sequence[Any]:
        return [self.client] if self._cluster_nodes is None else await self._cluster_nodes()

    async def _run_one(self, call: Call) -> Any:
        try:
            return await self.client.evalsha(*evalsha_args(call))
        except NoScriptError:
            return await self.client.eval(*eval_args(call))

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        with mapped_errors():
            if len(calls) == 1:
                return [await self._run_one(calls[0])]
            if self.cluster:
                # Slots run concurrently; the calls of one slot run in the order given, as
                # a pipeline runs them (an enqueue split into chunks may depend on an
                # earlier chunk: a dependency, an ID or a unique lock stored by it).
                replies: list[Any] = [None] * len(calls)
                by_slot: dict[str, list[int]] = {}
                for index, call in enumerate(calls):
                    by_slot.setdefault(_hash_tag(call.keys[0]) if call.keys else f"#{index}", []).append(index)

                async def in_order(indexes: list[int]) -> None:
                    for index in indexes:
                        replies[index] = await self._run_one(calls[index])

                async with anyio.create_task_group() as tg:
                    for indexes in by_slot.values():
                        tg.start_soon(in_order, indexes)
                return replies
            pipe = self.client.pipeline(transaction=False)
            for call in calls:
                pipe.evalsha(*evalsha_args(call))
            replies = await pipe.execute(raise_on_error=False)
            for i, reply in enumerate(replies):
                if isinstance(reply, NoScriptError):
                    replies[i] = await self.client.eval(*eval_args(calls[i]))
            return raise_first_error(replies)

    async def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        with mapped_errors():
            pipe = self.client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            return raise_first_error(await pipe.execute(raise_on_error=False))

    async def listen(self, slot: str, channels: Sequence[str], timeout: float) -> list[bytes]:
        subscription = self._subscriptions.setdefault(slot, AsyncSubscription(self._pubsub_clients))
        return await subscription.receive(channels, timeout)

    async def close(self) -> None:
        for subscription in self._subscriptions.values():
            await subscription.close()
        with contextlib.suppress(Exception):
            await self.client.aclose()
        if self._cluster_nodes is not None:
            await self._cluster_nodes.aclose()


def _hash_tag(key: str) -> str:
    """What Redis Cluster hashes of ``key``: the text between its first ``{`` and the next
    ``}`` when not empty, else the whole key."""
    start = key.find("{")
    end = key.find("}", start + 1) if start != -1 else -1
    return key[start + 1 : end] if end > start + 1 else key
