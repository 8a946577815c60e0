"""The storage layout version: which key layout (``keys.py``) and job fields (``codec.py``)
the data under a prefix was written with.

``P:layout`` holds the version as a string. The first command a broker sends goes through
``LayoutGuard``, which writes the version when the key is absent and reads what is there:
its own version on a new deployment, and "1" where queues exist without the key (data
from before the key existed, which is layout 1). A different version raises
``StorageLayoutMismatch`` before any script runs, so a worker of one release never moves,
rewrites or deletes jobs stored by a release with another layout.

Layout 2 (docs/redis.md, "What a job stores"): a job's enqueue time is the field
``enqueued`` (was ``enqueued_at``); ``retried``, ``crashes`` and ``bounces`` are absent
while 0, ``due_at`` while it is the enqueue time, ``pending_since`` while it is
``enqueued``; the active set scores whole microseconds and the lease set negated expiries.

Bump ``LAYOUT_VERSION`` only with a change that an older driver would misread (a renamed
key, a changed field encoding), and describe the migration under "Upgrading" in
CHANGELOG.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from queue_core import StorageLayoutMismatch
from queue_redis.wire.transport import Call, Transport

LAYOUT_VERSION = "2"
#: what data written before the layout key existed is
FIRST_LAYOUT = "1"


def as_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class LayoutGuard:
    """A ``Transport`` that checks the stored layout version once, before the first command.

    Until one check has passed every call checks again: a broker that found another
    layout keeps refusing. Two tasks racing through the first call both check, which is
    harmless (``SET NX`` writes at most once).
    """

    def __init__(self, inner: Transport, layout_key: str, queues_key: str) -> None:
        self._inner = inner
        self._layout_key = layout_key
        #: the set of queue names: present without the layout key, it is layout 1 data
        self._queues_key = queues_key
        self._checked = False

    async def _check(self) -> None:
        if self._checked:
            return
        # Read first and write only when nothing is stored: a full Redis under noeviction
        # refuses every SET (even one that would change nothing) but still serves reads.
        stored, queues = await self._inner.execute([("GET", self._layout_key), ("EXISTS", self._queues_key)])
        if stored is None:
            version = FIRST_LAYOUT if queues else LAYOUT_VERSION
            _, stored = await self._inner.execute([("SET", self._layout_key, version, "NX"), ("GET", self._layout_key)])
        found = as_text(stored)
        if found != LAYOUT_VERSION:
            raise StorageLayoutMismatch(self._layout_key, found, LAYOUT_VERSION)
        self._checked = True

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        await self._check()
        return await self._inner.run(calls)

    async def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        await self._check()
        return await self._inner.execute(commands)

    async def listen(self, slot: str, channels: Sequence[str], timeout: float) -> list[bytes]:
        await self._check()
        return await self._inner.listen(slot, channels, timeout)

    async def close(self) -> None:
        await self._inner.close()
