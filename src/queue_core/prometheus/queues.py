"""``QueueCollector``: queue depths and ages, read from the Manager when Prometheus scrapes.

Every worker endpoint started with ``--metrics-port`` carries it; register it in a
registry of your own to export queue metrics from any process (a web app, a sidecar).
A scrape reads the broker at most once per ``cache_seconds`` (default 5), so any number
of scrapers cost the broker one read of each queue's stats per interval.
"""

from __future__ import annotations

from queue_core.extras import require

require("prometheus_client", feature="queue_core.prometheus", extra="prometheus")

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.from_thread
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from queue_core.broker import QueueStats
from queue_core.events import LOGGER_NAME
from queue_core.manager import Manager

log = logging.getLogger(f"{LOGGER_NAME}.prometheus")

#: job states exported by ``queue_core_queue_jobs``.
STATES = ("pending", "active", "scheduled", "retry", "archived", "completed", "aggregating")
DEFAULT_CACHE_SECONDS = 5.0
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One read of the broker: each queue's stats and the live workers."""

    queues: Sequence[QueueStats]
    workers: int
    taken_at: float


async def read_snapshot(manager: Manager) -> Snapshot:
    """Every queue's stats and the count of live workers, through ``manager``.

    The broker's own stats call per queue (no memory sampling, which ``queue_info`` adds
    and a scrape does not need)."""
    stats = []
    for name in await manager.queue_names():
        stats.append(await manager.broker.queue_stats(name, manager.clock.now()))
    workers = len(await manager.list_workers())
    return Snapshot(stats, workers, time.monotonic())


class QueueCollector(Collector):
    """Queue metrics for a prometheus-client registry.

    - ``QueueCollector(url)`` reads the broker at ``url`` itself when scraped (from a
      private event-loop thread, with a Manager it opens on first use; ``close()`` ends
      both).
    - ``QueueCollector()`` (no URL) exports what ``await collector.refresh(manager)`` last
      read: for an async web app that has a Manager already (the dashboard's ``/metrics``).

    ``queues`` limits the export to those queues; ``cache_seconds`` is how long one read
    serves scrapes; ``timeout`` bounds one read (a broker that does not answer in time
    yields ``queue_core_queue_collector_up 0`` and no queue series).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        queues: Sequence[str] | None = None,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        timeout: float = DEFAULT_TIMEOUT,
        backend: str = "asyncio",
    ) -> None:
        self.url = url
        self.queues = None if queues is None else frozenset(queues)
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self._backend = backend
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._portal_cm: contextlib.AbstractContextManager[anyio.from_thread.BlockingPortal] | None = None
        self._manager: Manager | None = None

    # ----------------------------------------------------------------- reading

    def _fresh(self) -> bool:
        snapshot = self._snapshot
        return snapshot is not None and time.monotonic() - snapshot.taken_at < self.cache_seconds

    async def refresh(self, manager: Manager) -> None:
        """Read the broker through ``manager`` unless the last read is still fresh.

        Raises what the read raised (``TimeoutError`` after ``timeout``); call
        ``failed(error)`` then to export ``queue_core_queue_collector_up 0``."""
        if not self._fresh():
            with anyio.fail_after(self.timeout):
                self._snapshot = await read_snapshot(manager)

    def failed(self, error: BaseException) -> None:
        """Forget the last read (the next scrape exports no queue series) and log ``error``."""
        log.warning("queue metrics: cannot read the queues: %s", error)
        self._snapshot = None

    def _read(self) -> Snapshot | None:
        """The snapshot to export: cached, or read now from ``url``; None when unavailable."""
        with self._lock:
            if self._fresh() or self.url is None:
                return self._snapshot
            try:
                portal = self._open()
                assert self._manager is not None
                portal.call(self.refresh, self._manager)
                return self._snapshot
            except Exception as exc:
                log.warning("queue metrics: cannot read %s: %s", self.url, exc)
                return None

    def _open(self) -> anyio.from_thread.BlockingPortal:
        if self._portal is None:
            assert self.url is not None
            self._portal_cm = anyio.from_thread.start_blocking_portal(self._backend)
            self._portal = self._portal_cm.__enter__()
            manager = Manager(self.url)
            self._portal.call(manager.open)
            self._manager = manager
        return self._portal

    def close(self) -> None:
        """Close the Manager and the thread a URL collector opened (idempotent)."""
        with self._lock:
            portal, cm, manager = self._portal, self._portal_cm, self._manager
            self._portal = self._portal_cm = self._manager = None
            if portal is not None and cm is not None:
                try:
                    if manager is not None:
                        portal.call(manager.aclose)
                finally:
                    cm.__exit__(None, None, None)

    # ----------------------------------------------------------------- exporting

    def describe(self) -> Iterator[Any]:
        # What registering asks for: the names only, without reading the broker.
        yield _up(None)
        yield from _families(Snapshot((), 0, 0.0), None)

    def collect(self) -> Iterator[Any]:
        snapshot = self._read()
        yield _up(snapshot)
        if snapshot is not None:
            yield from _families(snapshot, self.queues)


def _up(snapshot: Snapshot | None) -> GaugeMetricFamily:
    up = GaugeMetricFamily("queue_core_queue_collector_up", "1 when the last read of the queues succeeded.")
    up.add_metric([], 1.0 if snapshot is not None else 0.0)
    return up


def _families(snapshot: Snapshot, only: frozenset[str] | None) -> Iterator[Any]:
    """The queue metric families of ``snapshot`` (of the queues in ``only``; None: all)."""
    jobs = GaugeMetricFamily("queue_core_queue_jobs", "Jobs in the queue by state.", labels=["queue", "state"])
    oldest = GaugeMetricFamily(
        "queue_core_queue_oldest_pending_age_seconds", "How long the oldest pending job has waited.", labels=["queue"]
    )
    paused = GaugeMetricFamily("queue_core_queue_paused", "1 when the queue is paused.", labels=["queue"])
    processed = CounterMetricFamily(
        "queue_core_queue_processed", "Attempts finished in the queue, by every worker (the broker's total).",
        labels=["queue"],
    )  # fmt: skip
    failed = CounterMetricFamily(
        "queue_core_queue_failed", "Attempts failed in the queue, by every worker (the broker's total).",
        labels=["queue"],
    )  # fmt: skip
    for queue in snapshot.queues:
        if only is not None and queue.queue not in only:
            continue
        for state in STATES:
            jobs.add_metric([queue.queue, state], float(getattr(queue, state)))
        oldest.add_metric([queue.queue], queue.latency)
        paused.add_metric([queue.queue], 1.0 if queue.paused else 0.0)
        processed.add_metric([queue.queue], float(queue.processed_total))
        failed.add_metric([queue.queue], float(queue.failed_total))
    workers = GaugeMetricFamily("queue_core_workers_alive", "Workers with a live heartbeat.")
    workers.add_metric([], float(snapshot.workers))
    yield from (jobs, oldest, paused, processed, failed, workers)
