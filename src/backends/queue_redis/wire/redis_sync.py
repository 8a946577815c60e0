"""redis-py's sync client: ``SyncCore`` runs calls inline (the memory:// driver runs it on
fakeredis), ``ThreadTransport`` runs each round trip on a worker thread (for trio:
redis-py has no trio support)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

import anyio
from redis.exceptions import NoScriptError

from queue_redis.scripts import all_scripts
from queue_redis.wire.errors import mapped_errors
from queue_redis.wire.pubsub import SyncSubscription
from queue_redis.wire.script_calls import eval_args, evalsha_args, raise_first_error
from queue_redis.wire.transport import Call

# While waiting for notifications on a thread, wake this often so cancellation is prompt.
_THREAD_WAIT_SLICE = 0.25


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
            return self.client.evalsha(*evalsha_args(call))
        except NoScriptError:
            # The server lost its script cache (restart, SCRIPT FLUSH): EVAL loads it.
            return self.client.eval(*eval_args(call))

    def run(self, calls: Sequence[Call]) -> list[Any]:
        with mapped_errors():
            if len(calls) == 1 or self.cluster:
                return [self._run_one(call) for call in calls]
            pipe = self.client.pipeline(transaction=False)
            for call in calls:
                pipe.evalsha(*evalsha_args(call))
            replies = pipe.execute(raise_on_error=False)
            # A script that got NOSCRIPT did not run, so running just it again is safe.
            for i, reply in enumerate(replies):
                if isinstance(reply, NoScriptError):
                    replies[i] = self.client.eval(*eval_args(calls[i]))
            return raise_first_error(replies)

    def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        with mapped_errors():
            pipe = self.client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            return raise_first_error(pipe.execute(raise_on_error=False))

    def load_scripts(self) -> None:
        with mapped_errors():
            pipe = self.client.pipeline(transaction=False)
            for s in all_scripts():
                pipe.script_load(s.source)
            pipe.execute()


class ThreadTransport:
    """redis-py's sync client, each round trip on a worker thread (for trio)."""

    def __init__(self, client: Any, limiter: anyio.CapacityLimiter | None = None, *, cluster: bool = False) -> None:
        self._core = SyncCore(client, cluster=cluster)
        self._limiter = limiter or anyio.CapacityLimiter(16)
        self._subscriptions: dict[str, SyncSubscription] = {}

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        return await anyio.to_thread.run_sync(self._core.run, calls, limiter=self._limiter)

    async def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        return await anyio.to_thread.run_sync(self._core.execute, commands, limiter=self._limiter)

    async def listen(self, slot: str, channels: Sequence[str], timeout: float) -> list[bytes]:
        subscription = self._subscriptions.setdefault(slot, SyncSubscription(self._core.client))
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

    async def close(self) -> None:
        await anyio.to_thread.run_sync(self._close_sync)

    def _close_sync(self) -> None:
        for subscription in self._subscriptions.values():
            subscription.close()
        with contextlib.suppress(Exception):
            self._core.client.close()
