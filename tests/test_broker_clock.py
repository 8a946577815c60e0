"""The broker's clock as the one clock: offsets measured against server time."""

from __future__ import annotations

import time
from typing import Any

import pytest

from queue_core import BrokerUnavailable, InvalidClockOption, open_broker
from queue_core.broker_clock import BrokerClock


class SkewedBroker:
    """A broker whose clock runs ``skew`` seconds ahead of ``local`` (a fake clock)."""

    def __init__(self, local: list[float], skew: float, latency: float = 0.002) -> None:
        self.local = local
        self.skew = skew
        self.latency = latency
        self.up = True

    async def server_time(self) -> float:
        if not self.up:
            raise BrokerUnavailable("down")
        self.local[0] += self.latency  # the request travels
        reading = self.local[0] + self.skew
        self.local[0] += self.latency  # the answer travels back
        return reading


async def test_two_machines_with_skewed_clocks_agree_through_the_broker() -> None:
    # Machine A's clock is right; machine B's is 90 s behind. The broker is 5 s ahead of A.
    a_time, b_time = [1000.0], [910.0]
    a = BrokerClock(SkewedBroker(a_time, skew=5.0), local=lambda: a_time[0])  # type: ignore[arg-type]
    b = BrokerClock(SkewedBroker(b_time, skew=95.0), local=lambda: b_time[0])  # type: ignore[arg-type]
    assert a.now() != pytest.approx(b.now(), abs=1)  # before syncing, they disagree by 90 s
    await a.sync()
    await b.sync()
    assert a.offset == pytest.approx(5.0, abs=1e-9)
    assert b.offset == pytest.approx(95.0, abs=1e-9)
    assert a.now() == pytest.approx(b.now(), abs=1e-6)
    assert a.round_trip == pytest.approx(0.004)


async def test_a_failed_refresh_keeps_the_last_offset() -> None:
    local = [1000.0]
    broker = SkewedBroker(local, skew=-30.0)
    clock = BrokerClock(broker, local=lambda: local[0])  # type: ignore[arg-type]
    await clock.sync()
    broker.up = False
    with pytest.raises(BrokerUnavailable):
        await clock.sync()
    assert clock.offset == pytest.approx(-30.0)


async def test_offset_against_a_real_redis_is_within_the_round_trip(redis_url: str) -> None:
    broker = await open_broker(redis_url)
    try:
        clock = BrokerClock(broker)
        offset = await clock.sync()
        # Same machine: Redis' TIME and ours differ by less than a round trip (plus TIME's µs rounding).
        assert clock.round_trip is not None
        assert abs(offset) <= clock.round_trip + 0.001
        assert abs(clock.now() - time.time()) <= clock.round_trip + 0.001
    finally:
        await broker.close()


@pytest.mark.parametrize("refresh_every", [0, -1.0, float("inf"), float("nan"), True, "60"])
def test_refresh_interval_must_be_positive(refresh_every: Any) -> None:
    with pytest.raises(InvalidClockOption, match="refresh_every") as raised:
        BrokerClock(SkewedBroker([0.0], 0.0), refresh_every=refresh_every)  # type: ignore[arg-type]
    assert isinstance(raised.value, ValueError)  # a ValidationError is still a ValueError
    assert raised.value.field == "refresh_every"
