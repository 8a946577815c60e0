"""Time is an argument: what the callers' ``now`` decides, real time passing leaves alone.

A driver may let its storage collect expired entries on its own clock, but only well
after every caller's ``now`` would have expired them: an answer must never change
because the server's clock moved while the callers' did not (tests on a ``ManualClock``
would see entries vanish). Like ``test_wakeups``, this waits on the real clock, briefly.
"""

from __future__ import annotations

import anyio
import pytest

from queue_conformance.helpers import T0, enqueue, job
from queue_core import Broker, EnqueueStatus

pytestmark = pytest.mark.anyio

#: Lifetimes far shorter than the real pause below, which is still short (1/16 s: exact
#: in binary, so the token bucket's wait compares exactly).
TTL = 0.0625
PAUSE = 0.3


async def test_real_time_passing_changes_no_answer(broker: Broker) -> None:
    """Heartbeats, claims, token buckets and unique locks live until the callers' now
    passes their expiry: after real time longer than their lifetimes, the same now gives
    the same answers."""
    await enqueue(broker, job("a", unique_for=TTL, unique_key="k"))
    coordination = "coordination" in broker.capabilities.features
    if coordination:
        await broker.put_heartbeat("worker", "w1", b"info", T0, TTL)
        assert await broker.claim("tick", T0, TTL) is True
        assert await broker.take_tokens("api", 1 / TTL, 1, T0) == 0.0
    await anyio.sleep(PAUSE)
    [duplicate] = await enqueue(broker, job("b", unique_for=TTL, unique_key="k"))
    assert (duplicate.status, duplicate.holder) == (EnqueueStatus.DUPLICATE, "a")
    if not coordination:
        return
    assert await broker.list_heartbeats("worker", T0) == {"w1": b"info"}
    assert await broker.claim("tick", T0, TTL) is False
    assert await broker.take_tokens("api", 1 / TTL, 1, T0) == TTL
