"""The worker's metrics recorder: per-minute counts, added to the broker every few seconds.

Each settled attempt is counted in memory under its queue, job type and minute (what
the queue's processed and failed counters count: successes, failures and revocations;
neither requeues nor transient bounces). Every ``interval`` seconds, and once more when
the worker stops, the recorder hands what it gathered to ``broker.record_metrics`` in
one call, kept for ``METRICS_KEEP``. Counts whose write fails are kept and sent with the
next flush, so a short broker outage loses nothing; a driver without the ``metrics``
feature is simply not written to.
"""

from __future__ import annotations

import logging

import anyio

from queue_core.broker import Broker, JobRecord, SettleKind, Settlement
from queue_core.clock import Clock
from queue_core.errors import QueueError
from queue_core.metrics import METRICS_KEEP, MinuteMetrics, minute_of

DEFAULT_INTERVAL = 5.0
FLUSH_TIMEOUT = 5.0
#: minutes of counts held back while the broker cannot be written (then the oldest go).
MAX_PENDING_MINUTES = 60


class MetricsRecorder:
    def __init__(
        self, broker: Broker, clock: Clock, log: logging.Logger, *, interval: float = DEFAULT_INTERVAL
    ) -> None:
        self.broker = broker
        self.clock = clock
        self.log = log
        self.interval = interval
        self.enabled = "metrics" in getattr(broker.capabilities, "features", frozenset())
        self._gathered: dict[tuple[str, str, int], MinuteMetrics] = {}

    def observe(self, record: JobRecord, settlement: Settlement, run_time: float | None) -> None:
        """Count one applied settlement of ``record`` whose handler ran ``run_time`` seconds
        (None when no handler ran, e.g. an unknown job type)."""
        if not self.enabled:
            return
        if settlement.kind is SettleKind.REQUEUE:
            return
        if settlement.kind is SettleKind.RETRY and not settlement.counts_as_failure:
            return  # a transient bounce: neither processed nor failed
        failed = settlement.kind in (SettleKind.RETRY, SettleKind.ARCHIVE)
        minute = minute_of(self.clock.now())
        key = (record.queue, record.type, minute)
        counts = self._gathered.get(key) or MinuteMetrics(record.queue, record.type, minute)
        if run_time is None:
            counts = MinuteMetrics(
                counts.queue, counts.job_type, minute, counts.processed + 1, counts.failed + int(failed),
                counts.runtime_us, counts.histogram,
            )  # fmt: skip
        else:
            counts = counts.timed(run_time, failed=failed)
        self._gathered[key] = counts

    async def run(self) -> None:
        if not self.enabled:
            return
        try:
            while True:
                await self.clock.sleep_until(self.clock.now() + self.interval)
                await self.flush()
        finally:
            with anyio.move_on_after(FLUSH_TIMEOUT, shield=True):
                await self.flush()

    async def flush(self) -> None:
        """Write what was gathered; on failure keep it for the next flush."""
        if not self._gathered:
            return
        gathered, self._gathered = self._gathered, {}
        try:
            await self.broker.record_metrics(list(gathered.values()), self.clock.now(), METRICS_KEEP)
        except QueueError as exc:
            self.log.warning("could not record metrics of %d job type-minute(s): %s; trying again", len(gathered), exc)
            for key, counts in gathered.items():
                known = self._gathered.get(key)
                self._gathered[key] = counts if known is None else known.plus(counts)
            minutes = sorted({key[2] for key in self._gathered})
            for stale in minutes[:-MAX_PENDING_MINUTES]:
                self._gathered = {key: value for key, value in self._gathered.items() if key[2] != stale}
