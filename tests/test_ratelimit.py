"""Rate limits: local token buckets, the broker's shared bucket, and the worker applying them.

Time is a ManualClock throughout: the buckets refill as the clock moves, and the tests
count attempt starts against the clock, never against the wall.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from queue_core import Broker, RateLimit, Worker
from queue_core.errors import InvalidQueueName, InvalidWorkerOption
from queue_core.ratelimit import Limiter, TokenBucket, admit
from tests.worker_kit import (
    NOW,
    HookRecorder,
    fresh_broker,
    lambda_async,
    recording_hooks,
)


@pytest.fixture
async def broker(broker_url: str) -> AsyncIterator[Broker]:
    async with fresh_broker(broker_url) as opened:
        yield opened


@pytest.fixture
async def hooks() -> AsyncIterator[HookRecorder]:
    async with recording_hooks() as recorder:
        yield recorder


# --------------------------------------------------------------------------- buckets


def test_a_bucket_gives_its_burst_then_one_token_per_interval() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.take(NOW) for _ in range(3)] == [0, 0, 0]
    assert bucket.take(NOW) == pytest.approx(0.5)  # the next token comes in 1/rate s
    assert bucket.take(NOW + 0.25) == pytest.approx(0.25)
    assert bucket.take(NOW + 0.5) == 0
    assert bucket.take(NOW + 100) == 0  # refilled, but never beyond the burst
    assert [bucket.take(NOW + 100) for _ in range(3)] == [0, 0, pytest.approx(0.5)]


def test_a_clock_going_backwards_mints_no_tokens() -> None:
    bucket = TokenBucket(rate=1.0, burst=1)
    assert bucket.take(NOW) == 0
    assert bucket.take(NOW - 50) > 0
    assert bucket.take(NOW) > 0


async def test_refusals_are_spread_one_token_apart() -> None:
    limiter = Limiter(RateLimit(4, burst=1), broker=None, scope="worker")  # type: ignore[arg-type]
    assert await limiter.take(NOW) == 0
    delays = [await limiter.take(NOW) for _ in range(4)]
    assert delays == pytest.approx([0.25, 0.5, 0.75, 1.0])  # not four jobs back at NOW + 0.25


async def test_admission_stops_at_the_first_refusal_so_later_limits_keep_their_tokens() -> None:
    worker_limit = Limiter(RateLimit(1, burst=1), broker=None, scope="worker")  # type: ignore[arg-type]
    handler_limit = Limiter(RateLimit(1, burst=1), broker=None, scope="handler")  # type: ignore[arg-type]
    assert await admit([worker_limit, handler_limit], NOW) == (0, None)
    delay, refused_by = await admit([worker_limit, handler_limit], NOW + 0.5)
    assert refused_by is worker_limit and delay == pytest.approx(0.5)
    # the handler bucket still holds the token it refilled: only the worker's was short
    assert await handler_limit.take(NOW + 1.0) == 0


@pytest.mark.parametrize(
    ("options", "field"),
    [({"rate": 0}, "rate_limit.rate"), ({"rate": float("inf")}, "rate_limit.rate"),
     ({"rate": 1, "burst": 0}, "rate_limit.burst"), ({"rate": 1, "burst": 1.5}, "rate_limit.burst")],
)  # fmt: skip
def test_bad_rate_limits_are_rejected_naming_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidWorkerOption) as caught:
        RateLimit(**options)
    assert caught.value.field == field


def test_a_shared_key_must_be_a_safe_name() -> None:
    with pytest.raises(InvalidQueueName):
        RateLimit(1, key="bad}key")


def test_a_rate_limit_option_must_be_a_rate_limit() -> None:
    with pytest.raises(InvalidWorkerOption, match="RateLimit"):
        Worker("memory://", rate_limit=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidWorkerOption, match="RateLimit"):
        Worker("memory://").register("t", lambda_async(lambda d: None), rate_limit=(1, 2))  # type: ignore[arg-type]
