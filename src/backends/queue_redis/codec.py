"""Job records <-> Redis hash fields.

A job is one hash with plain fields. Numbers are stored as decimal strings, optional
values as ''. Payload and result bytes are stored as given: never re-encoded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from queue_core import Job, JobInfo, JobRecord, JobState

T = TypeVar("T")

#: how the ``last_error`` of a record archived for damage begins.
MALFORMED = "malformed job record: "

# The order dequeue.lua returns fields in (after id and token).
RECORD_FIELDS = (
    "type",
    "payload",
    "max_retries",
    "retried",
    "timeout",
    "deadline",
    "retention",
    "group",
    "unique_name",
    "headers",
    "enqueued",
    "crashes",
    "bounces",
    "last_error",
)


def num(value: float | int | None) -> str:
    """A number as Redis should store it: repr keeps every bit of a float."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _strict_float(value: bytes | str | None) -> float | None:
    raw = text(value)
    return float(raw) if raw else None


def _strict_int(value: bytes | str | None) -> int:
    raw = text(value)
    return int(raw) if raw else 0


def _strict_headers(value: bytes | str | None) -> dict[str, str]:
    raw = text(value)
    if not raw:
        return {}
    decoded = json.loads(raw)
    if not isinstance(decoded, dict) or not all(isinstance(v, str) for v in decoded.values()):
        raise ValueError("headers are not a JSON object of strings")
    return decoded


def encode_headers(headers: Mapping[str, str]) -> str:
    return json.dumps(dict(headers), separators=(",", ":"), sort_keys=True) if headers else ""


def job_args(
    job: Job, state: JobState, due_at: float, lock_key: str, lock_until: float | None, now: float
) -> list[Any]:
    """The per-job values enqueue.lua expects (see its header): seven fixed values, then
    only the optional fields that are set, as name/value pairs. Fewer arguments make a
    cheaper call on both sides, and an empty field is not stored at all."""
    assert job.job_id is not None
    optional: list[Any] = []
    if job.timeout is not None:
        optional += ("timeout", num(job.timeout))
    if job.deadline is not None:
        optional += ("deadline", num(job.deadline))
    if job.retention:
        optional += ("retention", num(job.retention))
    if job.group:
        optional += ("group", job.group)
    if job.headers:
        optional += ("headers", encode_headers(job.headers))
    if job.depends_on:
        optional += ("deps", ",".join(job.depends_on), "dep_policy", job.on_dependency_failure)
    if lock_key:
        optional += ("unique", lock_key, "unique_until", num(lock_until), "unique_name", job.lock_key or "")
    return [
        job.job_id,
        job.type,
        job.payload,
        str(job.max_retries),
        state.value,
        "" if due_at == now else num(due_at),
        len(optional) // 2,
        *optional,
    ]


def record(job_id: str, queue: str, values: Sequence[bytes | None]) -> JobRecord:
    """A JobRecord from dequeue.lua's fields; an undecodable one is marked malformed."""
    fields = dict(zip(RECORD_FIELDS, values, strict=True))
    try:
        return JobRecord(
            id=job_id,
            type=text(fields["type"]),
            queue=queue,
            payload=bytes(fields["payload"] or b""),
            max_retries=_strict_int(fields["max_retries"]),
            retried=_strict_int(fields["retried"]),
            timeout=_strict_float(fields["timeout"]),
            deadline=_strict_float(fields["deadline"]),
            retention=_strict_float(fields["retention"]) or 0.0,
            group=text(fields["group"]) or None,
            unique_key=text(fields["unique_name"]) or None,
            headers=_strict_headers(fields["headers"]),
            enqueued_at=_strict_float(fields["enqueued"]) or 0.0,
            crashes=_strict_int(fields["crashes"]),
            bounces=_strict_int(fields["bounces"]),
            last_error=text(fields["last_error"]) or None,
        )
    except (ValueError, UnicodeDecodeError) as exc:
        return JobRecord(
            id=job_id,
            type=_lenient_text(fields["type"]),
            queue=queue,
            payload=bytes(fields["payload"] or b""),
            max_retries=0,
            malformed=str(exc),
        )


def _lenient_text(value: bytes | None) -> str:
    return (value or b"").decode(errors="replace")


def _lenient(parse: Callable[[bytes | str | None], T], value: bytes | str | None, default: T) -> T:
    try:
        return parse(value)
    except (ValueError, UnicodeDecodeError):
        return default


#: what an id listed without a record, or a job key of another type, reads as.
_KEY_DAMAGE = {"none": "no record behind its id"}


def damaged(job_id: str, queue: str, state: JobState, kind: str) -> JobInfo:
    """The JobInfo of a listed job whose key is not a hash (``kind`` is its TYPE)."""
    why = _KEY_DAMAGE.get(kind, f"its key holds a {kind}, not a hash")
    return JobInfo(
        id=job_id,
        type="",
        queue=queue,
        state=state,
        payload_size=0,
        max_retries=0,
        retried=0,
        crashes=0,
        bounces=0,
        enqueued_at=0.0,
        malformed=why,
    )


def _damage(raw: Mapping[str, bytes]) -> str | None:
    """Why a job hash is damaged, or None: an archived record that was found damaged
    says so in its ``last_error``; otherwise the first field that does not decode."""
    error = _lenient_text(raw.get("last_error"))
    if error.startswith(MALFORMED):
        return error.removeprefix(MALFORMED)
    if "raw" in raw:
        return error or "its key was not a hash"
    try:
        for name in ("state", "type", "group", "unique_name"):
            text(raw.get(name))
        JobState(text(raw.get("state")))
        for name in ("max_retries", "retried", "crashes", "bounces"):
            _strict_int(raw.get(name))
        for name in ("enqueued", "timeout", "deadline", "retention", "due_at", "pending_since"):
            _strict_float(raw.get(name))
        _strict_headers(raw.get("headers"))
    except (ValueError, UnicodeDecodeError) as exc:
        return str(exc)
    return None


def info(
    job_id: str,
    queue: str,
    fields: Mapping[bytes, bytes],
    lease_expiry: float | None,
    held_in: JobState | None = None,
) -> JobInfo:
    """A JobInfo from a job hash; timestamps that do not belong to the state are left out.

    Inspection must work on a damaged record too (that is how an operator finds it), so
    a field that does not decode reads as empty instead of failing the whole snapshot,
    and ``malformed`` says what is wrong. ``held_in``: the state of the container the id
    was listed from, used when the record's own state does not decode.
    """
    raw = {k.decode(): v for k, v in fields.items()}

    def get(name: str) -> bytes | None:
        return raw.get(name)

    def _int(value: bytes | str | None) -> int:
        return _lenient(_strict_int, value, 0)

    def _float(value: bytes | str | None) -> float | None:
        return _lenient(_strict_float, value, None)

    def _headers(value: bytes | str | None) -> dict[str, str]:
        return _lenient(_strict_headers, value, {})

    state = _lenient(lambda value: JobState(text(value)), get("state"), held_in or JobState.ARCHIVED)
    result = get("result")
    return JobInfo(
        id=job_id,
        type=_lenient_text(get("type")),
        queue=queue,
        state=state,
        payload_size=len(get("payload") or b""),
        max_retries=_int(get("max_retries")),
        retried=_int(get("retried")),
        crashes=_int(get("crashes")),
        bounces=_int(get("bounces")),
        enqueued_at=_float(get("enqueued")) or 0.0,
        headers=_headers(get("headers")),
        timeout=_float(get("timeout")),
        deadline=_float(get("deadline")),
        retention=_float(get("retention")) or 0.0,
        group=_lenient_text(get("group")) or None,
        unique_key=_lenient_text(get("unique_name")) or None,
        next_process_at=(
            _float(get("due_at"))
            if state in (JobState.SCHEDULED, JobState.RETRY)
            # a job pending since its enqueue has no pending_since (see store_job)
            else _float(get("pending_since") or get("enqueued"))
            if state is JobState.PENDING
            else None
        ),
        started_at=_float(get("started_at")) if state is JobState.ACTIVE else None,
        lease_expires_at=lease_expiry if state is JobState.ACTIVE else None,
        completed_at=_float(get("completed_at")) if state is JobState.COMPLETED else None,
        expires_at=_float(get("expires_at")) if state is JobState.COMPLETED else None,
        archived_at=_float(get("archived_at")) if state is JobState.ARCHIVED else None,
        last_error=_lenient_text(get("last_error")) or None,
        last_failed_at=_float(get("last_failed_at")),
        has_result=result is not None,
        result_size=len(result or b""),
        depends_on=tuple(_lenient_text(get("deps")).split(",")) if get("deps") else (),
        waiting_for=_int(get("deps_left")),
        on_dependency_failure=_lenient_text(get("dep_policy")) or None,
        malformed=_damage(raw),
        last_traceback=_lenient_text(get("traceback")) or None,
    )


def dependency_results(fields: Mapping[bytes, bytes]) -> dict[str, bytes]:
    """The results copied onto a job from its dependencies (fields ``r:<dependency id>``)."""
    return {name[2:].decode(): value for name, value in fields.items() if name.startswith(b"r:")}
