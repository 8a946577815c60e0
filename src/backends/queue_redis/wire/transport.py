"""How the Redis driver talks to a server: one small interface, ``Transport``, and the
script call it runs. The implementations, one module per concern:

- ``redis_asyncio.AsyncioTransport``: redis.asyncio, used under asyncio (and on Cluster and
  Sentinel);
- ``pipelined.PipelinedTransport``: the same with script calls on one pipelined hiredis
  connection (``resp``), used for plain ``redis://`` and ``unix://`` URLs when hiredis is
  installed; ``pipelined.PipelinedThreadTransport``, its counterpart under trio;
- ``redis_sync.ThreadTransport``: redis-py's sync client on worker threads, used under trio
  (redis-py has no trio support); the fakeredis driver runs its ``SyncCore`` inline;
- ``pubsub``: the subscriptions behind ``listen``; ``script_calls``: EVALSHA with its EVAL
  fallback; ``errors``: redis-py exceptions mapped to queue-core errors, at the edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from queue_redis.scripts import Script


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

    async def close(self) -> None: ...
