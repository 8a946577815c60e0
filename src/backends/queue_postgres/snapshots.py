"""Job rows as the Manager and the aggregator see them: ``JobInfo`` snapshots, and the
columns of a staged member's ``JobRecord`` (``codec.record`` decodes them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from queue_core import JobInfo, JobState
from queue_postgres.codec import decode_headers

#: The columns ``info`` reads, in order (sizes instead of the payload and result bytes).
INFO_COLUMNS = (
    "id, type, state, octet_length(payload), max_retries, retried, crashes, bounces, enqueued_at, headers, "
    "timeout, deadline, retention, grp, unique_name, pending_since, due_at, started_at, lease_expires_at, "
    "completed_at, expires_at, archived_at, last_error, last_failed_at, result IS NOT NULL, "
    "coalesce(octet_length(result), 0), depends_on, deps_left, dep_policy, traceback"
)
#: The columns ``codec.record`` reads, in order (the fields a worker or aggregator gets).
RECORD_COLUMNS = (
    "queue, id, lease, type, payload, max_retries, retried, timeout, deadline, retention, grp, unique_name, "
    "headers, enqueued_at, crashes, bounces, last_error"
)


def info(queue: str, row: Sequence[Any]) -> JobInfo:
    """A JobInfo from a row of ``INFO_COLUMNS``; times that do not belong to the job's
    state are left out."""
    (
        job_id, job_type, state_name, payload_size, max_retries, retried, crashes, bounces, enqueued_at, raw_headers,
        timeout, deadline, retention, group, unique_name, pending_since, due_at, started_at, lease_expires_at,
        completed_at, expires_at, archived_at, last_error, last_failed_at, has_result,
        result_size, depends_on, deps_left, dep_policy, traceback,
    ) = row  # fmt: skip
    state = JobState(state_name)
    return JobInfo(
        id=job_id,
        type=job_type,
        queue=queue,
        state=state,
        payload_size=int(payload_size),
        max_retries=int(max_retries),
        retried=int(retried),
        crashes=int(crashes),
        bounces=int(bounces),
        enqueued_at=float(enqueued_at),
        headers=decode_headers(raw_headers),
        timeout=timeout,
        deadline=deadline,
        retention=float(retention or 0.0),
        group=group,
        unique_key=unique_name,
        next_process_at=(
            due_at
            if state in (JobState.SCHEDULED, JobState.RETRY)
            else pending_since
            if state is JobState.PENDING
            else None
        ),
        started_at=started_at if state is JobState.ACTIVE else None,
        lease_expires_at=lease_expires_at if state is JobState.ACTIVE else None,
        completed_at=completed_at if state is JobState.COMPLETED else None,
        expires_at=expires_at if state is JobState.COMPLETED else None,
        archived_at=archived_at if state is JobState.ARCHIVED else None,
        last_error=last_error,
        last_failed_at=last_failed_at,
        has_result=bool(has_result),
        result_size=int(result_size),
        depends_on=tuple(depends_on or ()),
        waiting_for=int(deps_left or 0),
        on_dependency_failure=dep_policy if depends_on else None,
        last_traceback=traceback,
    )
