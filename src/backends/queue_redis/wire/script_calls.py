"""Script calls as Redis commands: ``EVALSHA`` first, ``EVAL`` when the server's script
cache lost the script (a restart, ``SCRIPT FLUSH``); the script did not run then, so
running it again is safe."""

from __future__ import annotations

from typing import Any

from queue_redis.wire.transport import Call


def evalsha_args(call: Call) -> tuple[Any, ...]:
    return (call.script.sha, len(call.keys), *call.keys, *call.args)


def eval_args(call: Call) -> tuple[Any, ...]:
    return (call.script.source, len(call.keys), *call.keys, *call.args)


def raise_first_error(replies: list[Any]) -> list[Any]:
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies
