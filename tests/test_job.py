"""Job: validation of every field, the content digest, the unique-lock key, immutability."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from queue_core import JSON, Job, content_digest, new_job_id
from queue_core.errors import (
    InvalidDeadline,
    InvalidGroupName,
    InvalidHeaders,
    InvalidJobId,
    InvalidJobType,
    InvalidMaxRetries,
    InvalidPayload,
    InvalidQueueName,
    InvalidRetention,
    InvalidSchedule,
    InvalidTimeout,
    InvalidUniqueOption,
    SerializationError,
    ValidationError,
)


def test_defaults() -> None:
    job = Job("email.send")
    assert (job.queue, job.max_retries, job.payload, job.retention) == ("default", 25, b"", 0.0)
    assert job.job_id is None and job.unique_for is None and job.lock_key is None
    assert dict(job.headers) == {}


def test_create_encodes_the_payload_with_the_serializer() -> None:
    job = Job.create("t", {"b": 1, "a": [1, 2]})
    assert job.payload == b'{"a":[1,2],"b":1}'  # compact, sorted keys: equal values, equal bytes
    assert JSON.loads(job.payload) == {"a": [1, 2], "b": 1}


def test_create_rejects_bytes_and_unknown_options() -> None:
    with pytest.raises(InvalidPayload):
        Job.create("t", b"raw")
    with pytest.raises(ValidationError, match="options"):
        Job.create("t", 1, retires=3)


def test_create_rejects_values_the_serializer_cannot_encode() -> None:
    with pytest.raises(SerializationError, match="JSON"):
        Job.create("t", {"when": datetime.now(UTC)})


@pytest.mark.parametrize(
    ("options", "error", "field"),
    [
        ({"type": ""}, InvalidJobType, "type"),
        ({"type": "a\nb"}, InvalidJobType, "type"),
        ({"type": "x" * 257}, InvalidJobType, "type"),
        ({"queue": ""}, InvalidQueueName, "queue"),
        ({"queue": "{other}"}, InvalidQueueName, "queue"),
        ({"queue": "has space"}, InvalidQueueName, "queue"),
        ({"queue": "q" * 129}, InvalidQueueName, "queue"),
        ({"payload": "text"}, InvalidPayload, "payload"),
        ({"max_retries": -1}, InvalidMaxRetries, "max_retries"),
        ({"max_retries": True}, InvalidMaxRetries, "max_retries"),
        ({"max_retries": 2.0}, InvalidMaxRetries, "max_retries"),
        ({"delay": -1}, InvalidSchedule, "delay"),
        ({"delay": float("nan")}, InvalidSchedule, "delay"),
        ({"schedule_at": datetime(2030, 1, 1)}, InvalidSchedule, "schedule_at"),  # naive
        ({"schedule_at": -5}, InvalidSchedule, "schedule_at"),
        ({"deadline": "tomorrow"}, InvalidDeadline, "deadline"),
        ({"timeout": 0}, InvalidTimeout, "timeout"),
        ({"retention": -1}, InvalidRetention, "retention"),
        ({"unique_for": 0}, InvalidUniqueOption, "unique_for"),
        ({"unique_key": "k"}, InvalidUniqueOption, "unique_key"),  # without unique_for
        ({"job_id": "a/b"}, InvalidJobId, "job_id"),
        ({"job_id": "{x}"}, InvalidJobId, "job_id"),
        ({"group": "g{1}"}, InvalidGroupName, "group"),
        ({"headers": {"k": 1}}, InvalidHeaders, "headers['k']"),
        ({"headers": {"": "v"}}, InvalidHeaders, "headers['']"),
        ({"headers": {str(i): "v" for i in range(65)}}, InvalidHeaders, "headers"),
    ],
)
def test_each_bad_field_raises_its_own_error_naming_the_field(
    options: dict[str, Any], error: type[ValidationError], field: str
) -> None:
    options = {"type": "t", **options}
    with pytest.raises(error) as caught:
        Job(**options)
    assert caught.value.field == field
    assert "expected" in str(caught.value)  # the message says what would be accepted


def test_durations_and_instants_accept_timedelta_and_aware_datetime() -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    job = Job("t", delay=timedelta(minutes=2), schedule_at=when, retention=timedelta(hours=1), timeout=1)
    assert (job.delay, job.schedule_at, job.retention, job.timeout) == (120.0, when.timestamp(), 3600.0, 1.0)
    assert isinstance(job.timeout, float)


def test_max_retries_zero_means_no_retries_not_the_default() -> None:
    assert Job("t", max_retries=0).max_retries == 0


def test_process_at_prefers_schedule_at_and_treats_the_past_as_now() -> None:
    now = 1000.0
    assert Job("t").process_at(now) == now
    assert Job("t", delay=5).process_at(now) == 1005.0
    assert Job("t", delay=5, schedule_at=2000).process_at(now) == 2000.0
    assert Job("t", schedule_at=10).process_at(now) == 10.0  # in the past: due now (enqueue sees <= now)


def test_the_digest_covers_type_and_payload_only() -> None:
    a = Job.create("t", {"x": 1}, queue="a", max_retries=1)
    b = Job.create("t", {"x": 1}, queue="b", retention=5)
    assert a.digest == b.digest == content_digest("t", b'{"x":1}')
    assert a.digest != Job.create("u", {"x": 1}).digest
    assert a.digest != Job.create("t", {"x": 2}).digest
    # the separator keeps ("ab", "c") and ("a", "bc") apart
    assert content_digest("ab", b"c") != content_digest("a", b"bc")
    assert len(a.digest) == 64 and int(a.digest, 16) >= 0


def test_the_lock_key_defaults_to_type_and_digest() -> None:
    job = Job.create("t", [1], unique_for=60)
    assert job.lock_key == f"t:{job.digest}"
    assert Job("t", unique_for=60, unique_key="user:1").lock_key == "user:1"


def test_jobs_are_immutable_and_hashable() -> None:
    job = Job("t", headers={"a": "b"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.queue = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        job.headers["c"] = "d"  # type: ignore[index]
    source = {"k": "v"}
    copied = Job("t", headers=source)
    source["k"] = "changed"
    assert copied.headers["k"] == "v"  # the job took a copy
    assert Job("t", b"1") == Job("t", b"1")


def test_with_id_assigns_once_and_with_options_revalidates() -> None:
    job = Job("t")
    first = job.with_id()
    assert first.job_id and first.with_id() is first
    assert job.job_id is None  # the original is untouched
    assert Job("t", job_id="mine").with_id().job_id == "mine"
    assert first.with_options(queue="other").queue == "other"
    with pytest.raises(InvalidQueueName):
        first.with_options(queue="bad name")


def test_new_job_ids_are_distinct_and_valid() -> None:
    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000
    for job_id in list(ids)[:10]:
        Job("t", job_id=job_id)  # accepted by validation
