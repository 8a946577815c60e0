"""What every driver needs beside the protocol: the UTC day that names daily counters,
grouping a batch by queue while keeping each item's index, the ``Unsupported`` for a
feature not offered, and where a job enters at enqueue. Drivers import these rather
than writing them again, so the semantics the kit checks stay one definition."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from queue_core.errors import Unsupported
from queue_core.job import Job
from queue_core.states import JobState

T = TypeVar("T")


def utc_day(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


def grouped(items: Sequence[T], key: Callable[[T], Any]) -> dict[Any, list[tuple[int, T]]]:
    """Items grouped by ``key``, each with its index, in first-seen order."""
    groups: dict[Any, list[tuple[int, T]]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[key(item)].append((index, item))
    return groups


def unsupported(operation: str) -> NoReturn:
    raise Unsupported(f"this driver does not offer {operation} yet (see its Capabilities.features)")


def entry_state(job: Job, now: float) -> tuple[JobState, float]:
    """Where a job enters at enqueue time, and its due time."""
    due_at = job.process_at(now)
    if due_at > now:
        return JobState.SCHEDULED, due_at
    if job.group is not None:
        return JobState.AGGREGATING, now
    return JobState.PENDING, now
