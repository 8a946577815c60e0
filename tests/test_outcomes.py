"""interpret: how an attempt's end (what the handler did, why the worker stopped it) becomes a Verdict.

Pure: no broker, no worker, no event loop.
"""

from __future__ import annotations

import math

import pytest

from queue_core import JSON, JobRecord, Lease, SettleKind
from queue_core.errors import JobCancelled, JobTimeout, LeaseLost, SerializationError
from queue_core.retry import fixed
from queue_core.worker._leases import StopReason
from queue_core.worker._outcomes import CANCELLED, AttemptEnd, Verdict, interpret

NOW = 1_000_000.0


def lease(*, retried: int = 0, max_retries: int = 3) -> Lease:
    record = JobRecord(id="j1", type="t", queue="default", payload=b"", max_retries=max_retries, retried=retried)
    return Lease(record, token="w:1", expires_at=NOW + 30)


def judge(end: AttemptEnd, *, retried: int = 0, max_retries: int = 3) -> Verdict:
    return interpret(lease(retried=retried, max_retries=max_retries), end, serializer=JSON, now=NOW, policy=fixed(5))


def test_a_returned_value_completes_with_it_serialized() -> None:
    verdict = judge(AttemptEnd(value={"ok": 1}))
    assert verdict.error is None
    assert verdict.settlement is not None
    assert (verdict.settlement.kind, verdict.settlement.result) == (SettleKind.COMPLETE, b'{"ok":1}')


def test_none_completes_without_a_result() -> None:
    verdict = judge(AttemptEnd(value=None))
    assert verdict.settlement is not None and verdict.settlement.kind is SettleKind.COMPLETE
    assert verdict.settlement.result is None


def test_a_result_that_does_not_encode_is_archived_as_a_serialization_error() -> None:
    verdict = judge(AttemptEnd(value=math.nan))
    assert isinstance(verdict.error, SerializationError)
    assert verdict.settlement is not None and verdict.settlement.kind is SettleKind.ARCHIVE


def test_an_error_is_retried_by_the_policy_until_the_retries_run_out() -> None:
    retried = judge(AttemptEnd(error=KeyError("k")))
    assert retried.settlement is not None and retried.settlement.kind is SettleKind.RETRY
    assert retried.settlement.retry_at == NOW + 5
    archived = judge(AttemptEnd(error=KeyError("k")), retried=3, max_retries=3)
    assert archived.settlement is not None and archived.settlement.kind is SettleKind.ARCHIVE
    assert isinstance(archived.error, KeyError)


@pytest.mark.parametrize("error", [None, RuntimeError("on the way out")])
def test_a_lost_lease_writes_nothing_whatever_the_handler_did(error: BaseException | None) -> None:
    verdict = judge(AttemptEnd(error=error, stop=StopReason.LEASE_LOST, interrupted=True))
    assert verdict.settlement is None
    assert isinstance(verdict.error, LeaseLost)


def test_a_lease_lost_raised_by_the_handler_is_kept_as_is() -> None:
    raised = LeaseLost("fenced")
    verdict = judge(AttemptEnd(error=raised))
    assert verdict.settlement is None and verdict.error is raised


def test_a_fatal_writes_nothing_and_is_handed_back() -> None:
    fatal = KeyboardInterrupt()
    verdict = judge(AttemptEnd(fatal=fatal))
    assert verdict.settlement is None and verdict.error is fatal


def test_a_shutdown_requeues_without_an_error() -> None:
    verdict = judge(AttemptEnd(stop=StopReason.SHUTDOWN, interrupted=True))
    assert verdict.settlement is not None and verdict.settlement.kind is SettleKind.REQUEUE
    assert verdict.error is None


def test_a_cancel_archives_with_the_cancelled_reason() -> None:
    verdict = judge(AttemptEnd(error=RuntimeError("cleanup failed"), stop=StopReason.CANCELLED))
    assert verdict.settlement is not None and verdict.settlement.kind is SettleKind.ARCHIVE
    assert verdict.settlement.error == CANCELLED
    assert isinstance(verdict.error, JobCancelled)


def test_a_deadline_is_a_job_timeout_naming_the_limit() -> None:
    verdict = judge(AttemptEnd(stop=StopReason.TIMEOUT, interrupted=True, limit="job timeout 5s"))
    assert isinstance(verdict.error, JobTimeout)
    assert verdict.error.limit == "job timeout 5s"
    assert verdict.settlement is not None and verdict.settlement.kind is SettleKind.RETRY


def test_a_stop_the_handler_outran_does_not_change_its_result() -> None:
    # The worker asked to stop, but the handler returned before the scope noticed.
    verdict = judge(AttemptEnd(value=1, stop=StopReason.SHUTDOWN, interrupted=False))
    assert verdict.settlement is not None and verdict.settlement.kind is SettleKind.COMPLETE
