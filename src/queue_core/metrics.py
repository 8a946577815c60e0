"""Per-minute metrics: what workers record and the broker keeps for 72 hours.

For every queue, job type and minute the broker holds four figures:

- ``processed``: attempts that ended (succeeded, failed, revoked), as the queue's
  processed counter counts them;
- ``failed``: those of them that failed (retried or archived);
- ``runtime_us``: the handlers' run time summed, in microseconds (integers add exactly
  on every driver, where float sums would differ in the last digit);
- ``histogram``: how many attempts ran for at most each of ``RUNTIME_BUCKETS`` seconds
  (one slot more for longer runs), enough for a coarse p50 and p95.

A worker adds its counts every few seconds through ``Broker.record_metrics``; the
Manager reads them with ``Broker.read_metrics`` and sums them into series
(``Manager.metrics``). Minutes are epoch seconds at the start of the minute (UTC).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Upper bounds (seconds) of the run-time histogram's slots; a last slot takes longer runs.
RUNTIME_BUCKETS: tuple[float, ...] = (0.005, 0.025, 0.1, 0.25, 1.0, 2.5, 10.0, 30.0, 120.0)
#: Slots in a histogram: one per bound and one for runs longer than the last bound.
HISTOGRAM_SLOTS = len(RUNTIME_BUCKETS) + 1
#: How long a minute's metrics are kept (72 hours).
METRICS_KEEP = 72 * 3600.0
MINUTE = 60
#: The longest window the Manager reads at once: everything kept.
MAX_WINDOW_MINUTES = int(METRICS_KEEP // MINUTE)


def minute_of(when: float) -> int:
    """The start of the UTC minute holding ``when`` (epoch seconds)."""
    return math.floor(when / MINUTE) * MINUTE


def histogram_slot(seconds: float) -> int:
    """The histogram slot of one run time: the first bound it does not exceed."""
    return bisect.bisect_left(RUNTIME_BUCKETS, seconds)


def _zeros() -> tuple[int, ...]:
    return (0,) * HISTOGRAM_SLOTS


@dataclass(frozen=True, slots=True)
class MinuteMetrics:
    """The counts of one queue and job type in one minute (or, summed, of several).

    In a sum ``queue`` or ``job_type`` is ``"*"`` where several were added together."""

    queue: str
    job_type: str
    minute: int
    processed: int = 0
    failed: int = 0
    runtime_us: int = 0
    histogram: tuple[int, ...] = field(default_factory=_zeros)

    @property
    def succeeded(self) -> int:
        return self.processed - self.failed

    @property
    def runtime(self) -> float:
        """Total run time in seconds."""
        return self.runtime_us / 1_000_000

    @property
    def mean_runtime(self) -> float | None:
        """Average run time (seconds) of the attempts timed, or None when none was."""
        timed = sum(self.histogram)
        return self.runtime / timed if timed else None

    def percentile(self, fraction: float) -> float | None:
        """Run time (seconds) under which ``fraction`` of the attempts finished, read
        from the histogram: the upper bound of the slot that reaches the fraction (the
        last bound doubled for the open slot). None when nothing was timed."""
        timed = sum(self.histogram)
        if not timed:
            return None
        wanted = max(1, math.ceil(fraction * timed))
        seen, slot = 0, 0
        for slot, count in enumerate(self.histogram):  # noqa: B007  (the slot reached is the answer)
            seen += count
            if seen >= wanted:
                break
        return RUNTIME_BUCKETS[slot] if slot < len(RUNTIME_BUCKETS) else RUNTIME_BUCKETS[-1] * 2

    @property
    def p50(self) -> float | None:
        return self.percentile(0.50)

    @property
    def p95(self) -> float | None:
        return self.percentile(0.95)

    def plus(self, other: MinuteMetrics) -> MinuteMetrics:
        """Both counts added; names that differ become ``"*"``, the earlier minute stays."""
        return MinuteMetrics(
            queue=self.queue if self.queue == other.queue else "*",
            job_type=self.job_type if self.job_type == other.job_type else "*",
            minute=min(self.minute, other.minute),
            processed=self.processed + other.processed,
            failed=self.failed + other.failed,
            runtime_us=self.runtime_us + other.runtime_us,
            histogram=tuple(a + b for a, b in zip(self.histogram, other.histogram, strict=True)),
        )

    def timed(self, seconds: float, *, failed: bool) -> MinuteMetrics:
        """These counts plus one processed attempt that ran ``seconds``."""
        slots = list(self.histogram)
        slots[histogram_slot(seconds)] += 1
        return MinuteMetrics(
            queue=self.queue,
            job_type=self.job_type,
            minute=self.minute,
            processed=self.processed + 1,
            failed=self.failed + int(failed),
            runtime_us=self.runtime_us + max(0, round(seconds * 1_000_000)),
            histogram=tuple(slots),
        )


def total(metrics: Iterable[MinuteMetrics], *, queue: str = "*", job_type: str = "*", minute: int = 0) -> MinuteMetrics:
    """All of ``metrics`` added into one (the names and minute given when empty)."""
    first: MinuteMetrics | None = None
    queues, types, minutes = set(), set(), set()
    processed = failed = runtime_us = 0
    slots = [0] * HISTOGRAM_SLOTS
    # Added in place: a 72-hour window sums thousands of minutes.
    for item in metrics:
        first = first or item
        queues.add(item.queue)
        types.add(item.job_type)
        minutes.add(item.minute)
        processed += item.processed
        failed += item.failed
        runtime_us += item.runtime_us
        for slot, count in enumerate(item.histogram):
            slots[slot] += count
    if first is None:
        return MinuteMetrics(queue, job_type, minute)
    return MinuteMetrics(
        queue=first.queue if len(queues) == 1 else "*",
        job_type=first.job_type if len(types) == 1 else "*",
        minute=min(minutes),
        processed=processed,
        failed=failed,
        runtime_us=runtime_us,
        histogram=tuple(slots),
    )
