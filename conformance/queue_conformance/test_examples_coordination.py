"""One focused example per rule of coordination (docs/broker-protocol.md, Coordination),
for drivers that declare the ``coordination`` feature. Each docstring quotes the rule
it checks. Every time is the caller's ``now``; ``test_time_is_an_argument`` checks that
real time passing changes none of these answers.
"""

from __future__ import annotations

import pytest

from queue_conformance.helpers import T0, require_feature
from queue_core import Broker

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _coordination(broker: Broker) -> None:
    require_feature(broker, "coordination")


async def test_a_claim_holds_until_its_expiry_by_the_callers_clock(broker: Broker) -> None:
    """claim: "True for the first caller to claim key; False while that claim lasts
    (until its now + ttl, judged by the now of later callers)"."""
    assert await broker.claim("tick", T0, 10) is True
    assert await broker.claim("tick", T0 + 9.875, 10) is False
    assert await broker.claim("other", T0, 10) is True
    assert await broker.claim("tick", T0 + 10, 5) is True  # free from its expiry on
    assert await broker.claim("tick", T0 + 12, 5) is False
    assert await broker.claim("tick", T0 - 100, 5) is False  # a clock far behind: still held


async def test_the_token_bucket_refills_at_its_rate_up_to_burst(broker: Broker) -> None:
    """take_tokens: "Returns 0 when taken, else seconds until one is free"; the bucket
    starts full (burst) and refills at rate per second."""
    assert [await broker.take_tokens("api", 2.0, 2, T0) for _ in range(3)] == [0.0, 0.0, 0.5]
    assert await broker.take_tokens("api", 2.0, 2, T0 + 0.25) == 0.25  # half a token back
    assert await broker.take_tokens("api", 2.0, 2, T0 + 0.5) == 0.0
    assert [await broker.take_tokens("api", 2.0, 2, T0 + 100) for _ in range(3)] == [0.0, 0.0, 0.5]  # burst caps
    assert await broker.take_tokens("other", 2.0, 2, T0 + 100) == 0.0


async def test_a_clock_gone_back_mints_no_tokens(broker: Broker) -> None:
    """take_tokens: a caller whose clock is behind the bucket's last look refills nothing,
    and does not move that look back (no tokens from the same time twice)."""
    assert await broker.take_tokens("api", 1.0, 1, T0 + 10) == 0.0
    assert await broker.take_tokens("api", 1.0, 1, T0) == 1.0
    assert await broker.take_tokens("api", 1.0, 1, T0 + 10.5) == 0.5
    assert await broker.take_tokens("api", 1.0, 1, T0 + 11) == 0.0


async def test_a_heartbeat_lives_until_its_now_plus_ttl(broker: Broker) -> None:
    """put_heartbeat: live "until now + ttl" (gone from then on, as a lease or a claim);
    list_heartbeats: "Live members of kind and their info; expired ones are pruned"."""
    await broker.put_heartbeat("worker", "w1", b"one", T0, 10)
    await broker.put_heartbeat("worker", "w2", b"two", T0, 20)
    await broker.put_heartbeat("scheduler", "s1", b"sched", T0, 10)
    assert await broker.list_heartbeats("worker", T0 + 9.875) == {"w1": b"one", "w2": b"two"}
    assert await broker.list_heartbeats("worker", T0 + 10) == {"w2": b"two"}
    assert await broker.list_heartbeats("worker", T0) == {"w2": b"two"}  # pruned for good
    await broker.put_heartbeat("worker", "w2", b"again", T0 + 15, 20)  # renewed, new info
    assert await broker.list_heartbeats("worker", T0 + 30) == {"w2": b"again"}
    assert await broker.list_heartbeats("scheduler", T0) == {"s1": b"sched"}


async def test_a_removed_heartbeat_is_gone_at_once(broker: Broker) -> None:
    """remove_heartbeat: "Forget a worker or scheduler that stopped cleanly"; removing an
    unknown member is no error."""
    await broker.put_heartbeat("worker", "w1", b"one", T0, 60)
    await broker.remove_heartbeat("worker", "w1")
    await broker.remove_heartbeat("worker", "nobody")
    assert await broker.list_heartbeats("worker", T0) == {}


async def test_events_come_newest_first_and_only_the_newest_are_kept(broker: Broker) -> None:
    """record_event: "keeping the newest keep"; list_events: "Up to limit events ... as
    (recorded at, event), newest first" (same time: by the event's bytes)."""
    await broker.record_event("fires", b"a", T0 + 2, 3)
    await broker.record_event("fires", b"late", T0 + 1, 3)  # recorded after, happened before
    await broker.record_event("fires", b"b", T0 + 2, 3)
    assert await broker.list_events("fires", 10) == [(T0 + 2, b"b"), (T0 + 2, b"a"), (T0 + 1, b"late")]
    await broker.record_event("fires", b"c", T0 + 3, 3)
    assert await broker.list_events("fires", 10) == [(T0 + 3, b"c"), (T0 + 2, b"b"), (T0 + 2, b"a")]
    assert await broker.list_events("fires", 1) == [(T0 + 3, b"c")]
    assert await broker.list_events("fires", 0) == []
    assert await broker.list_events("other", 10) == []
