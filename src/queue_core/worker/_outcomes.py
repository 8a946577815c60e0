"""How an attempt's result becomes a ``Settlement``: the worker's outcome rules in one place.

=====================================  ===============================================
handler did                            settlement
=====================================  ===============================================
returned ``value``                     COMPLETE (result = serialized value, or none for None)
raised ``SkipRetry``                   ARCHIVE now
raised ``SerializationError``          ARCHIVE now: the payload does not decode (or the
                                       result does not encode), and never will
raised ``Revoke``                      REVOKE (deleted, counted as processed)
raised ``TransientError``/``RateLimited``  RETRY at now + retry_after (or the policy's delay)
                                       without using a retry -- until the job has bounced
                                       ``max_bounces`` times; then as any other error
raised anything else                   RETRY at now + policy delay, or ARCHIVE once
                                       ``retried >= max_retries``
=====================================  ===============================================

Everything here is pure (no I/O) so the rules are tested without a broker.
"""

from __future__ import annotations

import logging

from queue_core.broker import Lease, Settlement
from queue_core.errors import Revoke, SerializationError, SkipRetry, TransientError
from queue_core.retry import RetryPolicy, default_backoff, delay_for

DEFAULT_MAX_BOUNCES = 100
MAX_ERROR_LENGTH = 4096


def describe(error: BaseException) -> str:
    """``"TypeName: message"`` (bounded), the form stored as a job's ``last_error``."""
    try:
        message = str(error)
    except Exception:  # an exception whose __str__ raises still gets a record
        message = "<unprintable error>"
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 3] + "..."


def success(lease: Lease, result: bytes | None) -> Settlement:
    return Settlement.complete(lease, result=result)


def failure(
    lease: Lease,
    error: BaseException,
    *,
    now: float,
    policy: RetryPolicy | None = None,
    max_bounces: int = DEFAULT_MAX_BOUNCES,
    log: logging.Logger | None = None,
) -> Settlement:
    """The settlement for an attempt that raised ``error`` (see the module table)."""
    record = lease.record
    if isinstance(error, SkipRetry | SerializationError):
        return Settlement.archive(lease, describe(error))
    if isinstance(error, Revoke):
        return Settlement.revoke(lease)
    if isinstance(error, TransientError) and record.bounces < max_bounces:
        if error.retry_after is not None:
            delay = error.retry_after
        else:
            delay = _delay(policy, record.retried, error, log)
        return Settlement.retry(lease, now + delay, describe(error), counts_as_failure=False)
    if record.retried >= record.max_retries:
        return Settlement.archive(lease, describe(error))
    return Settlement.retry(lease, now + _delay(policy, record.retried, error, log), describe(error))


def _delay(policy: RetryPolicy | None, retried: int, error: BaseException, log: logging.Logger | None) -> float:
    try:
        return delay_for(policy, retried, error)
    except Exception:
        (log or logging.getLogger("queue_core")).exception("retry policy %r failed; using the default backoff", policy)
        return default_backoff(retried, error)
