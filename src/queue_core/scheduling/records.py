"""What schedulers leave in the broker, and how the Manager reads it back.

- One **claim** per tick, ``schedule:<id>:<fire time>``: the first scheduler to take it
  fires the tick; the others do nothing.
- One **history** per schedule, the event stream ``schedule:<id>``, keeping the newest
  ``HISTORY_KEEP`` fires: JSON objects ``{"schedule_id", "fire_time", "job_id",
  "error", "scheduler_id", "recorded_at"}`` (``job_id`` or ``error`` is null).
- One **heartbeat** per scheduler process (kind ``"scheduler"``): its entries with their
  next and previous run.

``list_schedules`` and ``schedule_history`` read these without a running scheduler.
Every name here is built in this module and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from queue_core import errors, validation
from queue_core.broker import Broker
from queue_core.info import SCHEDULER_HEARTBEAT
from queue_core.scheduling._spec import Tick, parse_cron, parse_every, tick_text, to_ms, to_seconds
from queue_core.scheduling.config import ScheduleEntry
from queue_core.scheduling.config import schedule_id as check_schedule_id

HEARTBEAT_KIND = SCHEDULER_HEARTBEAT
HISTORY_KEEP = 1000
_log = logging.getLogger("queue_core.scheduler")


# --------------------------------------------------------------------------- names


def claim_key(schedule_id: str, tick: Tick) -> str:
    """Taken by the one scheduler that fires this tick."""
    return f"schedule:{schedule_id}:{tick_text(tick)}"


def rescue_key(schedule_id: str, tick: Tick) -> str:
    """Taken by the one scheduler that fires a tick whose claimer vanished."""
    return f"schedule-rescue:{schedule_id}:{tick_text(tick)}"


def history_stream(schedule_id: str) -> str:
    return f"schedule:{schedule_id}"


def fired_job_id(schedule_id: str, tick: Tick) -> str:
    """The ID of the job a tick enqueues: the same in every process and on every retry,
    so an enqueue repeated after an error finds the first one (an ID conflict) instead
    of adding a second job."""
    job_id = f"{schedule_id}:{tick_text(tick)}"
    if len(job_id) <= validation.MAX_NAME_LENGTH:
        return job_id
    digest = hashlib.sha256(schedule_id.encode()).hexdigest()[:12]
    return f"{schedule_id[:96]}.{digest}:{tick_text(tick)}"


# --------------------------------------------------------------------------- fire history


@dataclass(frozen=True, slots=True)
class FireRecord:
    """One fire of a schedule: the job it enqueued, or why it could not."""

    schedule_id: str
    fire_time: float
    job_id: str | None
    error: str | None
    recorded_at: float


def encode_fire(schedule_id: str, tick: Tick, job_id: str | None, error: str | None, by: str, now: float) -> bytes:
    # scheduler_id and recorded_at make every event's bytes unique (a second record for
    # one tick, e.g. after a rescue, must not overwrite the first).
    event = {
        "schedule_id": schedule_id,
        "fire_time": to_seconds(tick),
        "job_id": job_id,
        "error": error,
        "scheduler_id": by,
        "recorded_at": now,
    }
    return json.dumps(event, separators=(",", ":"), sort_keys=True).encode()


def decode_fire(recorded_at: float, event: bytes) -> FireRecord | None:
    """The record of one stored event; None (logged) when it cannot be read."""
    try:
        data = json.loads(event)
        return FireRecord(
            schedule_id=str(data["schedule_id"]),
            fire_time=float(data["fire_time"]),
            job_id=None if data.get("job_id") is None else str(data["job_id"]),
            error=None if data.get("error") is None else str(data["error"]),
            recorded_at=recorded_at,
        )
    except (ValueError, KeyError, TypeError):
        _log.warning("unreadable schedule history event %r; skipped", event[:200])
        return None


async def schedule_history(broker: Broker, schedule_id: str, limit: int = 100) -> list[FireRecord]:
    """The newest ``limit`` fires of ``schedule_id`` (at most the 1000 kept), newest first."""
    check_schedule_id(schedule_id, "schedule_id")
    if not validation.is_int(limit) or not 1 <= limit <= HISTORY_KEEP:
        raise errors.ValidationError("limit", limit, f"an integer from 1 to {HISTORY_KEEP}")
    events = await broker.list_events(history_stream(schedule_id), limit)
    return [record for at, event in events if (record := decode_fire(at, event)) is not None]


# --------------------------------------------------------------------------- heartbeats


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """One entry of one live scheduler. Several schedulers running the same schedule
    each report it (they agree on its runs; only one of them fires each tick)."""

    schedule_id: str
    spec: str
    job_type: str
    queue: str
    timezone: str | None
    next_run: float | None
    prev_run: float | None
    scheduler_id: str


def encode_heartbeat(scheduler_id: str, info: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> bytes:
    return json.dumps({**info, "scheduler_id": scheduler_id, "entries": entries}, separators=(",", ":")).encode()


def heartbeat_entry(entry: ScheduleEntry, next_run: Tick | None, prev_run: Tick | None) -> dict[str, Any]:
    return {
        "schedule_id": entry.id,
        "spec": entry.spec.text,
        "every": entry.spec.every,
        "job_type": entry.type,
        "queue": entry.queue,
        "timezone": entry.timezone,
        "next_run": None if next_run is None else to_seconds(next_run),
        "prev_run": None if prev_run is None else to_seconds(prev_run),
    }


async def list_schedules(broker: Broker, now: float) -> list[ScheduleInfo]:
    """Every entry of every live scheduler, sorted by schedule ID then scheduler ID.

    Runs are as of each scheduler's last heartbeat; when a heartbeat is older than its
    entry's next run, both runs are worked out again from the spec for ``now``.
    """
    infos: list[ScheduleInfo] = []
    for scheduler_id, raw in (await broker.list_heartbeats(HEARTBEAT_KIND, now)).items():
        try:
            entries = json.loads(raw)["entries"]
            for entry in entries:
                infos.append(_info(scheduler_id, entry, now))
        except (ValueError, KeyError, TypeError):
            _log.warning("unreadable heartbeat of scheduler %s; skipped", scheduler_id)
    return sorted(infos, key=lambda info: (info.schedule_id, info.scheduler_id))


def _info(scheduler_id: str, entry: Mapping[str, Any], now: float) -> ScheduleInfo:
    next_run = entry.get("next_run")
    prev_run = entry.get("prev_run")
    if next_run is not None and next_run <= now:
        try:
            spec = (
                parse_every(entry["every"])
                if entry.get("every") is not None
                else parse_cron(entry["spec"], entry.get("timezone") or "UTC")
            )
            prev_tick = spec.prev_before(to_ms(now), inclusive=True)
            next_run = to_seconds(spec.next_after(to_ms(now)))
            prev_run = None if prev_tick is None else to_seconds(prev_tick)
        except errors.ValidationError:
            pass  # written by another version: show what it said
    return ScheduleInfo(
        schedule_id=str(entry["schedule_id"]),
        spec=str(entry["spec"]),
        job_type=str(entry["job_type"]),
        queue=str(entry["queue"]),
        timezone=entry.get("timezone"),
        next_run=None if next_run is None else float(next_run),
        prev_run=None if prev_run is None else float(prev_run),
        scheduler_id=scheduler_id,
    )
