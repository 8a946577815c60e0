"""What a live worker says about itself, in the form it publishes with its heartbeat.

A worker publishes a ``WorkerInfo`` every few seconds::

    await broker.put_heartbeat(WORKER_HEARTBEAT, info.id, info.to_json(), now, ttl)

and the Manager reads them back with ``broker.list_heartbeats(WORKER_HEARTBEAT, now)``.
The encoding is JSON with a format version (``"v": 1``), so a dashboard written in any
language can read it, and a newer worker may add fields that an older Manager ignores.
Times are epoch seconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from queue_core import validation
from queue_core.errors import SerializationError

#: ``kind`` of worker heartbeats in ``Broker.put_heartbeat`` / ``list_heartbeats``.
WORKER_HEARTBEAT = "worker"
#: ``kind`` of scheduler heartbeats.
SCHEDULER_HEARTBEAT = "scheduler"

FORMAT_VERSION = 1


class WorkerStatus(StrEnum):
    STARTING = "starting"  # connected, not fetching yet
    RUNNING = "running"  # fetching and running jobs
    STOPPING = "stopping"  # no longer fetching; draining running jobs


@dataclass(frozen=True, slots=True)
class ActiveJobInfo:
    """One job a worker is running."""

    job_id: str
    type: str
    queue: str
    started_at: float
    #: when this attempt must end: the earlier of the job's deadline and its timeout.
    deadline: float | None = None
    payload_size: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "type": self.type,
            "queue": self.queue,
            "started_at": self.started_at,
            "deadline": self.deadline,
            "payload_size": self.payload_size,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ActiveJobInfo:
        fields = _Fields(data, "active job")
        return cls(
            job_id=fields.text("job_id"),
            type=fields.text("type"),
            queue=fields.text("queue"),
            started_at=fields.number("started_at"),
            deadline=fields.optional_number("deadline"),
            payload_size=fields.integer("payload_size", default=0),
        )


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A snapshot of one worker process."""

    id: str
    host: str
    pid: int
    concurrency: int
    #: queue name -> weight
    queues: Mapping[str, int]
    #: True: queues are tried strictly in order; False: weighted.
    strict: bool
    started_at: float
    #: a ``WorkerStatus`` value (kept as a plain string when a newer worker sends another).
    status: str = WorkerStatus.RUNNING
    active_jobs: list[ActiveJobInfo] = field(default_factory=list)
    #: when the worker published this snapshot, if it said.
    heartbeat_at: float | None = None

    def to_json(self) -> bytes:
        data = {
            "v": FORMAT_VERSION,
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "concurrency": self.concurrency,
            "queues": dict(self.queues),
            "strict": self.strict,
            "started_at": self.started_at,
            "status": str(self.status),
            "active_jobs": [job.to_dict() for job in self.active_jobs],
            "heartbeat_at": self.heartbeat_at,
        }
        return json.dumps(data, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()

    @classmethod
    def from_json(cls, data: bytes) -> WorkerInfo:
        """Decode what ``to_json`` wrote; ``SerializationError`` names what is wrong."""
        try:
            decoded = json.loads(data)
        except (UnicodeDecodeError, ValueError) as exc:
            raise SerializationError(f"worker info is not JSON: {exc}") from exc
        fields = _Fields(decoded, "worker info")
        version = fields.integer("v")
        if version != FORMAT_VERSION:
            raise SerializationError(f"worker info has format version {version}; this queue-core reads version 1")
        queues = fields.get("queues")
        if not isinstance(queues, dict) or not all(
            isinstance(k, str) and isinstance(w, int) and not isinstance(w, bool) for k, w in queues.items()
        ):
            raise SerializationError(f"worker info field 'queues' must map names to integer weights, got {queues!r}")
        jobs = fields.get("active_jobs", [])
        if not isinstance(jobs, list):
            raise SerializationError(f"worker info field 'active_jobs' must be a list, got {jobs!r}")
        status = fields.text("status")
        return cls(
            id=fields.text("id"),
            host=fields.text("host"),
            pid=fields.integer("pid"),
            concurrency=fields.integer("concurrency"),
            queues=queues,
            strict=fields.flag("strict"),
            started_at=fields.number("started_at"),
            status=_known_status(status),
            active_jobs=[ActiveJobInfo.from_dict(job) for job in jobs],
            heartbeat_at=fields.optional_number("heartbeat_at"),
        )

    @property
    def busy(self) -> int:
        """How many jobs the worker is running."""
        return len(self.active_jobs)


def _known_status(value: str) -> str:
    try:
        return WorkerStatus(value)
    except ValueError:
        return value


class _Fields:
    """Typed reads from a decoded JSON object, each failure a ``SerializationError``."""

    _MISSING = object()

    def __init__(self, data: Any, what: str) -> None:
        if not isinstance(data, dict):
            raise SerializationError(f"{what} must be a JSON object, got {data!r:.80}")
        self._data = data
        self._what = what

    def get(self, name: str, default: Any = _MISSING) -> Any:
        if name in self._data:
            return self._data[name]
        if default is self._MISSING:
            raise SerializationError(f"{self._what} lacks the field {name!r}")
        return default

    def _bad(self, name: str, value: Any, expected: str) -> SerializationError:
        return SerializationError(f"{self._what} field {name!r} must be {expected}, got {value!r:.80}")

    def text(self, name: str) -> str:
        value = self.get(name)
        if not isinstance(value, str) or not value:
            raise self._bad(name, value, "a non-empty string")
        return value

    def integer(self, name: str, default: Any = _MISSING) -> int:
        value = self.get(name, default)
        if not validation.is_int(value) or value < 0:
            raise self._bad(name, value, "an integer >= 0")
        return value

    def flag(self, name: str) -> bool:
        value = self.get(name)
        if not isinstance(value, bool):
            raise self._bad(name, value, "true or false")
        return value

    def number(self, name: str) -> float:
        value = self.get(name)
        if not validation.is_number(value):
            raise self._bad(name, value, "a number of epoch seconds")
        return float(value)

    def optional_number(self, name: str) -> float | None:
        return None if self.get(name, None) is None else self.number(name)
