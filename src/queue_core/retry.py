"""When a failed job runs again.

A retry policy is a plain function ``(retried, error) -> seconds``: ``retried`` is how
many retries the job has used so far (0 on its first failure) and ``error`` is what the
handler raised. The worker adds the delay to its clock's ``now`` to get the retry time.
A policy is set per handler (``worker.register(type, fn, retry_delay=...)``); without
one the worker uses ``default_backoff``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

from queue_core import errors, validation

#: ``(retried, error) -> seconds`` until the next attempt.
RetryPolicy = Callable[[int, BaseException], float]


def default_backoff(retried: int, error: BaseException | None = None) -> float:
    """Sidekiq's backoff: ``n**4 + 15 + uniform(0, 30) * (n + 1)`` seconds, ``n = retried``.

    The first retry comes after 15-45 s, the fifth after about 11-14 min, and 25
    retries span about three weeks. The random part spreads out jobs that failed
    together, so they do not all come back at the same instant.
    """
    n = max(0, retried)
    return float(n**4 + 15 + random.uniform(0, 30) * (n + 1))


def fixed(seconds: float) -> RetryPolicy:
    """A policy that always waits ``seconds`` (tests, demos, idempotent polling jobs).

    Raises ``InvalidRetryPolicy`` unless ``seconds`` is a finite number >= 0."""
    validation.seconds(seconds, "seconds", errors.InvalidRetryPolicy)

    def policy(retried: int, error: BaseException) -> float:
        return seconds

    return policy


def exponential(base: float = 1.0, *, factor: float = 2.0, cap: float = 3600.0, jitter: float = 0.1) -> RetryPolicy:
    """``base * factor**retried`` seconds, at most ``cap``, spread by +/- ``jitter`` (a fraction).

    Raises ``InvalidRetryPolicy`` naming the first argument out of its range."""
    validation.seconds(base, "base", errors.InvalidRetryPolicy)
    _at_least(factor, 1, "factor")
    validation.seconds(cap, "cap", errors.InvalidRetryPolicy)
    _at_least(jitter, 0, "jitter", at_most=1)

    def policy(retried: int, error: BaseException) -> float:
        try:
            delay = min(cap, base * factor ** max(0, retried))
        except OverflowError:
            delay = cap
        return delay * (1 + random.uniform(-jitter, jitter))

    return policy


def _at_least(value: Any, low: float, field: str, at_most: float = math.inf) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not low <= value <= at_most or math.isnan(value):
        upper = "" if at_most == math.inf else f" and <= {at_most:g}"
        raise errors.InvalidRetryPolicy(field, value, f"a number >= {low:g}{upper}")


def delay_for(policy: RetryPolicy | None, retried: int, error: BaseException) -> float:
    """Ask ``policy`` (or ``default_backoff``) for a delay in seconds.

    Raises ``ValueError`` when the policy answers something other than a finite number
    >= 0; the worker then logs the broken policy and falls back to ``default_backoff``,
    so a bad policy never strands a job.
    """
    if policy is None:
        return default_backoff(retried, error)
    delay = policy(retried, error)
    if not validation.is_number(delay) or delay < 0:
        raise ValueError(f"retry policy returned {delay!r}; expected a finite number of seconds >= 0")
    return float(delay)
