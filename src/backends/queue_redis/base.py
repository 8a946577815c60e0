"""What every part of the Redis broker shares: the transport, the key builder, helpers."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from queue_core import Capabilities, QueueNotFound, Unsupported
from queue_redis.keys import GlobalKeys, QueueKeys
from queue_redis.transport import Transport

T = TypeVar("T")


def utc_day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def grouped(items: Sequence[T], key: Callable[[T], Any]) -> dict[Any, list[tuple[int, T]]]:
    """Items grouped by ``key``, each with its index, in first-seen order."""
    groups: dict[Any, list[tuple[int, T]]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[key(item)].append((index, item))
    return groups


def unsupported(operation: str) -> NoReturn:
    raise Unsupported(f"this driver does not offer {operation} yet (see its Capabilities.features)")


class BrokerBase:
    capabilities: Capabilities
    _transport: Transport
    _keys: GlobalKeys

    def _queue(self, name: str) -> QueueKeys:
        return self._keys.queue(name)

    async def _require_queue(self, queue: str) -> QueueKeys:
        """The queue's keys, or ``QueueNotFound`` when the queue is not registered."""
        [known] = await self._transport.execute([("SISMEMBER", self._keys.queues, queue)])
        if not known:
            raise QueueNotFound(queue)
        return self._queue(queue)

    def _wake(self, queue: str) -> None:
        """A script published on the queue's notify channel; let in-process waiters know."""
        self._transport.published(self._queue(queue).notify_channel, b"1")
