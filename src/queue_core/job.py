"""The job: an immutable description of work to enqueue.

A ``Job`` holds its payload already encoded (bytes from a ``Serializer``), so it can be
hashed, compared and stored without surprises. Build one with ``Job.create`` to encode a
Python value, or pass bytes directly.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from queue_core import errors, validation
from queue_core.serialization import JSON, Serializer, encode
from queue_core.states import DependencyPolicy

DEFAULT_QUEUE = "default"
DEFAULT_MAX_RETRIES = 25
# An attempt's limit when neither its handler nor the job sets one (see worker/_deadlines.py).
DEFAULT_TIMEOUT = 30 * 60.0
MAX_HEADERS = 64
MAX_UNIQUE_KEY_LENGTH = 256
#: Most dependencies one job may name (a fan-in of this many jobs is one callback).
MAX_DEPENDENCIES = 10_000
#: The header that asks for the previous job's result as the payload's ``previous`` field.
PREVIOUS_HEADER = "queue-core-previous"

Seconds = float | int | timedelta
Instant = float | int | datetime


def new_job_id() -> str:
    """A fresh random job ID: 32 hex characters, 128 random bits (several times cheaper
    than building a ``uuid.UUID``, on the path of every enqueue)."""
    return os.urandom(16).hex()


def content_digest(job_type: str, payload: bytes) -> str:
    """Hex SHA-256 of ``type || 0x00 || payload``.

    Stable across versions and processes; independent of every option. It is the
    default identity of a unique job (within its queue).
    """
    return hashlib.sha256(job_type.encode() + b"\x00" + payload).hexdigest()


@dataclass(frozen=True, slots=True)
class Job:
    """What to run, where, and under which rules.

    Times are epoch seconds (or aware datetimes, converted on construction); durations
    are seconds (or timedeltas). Construction validates every field and raises a
    specific ``ValidationError`` naming the field.

    - ``max_retries``: failures allowed before the job is archived; 0 means no retries.
    - ``delay`` / ``schedule_at``: when the job becomes due; ``schedule_at`` wins, and a
      time in the past means due now.
    - ``deadline``: the job must finish by then; ``timeout``: each attempt's limit.
    - ``retention``: keep the completed job (and its result) this long; 0 deletes it.
    - ``unique_for``: hold a unique lock this long, keyed by ``unique_key`` or, when
      that is None, by the content digest. Requires ``unique_for``.
    - ``group``: join this aggregation group of the queue instead of going pending.
    - ``depends_on``: IDs of jobs of the same queue that must complete first; the job
      waits (state ``waiting``) until then. Each must exist when this job is enqueued
      (or come earlier in the same batch), so dependencies point back in time and no
      cycle can form. ``on_dependency_failure`` says what happens when one is archived,
      cancelled or deleted instead: ``cancel`` (default), ``run`` or ``wait``.
    """

    type: str
    payload: bytes = b""
    queue: str = DEFAULT_QUEUE
    max_retries: int = DEFAULT_MAX_RETRIES
    delay: float | None = None
    schedule_at: float | None = None
    deadline: float | None = None
    timeout: float | None = None
    retention: float = 0.0
    unique_for: float | None = None
    unique_key: str | None = None
    job_id: str | None = None
    group: str | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    depends_on: tuple[str, ...] = ()
    on_dependency_failure: str = DependencyPolicy.CANCEL.value

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        validation.job_type(self.type)
        if not isinstance(self.payload, bytes | bytearray | memoryview):
            raise errors.InvalidPayload("payload", self.payload, "bytes (use Job.create to encode a Python value)")
        set_(self, "payload", bytes(self.payload))
        validation.queue_name(self.queue)
        retries = self.max_retries
        if not validation.is_int(retries) or retries < 0:
            raise errors.InvalidMaxRetries("max_retries", retries, "an integer >= 0 (0 means no retries)")
        if self.delay is not None:
            set_(self, "delay", validation.seconds(self.delay, "delay", errors.InvalidSchedule))
        if self.schedule_at is not None:
            set_(self, "schedule_at", validation.epoch(self.schedule_at, "schedule_at", errors.InvalidSchedule))
        if self.deadline is not None:
            set_(self, "deadline", validation.epoch(self.deadline, "deadline", errors.InvalidDeadline))
        if self.timeout is not None:
            set_(self, "timeout", validation.seconds(self.timeout, "timeout", errors.InvalidTimeout, allow_zero=False))
        set_(self, "retention", validation.seconds(self.retention, "retention", errors.InvalidRetention))
        if self.unique_for is not None:
            set_(
                self,
                "unique_for",
                validation.seconds(self.unique_for, "unique_for", errors.InvalidUniqueOption, allow_zero=False),
            )
        if self.unique_key is not None:
            key = self.unique_key
            form = f"a non-empty printable string of at most {MAX_UNIQUE_KEY_LENGTH} characters, with unique_for set"
            if not isinstance(key, str) or not key or len(key) > MAX_UNIQUE_KEY_LENGTH or not key.isprintable():
                raise errors.InvalidUniqueOption("unique_key", key, form)
            if self.unique_for is None:
                raise errors.InvalidUniqueOption("unique_key", key, form)
        if self.job_id is not None:
            validation.job_id(self.job_id)
        if self.group is not None:
            validation.group_name(self.group)
        set_(self, "headers", _frozen_headers(self.headers))
        set_(self, "depends_on", _dependencies(self.depends_on, self.job_id, self.group))
        set_(self, "on_dependency_failure", DependencyPolicy.parse(self.on_dependency_failure).value)

    @classmethod
    def create(cls, type: str, payload: Any = None, *, serializer: Serializer = JSON, **options: Any) -> Job:
        """Encode ``payload`` with ``serializer`` and build the job."""
        if isinstance(payload, bytes | bytearray):
            raise errors.InvalidPayload(
                "payload", payload, "a value for the serializer (pass bytes as Job(type, payload=...) instead)"
            )
        try:
            return cls(type, encode(serializer, payload), **options)
        except TypeError as exc:  # an unknown keyword: name it like any other bad option
            raise errors.ValidationError("options", sorted(options), f"Job fields only ({exc})") from None

    @property
    def digest(self) -> str:
        return content_digest(self.type, self.payload)

    @property
    def lock_key(self) -> str | None:
        """The unique lock's identity inside the queue, or None for a non-unique job."""
        if self.unique_for is None:
            return None
        return self.unique_key if self.unique_key is not None else f"{self.type}:{self.digest}"

    def process_at(self, now: float) -> float:
        """When the job becomes due, given the enqueue time ``now``."""
        if self.schedule_at is not None:
            return self.schedule_at
        if self.delay:
            return now + self.delay
        return now

    def with_id(self) -> Job:
        """This job with an ID: itself if it has one, else a copy with a fresh one."""
        if self.job_id is not None:
            return self
        # Every field is already validated and a fresh ID is valid by construction, so
        # the copy skips __post_init__ (replace() would run it all again, per enqueue).
        clone = object.__new__(Job)
        for name in _FIELDS:
            object.__setattr__(clone, name, getattr(self, name))
        object.__setattr__(clone, "job_id", new_job_id())
        return clone

    def with_options(self, **changes: Any) -> Job:
        return replace(self, **changes)


_FIELDS = tuple(f.name for f in fields(Job))


def _frozen_headers(headers: Any) -> Mapping[str, str]:
    form = f"a mapping of at most {MAX_HEADERS} non-empty str keys to str values"
    if not isinstance(headers, Mapping) or len(headers) > MAX_HEADERS:
        raise errors.InvalidHeaders("headers", headers, form)
    for key, value in headers.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise errors.InvalidHeaders(f"headers[{key!r}]", value, form)
    return MappingProxyType(dict(headers))


def _dependencies(value: Any, own_id: str | None, group: str | None) -> tuple[str, ...]:
    form = f"a sequence of at most {MAX_DEPENDENCIES} distinct job IDs of the same queue, not the job's own"
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset):
        raise errors.InvalidDependency("depends_on", value, form)
    ids = tuple(value)
    if len(ids) > MAX_DEPENDENCIES or len(set(ids)) != len(ids) or (own_id is not None and own_id in ids):
        raise errors.InvalidDependency("depends_on", value, form)
    for position, dependency in enumerate(ids):
        validation.job_id(dependency, f"depends_on[{position}]")
    if ids and group is not None:
        raise errors.InvalidDependency("depends_on", value, "no dependencies on a job with a group")
    return ids
