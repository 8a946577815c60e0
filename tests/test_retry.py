"""Retry policies and the outcome rules that turn an attempt's result into a Settlement."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator

import pytest

from queue_core import JobRecord, Lease, RateLimited, Revoke, SettleKind, SkipRetry, TransientError
from queue_core.errors import InvalidRetryPolicy, ValidationError
from queue_core.retry import default_backoff, delay_for, exponential, fixed
from queue_core.worker._outcomes import describe, failure, success

NOW = 1_000_000.0


@pytest.fixture(autouse=True)
def _seeded() -> Iterator[None]:
    import random

    state = random.getstate()
    random.seed(1234)
    yield
    random.setstate(state)


# --------------------------------------------------------------------------- policies


@pytest.mark.parametrize(
    ("n", "low", "high"), [(0, 15, 45), (1, 16, 76), (2, 31, 121), (5, 640, 820), (24, 331791, 332541)]
)
def test_default_backoff_follows_the_sidekiq_formula(n: int, low: float, high: float) -> None:
    delays = [default_backoff(n, RuntimeError()) for _ in range(2000)]
    assert all(low <= d <= high for d in delays)
    # the random part actually spreads: both ends of the range are reached
    spread = high - low
    assert min(delays) < low + spread * 0.1 and max(delays) > high - spread * 0.1


def test_default_backoff_grows_with_retries() -> None:
    means = [sum(default_backoff(n) for _ in range(500)) / 500 for n in range(10)]
    assert means == sorted(means)


def test_fixed_and_exponential_policies() -> None:
    assert fixed(2.5)(7, RuntimeError()) == 2.5
    with pytest.raises(ValueError):
        fixed(-1)
    policy = exponential(1.0, factor=2.0, cap=100.0, jitter=0.0)
    assert [policy(n, RuntimeError()) for n in range(8)] == [1, 2, 4, 8, 16, 32, 64, 100]
    assert policy(10_000, RuntimeError()) == 100  # no overflow far past the cap
    jittered = exponential(10.0, jitter=0.5)
    assert all(5.0 <= jittered(0, RuntimeError()) <= 15.0 for _ in range(100))


@pytest.mark.parametrize(
    ("build", "field", "value"),
    [
        (lambda: fixed(-1), "seconds", -1),
        (lambda: fixed(math.inf), "seconds", math.inf),
        (lambda: exponential(-1.0), "base", -1.0),
        (lambda: exponential(factor=0.5), "factor", 0.5),
        (lambda: exponential(cap=-2.0), "cap", -2.0),
        (lambda: exponential(jitter=1.5), "jitter", 1.5),
        (lambda: exponential(factor="2"), "factor", "2"),
    ],
)
def test_a_bad_retry_policy_argument_is_a_validation_error_naming_it(
    build: Callable[[], object], field: str, value: object
) -> None:
    with pytest.raises(InvalidRetryPolicy) as raised:
        build()
    assert raised.value.field == field
    assert raised.value.value == value
    assert isinstance(raised.value, ValidationError)


def test_delay_for_validates_what_a_policy_returns() -> None:
    assert delay_for(fixed(3), 0, RuntimeError()) == 3.0
    assert 15 <= delay_for(None, 0, RuntimeError()) <= 45
    for bad in (-1, math.nan, math.inf, "5", None, True):
        with pytest.raises(ValueError):
            delay_for(lambda n, e, bad=bad: bad, 0, RuntimeError())  # type: ignore[misc]


# --------------------------------------------------------------------------- outcome rules


def lease(*, retried: int = 0, max_retries: int = 3, bounces: int = 0) -> Lease:
    record = JobRecord(
        id="j1", type="t", queue="default", payload=b"", max_retries=max_retries, retried=retried, bounces=bounces
    )
    return Lease(record, token="w:1", expires_at=NOW + 30)


def test_success_completes_with_the_result() -> None:
    settlement = success(lease(), b'"r"')
    assert (settlement.kind, settlement.result) == (SettleKind.COMPLETE, b'"r"')


def test_an_error_with_retries_left_is_retried_at_the_policy_delay() -> None:
    settlement = failure(lease(retried=1), KeyError("k"), now=NOW, policy=fixed(9))
    assert settlement.kind is SettleKind.RETRY
    assert settlement.retry_at == NOW + 9
    assert settlement.counts_as_failure
    assert settlement.error == "KeyError: 'k'"


def test_the_policy_sees_the_retries_used_so_far_and_the_error() -> None:
    seen: list[tuple[int, BaseException]] = []
    error = RuntimeError("x")

    def policy(retried: int, err: BaseException) -> float:
        seen.append((retried, err))
        return 1.0

    failure(lease(retried=2), error, now=NOW, policy=policy)
    assert seen == [(2, error)]


def test_without_a_policy_the_default_backoff_applies() -> None:
    settlement = failure(lease(), RuntimeError(), now=NOW)
    assert settlement.retry_at is not None and NOW + 15 <= settlement.retry_at <= NOW + 45


def test_an_error_with_no_retries_left_archives() -> None:
    settlement = failure(lease(retried=3, max_retries=3), RuntimeError("last"), now=NOW, policy=fixed(1))
    assert (settlement.kind, settlement.error) == (SettleKind.ARCHIVE, "RuntimeError: last")


def test_max_retries_zero_archives_the_first_failure() -> None:
    assert failure(lease(max_retries=0), RuntimeError(), now=NOW).kind is SettleKind.ARCHIVE


def test_skip_retry_archives_and_revoke_revokes_whatever_is_left() -> None:
    assert failure(lease(max_retries=25), SkipRetry("never"), now=NOW).kind is SettleKind.ARCHIVE
    assert failure(lease(max_retries=25), SkipRetry("never"), now=NOW).error == "SkipRetry: never"
    assert failure(lease(), Revoke(), now=NOW).kind is SettleKind.REVOKE


def test_a_rate_limit_bounces_after_retry_after_without_using_a_retry() -> None:
    settlement = failure(lease(retried=3, max_retries=3), RateLimited(12), now=NOW, policy=fixed(1))
    # even with no retries left: a bounce is not a failure
    assert (settlement.kind, settlement.retry_at, settlement.counts_as_failure) == (SettleKind.RETRY, NOW + 12, False)


def test_a_transient_error_without_retry_after_uses_the_policy_delay() -> None:
    settlement = failure(lease(), TransientError("busy"), now=NOW, policy=fixed(4))
    assert (settlement.retry_at, settlement.counts_as_failure) == (NOW + 4, False)


def test_bounces_past_max_bounces_count_as_failures() -> None:
    at_limit = lease(bounces=100)
    retried = failure(at_limit, RateLimited(5), now=NOW, policy=fixed(2), max_bounces=100)
    assert (retried.kind, retried.counts_as_failure, retried.retry_at) == (SettleKind.RETRY, True, NOW + 2)
    exhausted = lease(retried=3, max_retries=3, bounces=100)
    assert failure(exhausted, RateLimited(5), now=NOW, max_bounces=100).kind is SettleKind.ARCHIVE
    assert failure(lease(bounces=99), RateLimited(5), now=NOW, max_bounces=100).counts_as_failure is False


def test_a_broken_policy_falls_back_to_the_default_backoff(caplog: pytest.LogCaptureFixture) -> None:
    def broken(retried: int, error: BaseException) -> float:
        raise ZeroDivisionError

    with caplog.at_level(logging.ERROR, logger="queue_core"):
        settlement = failure(lease(), RuntimeError(), now=NOW, policy=broken)
    assert settlement.retry_at is not None and NOW + 15 <= settlement.retry_at <= NOW + 45
    assert "retry policy" in caplog.text


def test_rate_limited_rejects_a_negative_delay() -> None:
    with pytest.raises(ValidationError):
        RateLimited(-1)


def test_describe_bounds_the_stored_error() -> None:
    assert describe(ValueError()) == "ValueError"
    assert describe(ValueError("x")) == "ValueError: x"
    long = describe(ValueError("y" * 10_000))
    assert len(long) == 4096 and long.endswith("...")
