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

An attempt the worker interrupted is judged by why it stopped it, first: a lost lease
writes nothing, a shutdown requeues the job at the head, an operator's cancel archives it,
and a deadline makes the attempt a ``JobTimeout`` failure. A handler that raised
``KeyboardInterrupt`` or ``SystemExit`` writes nothing either: the worker stops, and the
lease runs out (a crash, bounded by ``max_crashes``).

Everything here is pure (no I/O) so the rules are tested without a broker: ``interpret``
takes an ``AttemptEnd`` and returns a ``Verdict``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from queue_core.broker import Lease, Settlement
from queue_core.errors import (
    JobCancelled,
    JobTimeout,
    LeaseLost,
    QueueError,
    Revoke,
    SerializationError,
    SkipRetry,
    TransientError,
)
from queue_core.retry import RetryPolicy, default_backoff, delay_for
from queue_core.serialization import Serializer, encode
from queue_core.worker._leases import StopReason

DEFAULT_MAX_BOUNCES = 100
MAX_ERROR_LENGTH = 4096
#: the reason a cancelled job is archived with.
CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class AttemptEnd:
    """How one attempt ended, as the runner saw it."""

    #: what the handler returned (when it returned).
    value: Any = None
    #: what the handler chain raised, an ordinary failure.
    error: BaseException | None = None
    #: ``KeyboardInterrupt`` or ``SystemExit`` raised by the handler.
    fatal: BaseException | None = None
    #: why the worker stopped the attempt, if it did.
    stop: StopReason | None = None
    #: the attempt's cancel scope caught the worker's stop.
    interrupted: bool = False
    #: the limit that set the attempt's deadline, e.g. "job timeout 5s".
    limit: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to write for an attempt, and the error it is recorded with."""

    #: None: nothing is written (the lease was lost, or the handler raised a fatal).
    settlement: Settlement | None
    #: the failure to log and report (None on success or shutdown).
    error: BaseException | None


def interpret(
    lease: Lease,
    end: AttemptEnd,
    *,
    serializer: Serializer,
    now: float,
    policy: RetryPolicy | None = None,
    max_bounces: int = DEFAULT_MAX_BOUNCES,
    log: logging.Logger | None = None,
) -> Verdict:
    """The settlement for an attempt that ended as ``end`` says (see the module text)."""
    if end.stop is StopReason.LEASE_LOST or isinstance(end.error, LeaseLost):
        lost = end.error if isinstance(end.error, LeaseLost) else LeaseLost(f"job {lease.record.id!r} lost its lease")
        return Verdict(None, lost)
    if end.fatal is not None:
        return Verdict(None, end.fatal)
    error = end.error
    if end.stop is not None and (end.interrupted or error is not None):
        # The worker interrupted the handler: why decides the outcome, whatever the
        # handler raised on its way out.
        if end.stop is StopReason.SHUTDOWN:
            return Verdict(Settlement.requeue(lease), None)
        if end.stop is StopReason.CANCELLED:
            return Verdict(Settlement.archive(lease, CANCELLED), JobCancelled(f"job {lease.record.id!r} was cancelled"))
        error = JobTimeout(f"attempt ran past its {end.limit}", limit=end.limit)
    if error is None:
        try:
            result = None if end.value is None else encode(serializer, end.value)
        except QueueError as exc:
            error = exc
        else:
            return Verdict(success(lease, result), None)
    return Verdict(failure(lease, error, now=now, policy=policy, max_bounces=max_bounces, log=log), error)


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
