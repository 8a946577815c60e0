"""What to schedule: configs as a provider hands them over, and validated entries.

A ``ScheduleConfig`` is plain data (it may come from a database or a JSON file and may
be wrong); ``build_entry`` checks it once and returns a ``ScheduleEntry`` holding the
parsed spec and the job template, so a bad option fails when the schedule is registered
or synced, never at fire time.

A ``ConfigProvider`` is anything with ``async def get_configs()``: the scheduler calls it
every ``sync_interval`` seconds and applies what differs. ``get_configs`` is always a
coroutine (a provider that reads files or a database with blocking calls wraps them in
``anyio.to_thread.run_sync``); it returns ``ScheduleConfig`` objects or mappings with the
same keys. ``MemoryConfigProvider`` is the in-memory default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from queue_core import errors, validation
from queue_core.job import Job
from queue_core.scheduling._spec import Spec, parse_cron, parse_every, zone
from queue_core.serialization import Serializer

#: headers every fired job carries; entries may not set them themselves.
RESERVED_HEADERS = ("schedule_id", "fire_time")
#: job options that make no sense for a job fired again and again.
_FORBIDDEN_OPTIONS = {
    "job_id": "each fire gets its own ID, derived from the schedule ID and the fire time",
    "schedule_at": "a schedule fires at its own times; use delay to run each job later",
    "deadline": "an absolute deadline would hold for every fire; use timeout",
}
_CONFIG_KEYS = ("id", "type", "payload", "cron", "every", "timezone", "options")


def schedule_id(value: Any, field: str = "id") -> str:
    """A schedule ID: the same safe form as a queue name (it becomes part of broker keys)."""
    try:
        return validation.queue_name(value, field)
    except errors.InvalidQueueName:
        raise errors.InvalidScheduleId(field, value, validation.NAME_FORM) from None


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    """One schedule as a provider describes it: exactly one of ``cron`` or ``every``.

    ``payload`` is a value for the scheduler's serializer; ``options`` are ``Job`` fields
    (``queue``, ``max_retries``, ``timeout``, ``retention``, ``delay``, ``unique_for``,
    ``headers``...). ``timezone`` (cron only) overrides the scheduler's. Nothing is
    checked here; ``build_entry`` does that.
    """

    id: str
    type: str
    payload: Any = None
    cron: str | None = None
    every: float | timedelta | None = None
    timezone: str | tzinfo | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ScheduleConfig:
        """From a mapping with the field names as keys (e.g. one object of a JSON file)."""
        if not isinstance(data, Mapping):
            raise errors.ValidationError("config", data, "a ScheduleConfig or a mapping")
        unknown = sorted(set(data) - set(_CONFIG_KEYS))
        if unknown:
            raise errors.ValidationError("config", unknown, f"only the keys {', '.join(_CONFIG_KEYS)}")
        options = data.get("options") or {}
        if not isinstance(options, Mapping):
            raise errors.ValidationError("options", options, "a mapping of Job fields")
        return cls(
            id=data.get("id"),  # type: ignore[arg-type]  # checked by build_entry
            type=data.get("type"),  # type: ignore[arg-type]
            payload=data.get("payload"),
            cron=data.get("cron"),
            every=data.get("every"),
            timezone=data.get("timezone"),
            options=MappingProxyType(dict(options)),
        )


@runtime_checkable
class ConfigProvider(Protocol):
    async def get_configs(self) -> Iterable[ScheduleConfig | Mapping[str, Any]]:
        """Every schedule that should exist now. Raising keeps the current entries."""
        ...


class MemoryConfigProvider:
    """Schedules held in memory; change them at any time, the next sync applies them.

    It stores configs as given (unchecked): a bad one is reported by the scheduler's sync
    and skipped, as with any provider.
    """

    def __init__(self, configs: Iterable[ScheduleConfig] = ()) -> None:
        self._configs: dict[str, ScheduleConfig] = {}
        for config in configs:
            self.add(config)

    def add(self, config: ScheduleConfig) -> None:
        """Add a schedule; ``ScheduleAlreadyExists`` if its ID is taken."""
        if config.id in self._configs:
            raise errors.ScheduleAlreadyExists(config.id)
        self._configs[config.id] = config

    def put(self, config: ScheduleConfig) -> None:
        """Add a schedule or replace the one with the same ID."""
        self._configs[config.id] = config

    def remove(self, id: str) -> None:
        """Remove a schedule; ``ScheduleNotFound`` if there is none with this ID."""
        if self._configs.pop(id, None) is None:
            raise errors.ScheduleNotFound(id)

    def replace_all(self, configs: Iterable[ScheduleConfig]) -> None:
        self._configs = {config.id: config for config in configs}

    def __len__(self) -> int:
        return len(self._configs)

    async def get_configs(self) -> list[ScheduleConfig]:
        return list(self._configs.values())


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """A checked schedule: its parsed spec and the job each fire enqueues (without ID)."""

    id: str
    spec: Spec
    job: Job

    @property
    def type(self) -> str:
        return self.job.type

    @property
    def queue(self) -> str:
        return self.job.queue

    @property
    def timezone(self) -> str | None:
        return self.spec.timezone


def build_entry(
    config: ScheduleConfig | Mapping[str, Any], *, timezone: tzinfo | str, serializer: Serializer
) -> ScheduleEntry:
    """Check a config and build its entry, or raise the specific ``ValidationError``
    (``SerializationError`` for a payload the serializer refuses)."""
    if not isinstance(config, ScheduleConfig):
        config = ScheduleConfig.from_mapping(config)
    sid = schedule_id(config.id)
    if (config.cron is None) == (config.every is None):
        raise errors.ValidationError("cron/every", (config.cron, config.every), "exactly one of cron or every")
    spec: Spec
    if config.cron is not None:
        spec = parse_cron(config.cron, zone(config.timezone) if config.timezone is not None else timezone)
    else:
        if config.timezone is not None:
            raise errors.InvalidTimezone(
                "timezone", config.timezone, "none for a fixed interval (its ticks count from the Unix epoch)"
            )
        spec = parse_every(config.every)
    options = dict(config.options)
    for name, why in _FORBIDDEN_OPTIONS.items():
        if name in options:
            raise errors.ValidationError(name, options[name], f"no {name}: {why}")
    headers = options.pop("headers", None) or {}
    if isinstance(headers, Mapping):
        for reserved in RESERVED_HEADERS:
            if reserved in headers:
                raise errors.InvalidHeaders(
                    f"headers[{reserved!r}]", headers[reserved], "no schedule_id or fire_time: each fire sets them"
                )
    job = Job.create(config.type, config.payload, serializer=serializer, headers=headers, **options)
    # The fired job carries two more headers: check that they fit now, not at fire time.
    job.with_options(headers={**job.headers, **dict.fromkeys(RESERVED_HEADERS, "0")})
    return ScheduleEntry(sid, spec, job)
