"""What a scheduler is told: one frozen, validated object, documented here once.

``Scheduler(url, timezone="Europe/Paris", catch_up=3)`` builds a ``SchedulerOptions`` from
its keyword arguments; ``Scheduler(url, options=SchedulerOptions(...))`` takes a ready one.
"""

from __future__ import annotations

import functools
import math
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from typing import Any, TypedDict

from queue_core import errors, validation
from queue_core.outage import DEFAULT_CONNECT_TIMEOUT
from queue_core.scheduling._spec import zone
from queue_core.scheduling.config import ConfigProvider, MemoryConfigProvider
from queue_core.serialization import JSON, Serializer

__all__ = ["SchedulerOptions", "SchedulerSettings", "default_scheduler_id"]

DEFAULT_SYNC_INTERVAL = 60.0
DEFAULT_HEARTBEAT_INTERVAL = 10.0
DEFAULT_RESCUE_AFTER = 30.0


def default_scheduler_id() -> str:
    host = "".join(c if c.isalnum() or c in "_.:-" else "-" for c in socket.gethostname()) or "host"
    return f"{host[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerOptions:
    """How a scheduler runs. Every field is checked on construction
    (``InvalidSchedulerOption``, ``InvalidTimezone``, ``InvalidScheduleId``) and normalised.

    - ``timezone``: the IANA zone cron specs are read in, unless an entry names its own.
    - ``sync_interval``: seconds between two reads of the ``provider``.
    - ``provider``: a ``ConfigProvider`` (default: an empty ``MemoryConfigProvider``,
      reachable as ``scheduler.provider``).
    - ``id``: this process's name in heartbeats (default host:pid:random).
    - ``catch_up``: how many missed ticks per entry to fire late (default 0: skip them).
    - ``rescue_after``: seconds after which a tick claimed by a scheduler that then
      vanished is fired by a peer; None turns that off.
    - ``claim_ttl``: seconds a tick's claim is kept (default max(1 day, 10 intervals)).
    - ``heartbeat_interval``: seconds between two heartbeats (kept for three times that).
    - ``serializer``: how the schedules' payloads are encoded (JSON by default).
    - ``connect_timeout``: seconds ``run()`` waits for the broker to answer before it
      reports itself started; then it raises ``BrokerUnavailable`` (default 10).
    """

    timezone: Any = "UTC"
    sync_interval: float = DEFAULT_SYNC_INTERVAL
    provider: ConfigProvider = field(default_factory=MemoryConfigProvider)
    id: str = field(default_factory=default_scheduler_id)
    catch_up: int = 0
    rescue_after: float | None = DEFAULT_RESCUE_AFTER
    claim_ttl: float | None = None
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL
    serializer: Serializer = JSON
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT

    def __post_init__(self) -> None:
        fix = functools.partial(object.__setattr__, self)  # frozen: normalised values are set here, once
        fix("timezone", zone(self.timezone))
        fix("sync_interval", _seconds("sync_interval", self.sync_interval))
        if not isinstance(self.provider, ConfigProvider):
            raise errors.InvalidSchedulerOption("provider", self.provider, "an object with async def get_configs()")
        validation.job_id(self.id, "id")
        if not validation.is_int(self.catch_up) or self.catch_up < 0:
            raise errors.InvalidSchedulerOption("catch_up", self.catch_up, "an integer >= 0 (0 skips missed ticks)")
        for name in ("rescue_after", "claim_ttl"):
            value = getattr(self, name)
            fix(name, None if value is None else _seconds(name, value))
        fix("heartbeat_interval", _seconds("heartbeat_interval", self.heartbeat_interval))
        fix("connect_timeout", _seconds("connect_timeout", self.connect_timeout))


class SchedulerSettings(TypedDict, total=False):
    """``SchedulerOptions``' fields as keyword arguments of ``Scheduler(...)``."""

    timezone: str | tzinfo
    sync_interval: float | timedelta
    provider: ConfigProvider | None
    id: str | None
    catch_up: int
    rescue_after: float | timedelta | None
    claim_ttl: float | timedelta | None
    heartbeat_interval: float | timedelta
    serializer: Serializer
    connect_timeout: float | timedelta


def options_from(settings: Mapping[str, Any]) -> SchedulerOptions:
    """``SchedulerOptions`` from ``Scheduler(...)``'s keyword arguments (``provider=None`` and
    ``id=None`` mean the default, as they always have)."""
    given = {name: value for name, value in settings.items() if value is not None or name not in _NONE_IS_DEFAULT}
    return SchedulerOptions(**given)


_NONE_IS_DEFAULT = ("provider", "id")


def _seconds(name: str, value: Any) -> float:
    seconds = validation.seconds(value, name, errors.InvalidSchedulerOption, allow_zero=False)
    if not math.isfinite(seconds):
        raise errors.InvalidSchedulerOption(name, value, "a finite number of seconds > 0")
    return seconds
