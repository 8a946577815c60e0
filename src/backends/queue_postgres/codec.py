"""Jobs and records <-> the arguments and rows of the SQL transitions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from queue_core import EnqueueOutcome, EnqueueStatus, InvalidJobId, Job, JobRecord, JobState


def encode_headers(headers: Mapping[str, str]) -> str | None:
    return json.dumps(dict(headers), separators=(",", ":"), sort_keys=True) if headers else None


def decode_headers(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    decoded = json.loads(raw)
    return dict(decoded) if isinstance(decoded, dict) else {}


def job_item(job: Job, state: JobState, due_at: float, now: float) -> dict[str, Any]:
    """The object enqueue.sql takes for one job (see its header): fixed values, then only
    the optional ones that are set."""
    if job.job_id is None:
        raise InvalidJobId("job_id", None, "an ID on every job passed to Broker.enqueue (use Job.with_id())")
    item: dict[str, Any] = {
        "queue": job.queue,
        "id": job.job_id,
        "type": job.type,
        "max_retries": job.max_retries,
        "state": state.value,
        "due_at": None if due_at == now else due_at,
    }
    if job.timeout is not None:
        item["timeout"] = job.timeout
    if job.deadline is not None:
        item["deadline"] = job.deadline
    if job.retention:
        item["retention"] = job.retention
    if job.group:
        item["group"] = job.group
    if job.headers:
        item["headers"] = encode_headers(job.headers)
    if job.depends_on:
        item["deps"] = list(job.depends_on)
        item["dep_policy"] = str(job.on_dependency_failure)
    lock = job.lock_key
    if lock is not None and job.unique_for is not None:
        # The lock runs from the job's process time: a schedule_at in the past may leave
        # it already free (docs/broker-protocol.md, enqueue).
        item["unique"] = lock
        item["unique_until"] = job.process_at(now) + job.unique_for
    return item


def outcome(job: Job, state: JobState, code: int, detail: str) -> EnqueueOutcome:
    """Decode one [code, detail] of enqueue.sql; ``state`` is where the job would enter
    without dependencies."""
    assert job.job_id is not None
    if code == 1:
        return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.ID_CONFLICT)
    if code == 2:
        return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.DUPLICATE, holder=detail or None)
    if code == 4:
        return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.DEPENDENCY_MISSING, missing=detail)
    if code == 5:
        return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.FLOW_REJECTED)
    # the function names the state when the job's dependencies decided it
    return EnqueueOutcome(job.job_id, job.queue, EnqueueStatus.ENQUEUED, state=JobState(detail) if detail else state)


def record(row: tuple[Any, ...]) -> JobRecord:
    """A JobRecord from a row of dequeue.sql (after queue, id and token)."""
    (queue, job_id, _token, type_, payload, max_retries, retried, timeout, deadline, retention, group,
     unique_name, headers, enqueued_at, crashes, bounces, last_error) = row  # fmt: skip
    try:
        decoded_headers = decode_headers(headers)
        malformed = None
    except ValueError as exc:
        decoded_headers, malformed = {}, str(exc)
    return JobRecord(
        id=job_id,
        type=type_,
        queue=queue,
        payload=bytes(payload),
        max_retries=max_retries,
        retried=retried,
        timeout=timeout,
        deadline=deadline,
        retention=retention or 0.0,
        group=group,
        unique_key=unique_name,
        headers=decoded_headers,
        enqueued_at=enqueued_at,
        crashes=crashes,
        bounces=bounces,
        last_error=last_error,
        malformed=malformed,
    )
