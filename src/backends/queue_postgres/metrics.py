"""Metrics history: per queue, job type and minute, kept until its expiry.

``metric_minutes`` holds each queue's minute with its expiry, ``metrics`` the counts per
job type (``migrations/0002_coordination.sql``). A write is one ``record_metrics`` call
for every sample; a read is one query.
"""

from __future__ import annotations

from collections.abc import Sequence

from queue_core import HISTOGRAM_SLOTS, MinuteMetrics
from queue_postgres.base import BrokerBase


class MetricsMixin(BrokerBase):
    async def record_metrics(self, samples: Sequence[MinuteMetrics], now: float, keep: float) -> None:
        if not samples:
            return
        # Sorted by queue and minute, so concurrent writers lock the minutes in one order.
        ordered = sorted(samples, key=lambda sample: (sample.queue, sample.minute))
        histograms = [count for sample in ordered for count in sample.histogram]
        await self._call(
            "record_metrics",
            now,
            keep,
            [sample.queue for sample in ordered],
            [sample.minute for sample in ordered],
            [sample.job_type for sample in ordered],
            [sample.processed for sample in ordered],
            [sample.failed for sample in ordered],
            [sample.runtime_us for sample in ordered],
            HISTOGRAM_SLOTS,
            histograms,
        )

    async def read_metrics(self, queue: str, since: int, until: int, now: float) -> list[MinuteMetrics]:
        rows = await self._query(
            "SELECT m.minute, m.job_type, m.processed, m.failed, m.runtime_us, m.histogram"
            " FROM _qc_.metric_minutes n JOIN _qc_.metrics m ON m.queue = n.queue AND m.minute = n.minute"
            " WHERE n.queue = %s AND n.minute BETWEEN %s AND %s AND n.expires_at > %s"
            ' ORDER BY m.minute, m.job_type COLLATE "C"',
            queue,
            since,
            until,
            now,
        )
        return [
            MinuteMetrics(
                queue=queue,
                job_type=job_type,
                minute=int(minute),
                processed=int(processed),
                failed=int(failed),
                runtime_us=int(runtime),
                histogram=tuple(int(count) for count in histogram),
            )
            for minute, job_type, processed, failed, runtime, histogram in rows
        ]
