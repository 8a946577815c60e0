"""Script calls -- every transition -- over one pipelined connection parsed by hiredis
(``resp``): a round trip costs a third of redis.asyncio's. Plain commands and pub/sub stay
on redis-py."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Protocol

from redis.exceptions import NoScriptError

from queue_redis.wire.errors import mapped_errors
from queue_redis.wire.redis_asyncio import AsyncioTransport
from queue_redis.wire.redis_sync import ThreadTransport
from queue_redis.wire.resp import AnyioRespConnection, RespConnection, RespSubscription
from queue_redis.wire.script_calls import eval_args, evalsha_args, raise_first_error
from queue_redis.wire.transport import Call


class ScriptConnection(Protocol):
    """What running scripts needs of a ``resp`` connection (either of the two)."""

    async def send(self, commands: Sequence[Sequence[Any]]) -> list[Any]: ...


async def run_scripts(connection: ScriptConnection, calls: Sequence[Call]) -> list[Any]:
    """``calls`` in one write on ``connection``; their replies in order."""
    with mapped_errors():
        replies = await connection.send([("EVALSHA", *evalsha_args(call)) for call in calls])
        for i, reply in enumerate(replies):
            if isinstance(reply, NoScriptError):
                # The script did not run: loading it with EVAL runs it once, safely.
                [replies[i]] = await connection.send([("EVAL", *eval_args(calls[i]))])
        return raise_first_error(replies)


class PipelinedTransport(AsyncioTransport):
    """``AsyncioTransport`` whose script calls go over one ``RespConnection``, and whose
    subscriptions have their own hiredis subscriber (a wake-up is on the path of every
    pickup)."""

    def __init__(self, client: Any, connection: RespConnection) -> None:
        super().__init__(client)
        self._connection = connection
        self._subscribers: dict[str, RespSubscription] = {}

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        return await run_scripts(self._connection, calls)

    async def listen(self, slot: str, channels: Sequence[str], timeout: float) -> list[bytes]:
        subscriber = self._subscribers.get(slot)
        if subscriber is None:
            subscriber = self._subscribers[slot] = self._connection.subscription()
        with mapped_errors():
            return await subscriber.receive(channels, timeout)

    async def close(self) -> None:
        for subscriber in self._subscribers.values():
            with contextlib.suppress(Exception):
                await subscriber.close()
        with contextlib.suppress(Exception):
            await self._connection.close()
        await super().close()


class PipelinedThreadTransport(ThreadTransport):
    """``ThreadTransport`` (trio) whose script calls go over one ``AnyioRespConnection``
    instead of a thread hop each. Plain commands and pub/sub stay on redis-py's threads."""

    def __init__(self, client: Any, connection: AnyioRespConnection) -> None:
        super().__init__(client)
        self._connection = connection

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        return await run_scripts(self._connection, calls)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._connection.close()
        await super().close()
