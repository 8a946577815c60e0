"""The reference model behind the async Broker surface: the kit's own self-test target.

``pytest --pyargs queue_conformance --broker reference://`` runs the example suite
against the oracle itself (checking the examples' reading of the spec) and the state
machine against a second copy of it (checking the machine's plumbing). It is not a
driver: it is never registered with queue-core and implements only what the model does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from queue_conformance.model import ReferenceBroker
from queue_core import Capabilities

URL = "reference://"


class AsyncReference:
    capabilities = Capabilities(
        name="reference", blocking_wait=False, features=frozenset({"admin", "aggregation", "coordination"})
    )

    def __init__(self) -> None:
        self.model = ReferenceBroker()

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self.model, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call

    async def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        """Nothing notifies the model: wait out the timeout (``blocking_wait=False``)."""
        await anyio.sleep(timeout)

    async def wait_for_finished(self, queue: str, timeout: float) -> list[str]:
        """The model's announcements; with none, wait out the timeout (nothing wakes it)."""
        finished = self.model.take_finished(queue)
        if not finished:
            await anyio.sleep(timeout)
        return finished

    async def close(self) -> None:
        """Nothing to release."""
