"""The Prometheus plugin end to end: a worker process started with ``--metrics-port``
drains jobs with known outcomes, and a scrape (parsed by prometheus-client's parser)
shows exactly those counts; its queue collector agrees with ``queue-core stats``."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys

import anyio
import pytest

from queue_core import Client, JobState, Manager
from tests.observability_kit import ROOT, Samples, by_label, eventually, free_port, scrape, worker_process

pytestmark = pytest.mark.redis

#: job type -> how many the test enqueues (see tests/observability_app.py for outcomes).
SENT = {"ok": 5, "flaky": 2, "doomed": 1, "wait": 1}
EXPECTED = {
    "queue_core_jobs_started_total": {"ok": 5, "flaky": 4, "doomed": 1, "wait": 1},
    "queue_core_jobs_succeeded_total": {"ok": 5, "flaky": 2},
    "queue_core_jobs_failed_total": {"flaky": 2, "doomed": 1},
    "queue_core_jobs_retried_total": {"flaky": 2},
    "queue_core_jobs_archived_total": {"doomed": 1, "wait": 1},
    "queue_core_jobs_cancelled_total": {"wait": 1},
    # every attempt is timed; only first attempts have a pickup latency
    "queue_core_job_run_seconds_count": {"ok": 5, "flaky": 4, "doomed": 1, "wait": 1},
    "queue_core_job_pickup_seconds_count": {"ok": 5, "flaky": 2, "doomed": 1, "wait": 1},
}


def nonzero(counts: dict[str, float]) -> dict[str, float]:
    return {key: value for key, value in counts.items() if value}


async def test_a_worker_process_serves_exactly_the_counts_of_what_it_ran(redis_url: str, anyio_backend: str) -> None:
    url = f"{redis_url}?prefix=prom-{secrets.token_hex(4)}"
    port = free_port()
    async with Client(url) as client, Manager(url) as manager:
        # A paused queue nobody serves, with pending and scheduled jobs: the collector
        # exports every queue of the broker, not only the worker's.
        for _ in range(3):
            await client.enqueue("ok", queue="parked")
        await client.enqueue("ok", queue="parked", delay=3600)
        await manager.pause("parked")

        async with worker_process(url, anyio_backend, "--metrics-port", str(port), "--metrics-addr", "127.0.0.1"):
            samples: Samples = {}

            async def endpoint_up() -> bool:
                nonlocal samples
                try:
                    samples = await scrape(port)
                except OSError:
                    return False
                return True

            await eventually(endpoint_up, "the metrics endpoint")
            ids = {job_type: [(await client.enqueue(job_type)).id for _ in range(n)] for job_type, n in SENT.items()}

            async def waiting_job_runs() -> bool:
                return (await manager.job_info("default", ids["wait"][0])).state is JobState.ACTIVE

            await eventually(waiting_job_runs, "the wait job to start")
            await manager.cancel("default", ids["wait"][0])

            async def drained() -> bool:
                nonlocal samples
                samples = await scrape(port)
                archived = by_label(samples, "queue_core_jobs_archived_total", "job_type", queue="default")
                succeeded = by_label(samples, "queue_core_jobs_succeeded_total", "job_type", queue="default")
                return sum(archived.values()) == 2 and sum(succeeded.values()) == 7

            await eventually(drained, "the worker to drain the jobs")
            for name, expected in EXPECTED.items():
                assert nonzero(by_label(samples, name, "job_type", queue="default")) == expected, name
            assert nonzero(by_label(samples, "queue_core_jobs_in_flight", "job_type", queue="default")) == {}
            assert nonzero(by_label(samples, "queue_core_jobs_bounced_total", "job_type")) == {}
            assert samples[("queue_core_lease_renewals_total", ())] >= 0

            # The queue collector, once its cache shows the drained queue, equals `queue-core stats`.
            async def collector_settled() -> bool:
                nonlocal samples
                samples = await scrape(port)
                jobs = by_label(samples, "queue_core_queue_jobs", "state", queue="default")
                return jobs.get("archived") == 2 and jobs.get("active") == 0 and jobs.get("retry") == 0

            await eventually(collector_settled, "the queue collector to show the drained queue")
            stats = await anyio.to_thread.run_sync(queue_core_stats, url)
        assert sorted(stats) == ["default", "parked"]
        for queue, row in stats.items():
            jobs = by_label(samples, "queue_core_queue_jobs", "state", queue=queue)
            assert jobs == {state: float(row[state]) for state in jobs}, queue
            assert set(jobs) == {"pending", "active", "scheduled", "retry", "archived", "completed", "aggregating"}
            labels = (("queue", queue),)
            assert samples[("queue_core_queue_paused", labels)] == float(row["paused"])
            assert samples[("queue_core_queue_processed_total", labels)] == row["processed_total"]
            assert samples[("queue_core_queue_failed_total", labels)] == row["failed_total"]
            # read a moment apart: the collector's read came first
            assert 0 <= samples[("queue_core_queue_oldest_pending_age_seconds", labels)] <= row["latency"]
        assert stats["parked"]["pending"] == 3 and stats["parked"]["scheduled"] == 1 and stats["parked"]["paused"]
        assert stats["parked"]["latency"] > 0
        assert samples[("queue_core_queue_collector_up", ())] == 1
        assert samples[("queue_core_workers_alive", ())] == 1


def queue_core_stats(url: str) -> dict[str, dict[str, object]]:
    shown = subprocess.run(
        [sys.executable, "-m", "queue_core", "stats", "--json", "--url", url],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return {row["queue"]: row for row in json.loads(shown.stdout)}
