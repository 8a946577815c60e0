"""The metrics as a library: the queue collector in a registry of one's own (reading a URL
itself, or refreshed from an async app's Manager), the exposition for a web route, the
OpenTelemetry metrics, and the worker's --processes / --log-format json outputs."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client import CollectorRegistry

from queue_core import Client, Manager
from queue_core.errors import BrokerUnavailable
from queue_core.otel import OTelMetrics
from queue_core.plugins import plugin_manager, register
from queue_core.prometheus import MetricsRoute, QueueCollector, WorkerMetrics, render_metrics
from tests.observability_kit import by_label, eventually, free_port, isolated, parse, scrape, worker_process
from tests.worker_kit import HookRecorder, make_worker, manual_clock, raising, running


def test_a_url_collector_reads_the_broker_once_per_cache_interval() -> None:
    url = isolated("memory://", "coll")

    async def enqueue(n: int) -> None:
        async with Client(url) as client:
            for _ in range(n):
                await client.enqueue("t", queue="mail")

    anyio.run(enqueue, 2)
    registry = CollectorRegistry()
    collector = QueueCollector(url, cache_seconds=3600)
    registry.register(collector)
    try:
        body, content_type = render_metrics(registry)
        assert content_type.startswith("text/plain")
        first = parse(body.decode())
        assert by_label(first, "queue_core_queue_jobs", "state", queue="mail")["pending"] == 2
        anyio.run(enqueue, 1)
        cached = parse(render_metrics(registry)[0].decode())  # within the cache interval: not read again
        assert by_label(cached, "queue_core_queue_jobs", "state", queue="mail")["pending"] == 2
        collector.cache_seconds = 0
        fresh = parse(render_metrics(registry)[0].decode())
        assert by_label(fresh, "queue_core_queue_jobs", "state", queue="mail")["pending"] == 3
        assert fresh[("queue_core_queue_collector_up", ())] == 1
    finally:
        collector.close()


def test_openmetrics_is_served_to_whoever_asks_for_it() -> None:
    registry = CollectorRegistry()
    WorkerMetrics(registry).series("mail", "send").started.inc()
    body, content_type = render_metrics(registry, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert 'queue_core_jobs_started_total{job_type="send",queue="mail"} 1.0' in body.decode()
    assert body.decode().rstrip().endswith("# EOF")


def test_a_collector_without_url_exports_what_the_app_refreshed_it_with(broker_url: str) -> None:
    url = isolated(broker_url, "coll")
    registry = CollectorRegistry()
    collector = QueueCollector()
    registry.register(collector)
    assert parse(render_metrics(registry)[0].decode()) == {("queue_core_queue_collector_up", ()): 0.0}

    async def serve_metrics_route() -> bytes:
        async with Client(url) as client, Manager(url) as manager:
            await client.enqueue("t", queue="mail", delay=60)
            await collector.refresh(manager)  # what a /metrics handler does before rendering
            return render_metrics(registry)[0]

    samples = parse(anyio.run(serve_metrics_route).decode())
    assert by_label(samples, "queue_core_queue_jobs", "state", queue="mail")["scheduled"] == 1
    assert samples[("queue_core_queue_paused", (("queue", "mail"),))] == 0


async def test_the_opentelemetry_metrics_count_what_the_worker_did(broker_url: str, hooks: HookRecorder) -> None:
    reader = InMemoryMetricReader()
    metrics = OTelMetrics(meter_provider=MeterProvider(metric_readers=[reader]))
    register(metrics, name=f"test-otel-metrics-{secrets.token_hex(3)}")
    try:
        clock = manual_clock()
        async with Client(broker_url, clock=clock, broker_options={"prefix": f"m-{secrets.token_hex(4)}"}) as client:
            worker = make_worker(client.broker, clock)
            worker.register("ok", lambda_ok)
            worker.register("bad", raising(ValueError("no")), retry_delay=lambda n, e: 3600)
            good, bad = await client.enqueue("ok"), await client.enqueue("bad")
            async with running(worker):
                await hooks.wait_for("succeeded", job_id=good.id)
                await hooks.wait_for("retrying", job_id=bad.id)
    finally:
        plugin_manager().unregister(metrics)
    data = reader.get_metrics_data()
    assert data is not None
    points: dict[tuple[str, str], float] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    job_type = str(point.attributes.get("messaging.queue_core.job_type")) if point.attributes else ""
                    value = getattr(point, "value", None)
                    points[(metric.name, job_type)] = value if value is not None else point.count  # type: ignore[attr-defined]
    assert points[("queue_core.jobs.enqueued", "ok")] == 1 and points[("queue_core.jobs.enqueued", "bad")] == 1
    assert points[("queue_core.jobs.started", "ok")] == 1 and points[("queue_core.jobs.started", "bad")] == 1
    assert points[("queue_core.jobs.succeeded", "ok")] == 1 and ("queue_core.jobs.succeeded", "bad") not in points
    assert points[("queue_core.jobs.failed", "bad")] == 1 and points[("queue_core.jobs.retried", "bad")] == 1
    assert points[("queue_core.job.run.duration", "ok")] == 1  # a histogram: its count
    assert points[("queue_core.jobs.in_flight", "ok")] == 0


async def lambda_ok(delivery: object) -> str:
    return "ok"


@pytest.mark.redis
async def test_with_processes_each_worker_process_serves_its_own_port(redis_url: str, anyio_backend: str) -> None:
    url = f"{redis_url}?prefix=procs-{secrets.token_hex(4)}"
    first = free_port(consecutive=2)
    second = first + 1
    args = ("--processes", "2", "--metrics-port", str(first), "--metrics-addr", "127.0.0.1")
    async with worker_process(url, anyio_backend, *args):
        for port in (first, second):

            async def up(port: int = port) -> bool:
                try:
                    samples = await scrape(port)
                except OSError:
                    return False
                return samples.get(("queue_core_workers_alive", ())) == 2

            await eventually(up, f"worker process on port {port} seeing both workers")


@pytest.mark.redis
async def test_json_logs_are_one_object_per_line_with_the_jobs_fields(
    redis_url: str, anyio_backend: str, tmp_path: Path
) -> None:
    url = f"{redis_url}?prefix=logs-{secrets.token_hex(4)}"
    log_file = tmp_path / "worker.log"
    with log_file.open("wb") as sink:
        async with (
            Client(url) as client,
            worker_process(url, anyio_backend, "--log-format", "json", stderr=sink.fileno()),
        ):
            info = await client.enqueue("doomed")

            async def logged() -> bool:
                return "archived" in log_file.read_text()

            await eventually(logged, "the archived job's log line")
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]  # every line is one object
    (failure,) = [entry for entry in lines if entry.get("job_id") == info.id and entry["level"] == "ERROR"]
    assert failure["logger"] == "queue_core.worker"
    assert (failure["job_type"], failure["queue"], failure["attempt"]) == ("doomed", "default", 1)
    assert "never works" in failure["message"] and failure["time"].endswith("+00:00")
    assert {"time", "level", "logger", "message"} <= set(lines[0])


async def test_a_metrics_route_renders_the_process_metrics_and_the_queues(broker_url: str) -> None:
    registry = CollectorRegistry()
    WorkerMetrics(registry).series("mail", "send").succeeded.inc(3)
    route = MetricsRoute(registry)
    url = isolated(broker_url, "route")
    async with Client(url) as client, Manager(url) as manager:
        await client.enqueue("send", queue="mail")
        body, content_type = await route(manager)
    samples = parse(body.decode())
    assert content_type.startswith("text/plain")
    assert samples[("queue_core_jobs_succeeded_total", (("job_type", "send"), ("queue", "mail")))] == 3
    assert by_label(samples, "queue_core_queue_jobs", "state", queue="mail")["pending"] == 1
    assert samples[("queue_core_queue_collector_up", ())] == 1


class Unreachable:
    """A Manager whose broker is down."""

    async def queue_names(self) -> list[str]:
        raise BrokerUnavailable("connection refused")


async def test_a_metrics_route_whose_broker_is_down_says_so_and_still_answers() -> None:
    registry = CollectorRegistry()
    WorkerMetrics(registry).series("mail", "send").started.inc()
    body, _ = await MetricsRoute(registry)(Unreachable())  # type: ignore[arg-type]
    samples = parse(body.decode())
    assert samples[("queue_core_queue_collector_up", ())] == 0
    assert samples[("queue_core_jobs_started_total", (("job_type", "send"), ("queue", "mail")))] == 1
    assert not by_label(samples, "queue_core_queue_jobs", "state")
