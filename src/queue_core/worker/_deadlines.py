"""When an attempt must end.

Three limits may apply to one attempt, and the earliest wins:

- the handler's ``timeout`` (``worker.register(type, fn, timeout=...)``), per attempt;
- the job's ``timeout`` (``Job(timeout=...)``), per attempt;
- the job's ``deadline`` (``Job(deadline=...)``), an absolute time for the whole job.

With none of them, an attempt gets ``DEFAULT_TIMEOUT`` (30 minutes), so a hung handler
never holds a job forever. An attempt that runs past its limit is cancelled and fails
with ``JobTimeout`` (retried like any failure). A job whose deadline has already passed
when a worker would take it is archived by the broker without running.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from queue_core.broker import JobRecord
from queue_core.job import DEFAULT_TIMEOUT


@dataclass(frozen=True, slots=True)
class AttemptDeadline:
    #: epoch seconds by which the attempt must end.
    at: float
    #: which limit set it, e.g. "handler timeout 5s" (for the failure message).
    limit: str


def attempt_deadline(record: JobRecord, now: float, handler_timeout: float | None = None) -> AttemptDeadline:
    """The earliest of the handler timeout, the job timeout and the job deadline."""
    candidates: list[AttemptDeadline] = []
    if handler_timeout is not None:
        candidates.append(AttemptDeadline(now + handler_timeout, f"handler timeout {handler_timeout:g}s"))
    if record.timeout is not None:
        candidates.append(AttemptDeadline(now + record.timeout, f"job timeout {record.timeout:g}s"))
    if record.deadline is not None:
        candidates.append(AttemptDeadline(record.deadline, f"job deadline {utc(record.deadline)}"))
    if not candidates:
        return AttemptDeadline(now + DEFAULT_TIMEOUT, f"default timeout {DEFAULT_TIMEOUT:g}s")
    return min(candidates, key=lambda candidate: candidate.at)


def utc(when: float) -> str:
    """Epoch seconds as an ISO 8601 UTC time to the millisecond, for messages."""
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
