"""Small conveniences for the kit's example tests: build jobs, enqueue, lease, inspect."""

from __future__ import annotations

from typing import Any

import pytest

from queue_conformance.strategies import START
from queue_core import Broker, EnqueueOutcome, Footprint, Job, JobInfo, Lease, QueueStats

T0 = START
DEFAULT = "default"


def job(job_id: str, queue: str = DEFAULT, **options: Any) -> Job:
    """A job with a fixed ID (and payload ``{}`` unless given)."""
    options.setdefault("payload", b"{}")
    return Job("email", queue=queue, job_id=job_id, **options)


async def enqueue(broker: Broker, *jobs: Job, now: float = T0) -> list[EnqueueOutcome]:
    return await broker.enqueue(list(jobs), now)


async def lease(
    broker: Broker, queues: list[str] | None = None, *, now: float = T0, lease_for: float = 30.0, limit: int = 10
) -> list[Lease]:
    return await broker.dequeue(queues or [DEFAULT], now, lease_for, "w1", limit)


async def lease_one(broker: Broker, queue: str = DEFAULT, *, now: float = T0, lease_for: float = 30.0) -> Lease:
    [taken] = await broker.dequeue([queue], now, lease_for, "w1", 1)
    return taken


async def info(broker: Broker, job_id: str, queue: str = DEFAULT, *, now: float = T0) -> JobInfo:
    return await broker.job_info(queue, job_id, now)


async def stats(broker: Broker, queue: str = DEFAULT, *, now: float = T0) -> QueueStats:
    return await broker.queue_stats(queue, now)


def ids(leases: list[Lease]) -> list[str]:
    return [taken.job_id for taken in leases]


def require_feature(broker: Broker, feature: str) -> None:
    """Skip unless the driver declares ``feature`` in ``Capabilities.features``."""
    if feature not in broker.capabilities.features:
        pytest.skip(f"{broker.capabilities.name} does not declare the {feature!r} feature")


def grown(baseline: Footprint, after: Footprint) -> dict[str, int]:
    """Storage that never expires which ``after`` holds beyond ``baseline`` (name -> extra size)."""
    extra = {name: after.items[name] - baseline.items.get(name, 0) for name in after.persistent}
    return {name: size for name, size in sorted(extra.items()) if size > 0}
