"""Rate limits: how many attempts may start per second.

::

    Worker(url, rate_limit=RateLimit(50, burst=10))              # this worker, all types
    worker.register("sms", send_sms, rate_limit=RateLimit(5))   # this worker, this type
    worker.register("partner", call, rate_limit=RateLimit(20, key="partner-api"))  # every worker together

A ``RateLimit`` without a ``key`` is a token bucket in this process. With a ``key`` it
is one bucket in the broker (``Broker.take_tokens``), shared by every worker that names
the same key, so N worker processes together start at most ``rate`` attempts per
second (plus the burst).

When a limit refuses a job, the job goes back (``RETRY`` without using a retry or
counting a failure) until about when a token is free. Refusals from one process are
spread one token interval apart, so a backlog comes back at the limit's pace instead
of all at once. A refusal is the worker's decision, not the job's fault, so it is not
bounded by ``max_bounces``.

Limits are checked before the middleware and the handler run, worker limit first: a
job the worker limit refuses takes no token from the handler's limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from queue_core import errors, validation
from queue_core.broker import Broker


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``rate`` attempts per second, with bursts of up to ``burst``.

    ``key``: share the limit with every worker that uses the same key (through the
    broker); without it the limit is this process's own.
    """

    rate: float
    burst: int = 1
    key: str | None = None

    def __post_init__(self) -> None:
        rate = self.rate
        if not validation.is_number(rate) or rate <= 0:
            raise errors.InvalidWorkerOption("rate_limit.rate", rate, "a finite number of attempts per second > 0")
        if not validation.is_int(self.burst) or self.burst < 1:
            raise errors.InvalidWorkerOption("rate_limit.burst", self.burst, "an integer >= 1")
        if self.key is not None:
            validation.queue_name(self.key, "rate_limit.key")
        object.__setattr__(self, "rate", float(rate))

    @property
    def distributed(self) -> bool:
        return self.key is not None

    def __str__(self) -> str:
        where = f" shared as {self.key!r}" if self.key else ""
        return f"{self.rate:g}/s (burst {self.burst}){where}"


def checked(value: Any, field: str) -> RateLimit | None:
    if value is None or isinstance(value, RateLimit):
        return value
    raise errors.InvalidWorkerOption(field, value, "a RateLimit(rate, burst=..., key=...) or None")


class TokenBucket:
    """A token bucket in this process: ``burst`` tokens, refilled at ``rate`` per second."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at: float | None = None

    def take(self, now: float) -> float:
        """Take a token: 0 when taken, else the seconds until one is free."""
        if self._at is not None and now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now if self._at is None else max(self._at, now)
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate


class Limiter:
    """One ``RateLimit`` as the worker applies it: a local bucket or the broker's."""

    def __init__(self, limit: RateLimit, broker: Broker, scope: str) -> None:
        self.limit = limit
        self.scope = scope  # "worker" or "handler 'type'", for messages
        self._broker = broker
        self._bucket = None if limit.distributed else TokenBucket(limit.rate, limit.burst)
        self._next_slot = -math.inf

    async def take(self, now: float) -> float:
        """0 when the attempt may start; else how long to hold the job back.

        Raises the broker's error when a distributed limit cannot be consulted.
        """
        if self._bucket is not None:
            wait = self._bucket.take(now)
        else:
            assert self.limit.key is not None
            wait = await self._broker.take_tokens(self.limit.key, self.limit.rate, self.limit.burst, now)
        if wait <= 0:
            return 0.0
        # Hand out return times one token apart, so refused jobs do not all come back
        # together and get refused again.
        slot = max(self._next_slot, now + wait)
        self._next_slot = slot + 1 / self.limit.rate
        return slot - now


async def admit(limiters: Sequence[Limiter], now: float) -> tuple[float, Limiter | None]:
    """Check an attempt against ``limiters`` in order: ``(0, None)`` when every one let it
    through, else ``(delay, the limiter that refused)``. A refusal stops the check, so the
    limits after it keep their tokens."""
    for limiter in limiters:
        delay = await limiter.take(now)
        if delay > 0:
            return delay, limiter
    return 0.0, None
