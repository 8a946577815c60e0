"""The hooks plugins take part through: headers before a job is written (with exactly
one "enqueued" or "enqueue_failed" after), worker middleware, broker outages, and the
tracing plugin on a scheduler's fire. The observability plugins load through entry
points and are off without their extra."""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from queue_core import Client, Delivery, Job, JobState, ManualClock, Scheduler, hookimpl
from queue_core.errors import BrokerUnavailable, DuplicateJob, JobIdConflict, QueueError, ValidationError
from queue_core.events import emit
from queue_core.otel import Tracing
from queue_core.outage import Outage
from queue_core.plugins import plugin_manager, register
from tests.observability_kit import ROOT
from tests.scheduler_kit import T0, fresh_broker, recording, running
from tests.worker_kit import HookRecorder, make_worker, manual_clock
from tests.worker_kit import running as worker_running


class Headers:
    """Adds headers to every job and records what follows."""

    def __init__(self, headers: dict[str, Any]) -> None:
        self.headers = headers
        self.seen: list[tuple[str, str, str]] = []

    @hookimpl
    def queue_core_job_enqueueing(self, job: Job, origin: str) -> dict[str, Any]:
        assert job.job_id is not None
        self.seen.append(("enqueueing", job.job_id, origin))
        return self.headers

    @hookimpl
    def queue_core_job_enqueued(self, job_id: str) -> None:
        self.seen.append(("enqueued", job_id, ""))

    @hookimpl
    def queue_core_job_enqueue_failed(self, job_id: str, error: BaseException) -> None:
        self.seen.append(("failed", job_id, type(error).__name__))


class Last(Headers):
    @hookimpl(trylast=True)
    def queue_core_job_enqueueing(self, job: Job, origin: str) -> dict[str, Any]:
        return super().queue_core_job_enqueueing(job, origin)


@pytest.fixture
def plugins() -> Iterator[list[object]]:
    """Plugins registered by the test, unregistered after it."""
    registered: list[object] = []
    yield registered
    for plugin in registered:
        plugin_manager().unregister(plugin)


def use(registered: list[object], plugin: object) -> None:
    register(plugin, name=f"test-{type(plugin).__name__}-{secrets.token_hex(3)}")
    registered.append(plugin)


async def test_plugin_headers_are_stored_the_jobs_own_and_the_first_plugin_win(
    broker_url: str, plugins: list[object]
) -> None:
    early = Headers({"trace": "early", "tenant": "plugin", "bad": 7})
    late = Last({"trace": "late", "extra": "late"})
    use(plugins, late)
    use(plugins, early)
    async with Client(broker_url, broker_options={"prefix": f"hooks-{secrets.token_hex(4)}"}) as client:
        info = await client.enqueue("t", headers={"tenant": "mine"})
        stored = await client.broker.job_info("default", info.id, 0.0)
    assert dict(stored.headers) == {"tenant": "mine", "trace": "early", "extra": "late"} == dict(info.headers)
    assert early.seen == [("enqueueing", info.id, "client"), ("enqueued", info.id, "")]


async def test_every_announced_job_is_followed_by_enqueued_or_enqueue_failed(
    broker_url: str, plugins: list[object]
) -> None:
    seen = Headers({})
    use(plugins, seen)
    async with Client(broker_url, broker_options={"prefix": f"hooks-{secrets.token_hex(4)}"}) as client:
        first = await client.enqueue("t", job_id="one")
        with pytest.raises(JobIdConflict):
            await client.enqueue("t", job_id="one")
        await client.enqueue("u", unique_for=60)
        with pytest.raises(DuplicateJob):
            await client.enqueue("u", unique_for=60)
        outcomes = await client.enqueue_many([Job.create("t", job_id="one"), Job.create("t", job_id="two")])
    assert [o.ok for o in outcomes] == [False, True] and first.id == "one"
    follow_ups = [(kind, job_id, detail) for kind, job_id, detail in seen.seen if kind != "enqueueing"]
    announced = [job_id for kind, job_id, _ in seen.seen if kind == "enqueueing"]
    assert sorted(job_id for _, job_id, _ in follow_ups) == sorted(announced)
    assert [detail for kind, _, detail in follow_ups if kind == "failed"] == [
        "JobIdConflict", "DuplicateJob", "JobIdConflict",
    ]  # fmt: skip


class Tracer:
    """Worker middleware from a plugin, recording the order of the chain."""

    def __init__(self, trail: list[str]) -> None:
        self.trail = trail

    @hookimpl
    def queue_core_worker_middleware(self, worker_id: str, queues: list[str]) -> list[Any]:
        async def outer(delivery: Delivery, call_next: Any) -> Any:
            self.trail.append(f"plugin:{queues}")
            return await call_next(delivery)

        return [outer, "not middleware"]


async def test_plugin_middleware_runs_outside_the_workers_own(
    broker_url: str, plugins: list[object], hooks: HookRecorder
) -> None:
    trail: list[str] = []
    use(plugins, Tracer(trail))
    clock = manual_clock()
    async with fresh_broker(broker_url) as broker:
        worker = make_worker(broker, clock)

        async def own(delivery: Delivery, call_next: Any) -> Any:
            trail.append("worker")
            return await call_next(delivery)

        async def handler(delivery: Delivery) -> None:
            trail.append("handler")

        worker.use(own)
        worker.register("t", handler)
        async with Client(broker, clock=clock) as client:
            info = await client.enqueue("t")
        async with worker_running(worker):
            await hooks.wait_for("succeeded", job_id=info.id)
    # the item that is not middleware is left out (and logged), the rest still runs
    assert trail == ["plugin:['default']", "worker", "handler"]


def test_an_outage_reports_each_error_and_one_reconnect_after_them(plugins: list[object]) -> None:
    events: list[tuple[str, str]] = []

    class Watcher:
        @hookimpl
        def queue_core_broker_error(self, operation: str, error: BaseException) -> None:
            events.append(("error", operation))

        @hookimpl
        def queue_core_broker_reconnected(self, operation: str) -> None:
            events.append(("reconnected", operation))

    use(plugins, Watcher())
    outage = Outage(logging.getLogger("queue_core.test_plugin_hooks"), "worker w1")
    dequeues = outage.calls("dequeue")
    dequeues.ok()
    assert dequeues.failed(QueueError("refused")) is False  # not unreachable: the caller logs it
    assert not outage.down
    assert dequeues.failed(BrokerUnavailable("down")) is True  # unreachable: the outage story tells it
    assert outage.down
    dequeues.ok()
    dequeues.ok()
    assert not outage.down
    assert events == [("error", "dequeue"), ("error", "dequeue"), ("reconnected", "dequeue")]


async def test_a_scheduler_fire_starts_a_trace_of_its_own(broker_url: str, plugins: list[object]) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use(plugins, Tracing(tracer_provider=provider))
    clock = ManualClock(T0)
    async with fresh_broker(broker_url) as broker, recording() as fires:
        scheduler = Scheduler(broker, clock=clock)
        scheduler.register_periodic("reports", 60, "report")
        with provider.get_tracer("test").start_as_current_span("the scheduler's process"):
            async with running(scheduler):
                await fires.wait_for(1)
        job_id = fires.fires[0]["job_id"]
        info = await broker.job_info("default", job_id, clock.now())
    (producer,) = [s for s in exporter.get_finished_spans() if s.kind is trace.SpanKind.PRODUCER]
    assert producer.parent is None  # a root: not a child of whatever the process was doing
    assert producer.attributes is not None and producer.attributes["messaging.queue_core.schedule_id"] == "reports"
    assert info.state is JobState.PENDING and "traceparent" in info.headers
    assert f"{producer.context.trace_id:032x}" in info.headers["traceparent"]


# --------------------------------------------------------------------------- loading


def python(code: str, **env: str) -> Any:
    """Run ``code`` in a fresh interpreter; it prints one JSON value, returned here."""
    import os

    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
        env={**os.environ, **env},
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


SHOW_PLUGINS = """
import json
import logging
from importlib.metadata import entry_points
from queue_core.plugins import plugin_manager
manager = plugin_manager()
names = ("prometheus", "otel", "otel-metrics")
print(json.dumps({
    "entry_points": sorted(ep.name for ep in entry_points(group="queue_core") if ep.name in names),
    "loaded": {name: type(manager.get_plugin(name)).__name__ for name in names},
    "hooked": sorted(impl.plugin_name for impl in manager.hook.queue_core_job_started.get_hookimpls()),
}))
"""


def test_the_plugins_load_through_their_entry_points() -> None:
    shown = python(SHOW_PLUGINS)
    assert shown["entry_points"] == ["otel", "otel-metrics", "prometheus"]
    assert shown["loaded"] == {"prometheus": "WorkerMetrics", "otel": "Tracing", "otel-metrics": "OTelMetrics"}
    assert shown["hooked"] == ["otel-metrics", "prometheus"]


def test_the_plugins_are_off_without_their_extra() -> None:
    # None in sys.modules makes `import prometheus_client` (or opentelemetry) fail, as
    # on an install without the extra.
    hide = "import sys; sys.modules['prometheus_client'] = sys.modules['opentelemetry'] = None\n"
    shown = python(hide + SHOW_PLUGINS)
    assert shown["loaded"] == {"prometheus": "object", "otel": "object", "otel-metrics": "object"}
    assert shown["hooked"] == []
    enqueue = """
import anyio, json
from queue_core import Client
async def main():
    async with Client("memory://") as client:
        print(json.dumps((await client.enqueue("t")).state.value))
anyio.run(main)
"""
    enqueued = python(hide + enqueue)
    assert enqueued == "pending"
    cli = hide + "from queue_core.cli import main; main()"
    refused = subprocess.run(
        [sys.executable, "-c", cli, "worker", "tests.observability_app:create", "--metrics-port", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "pip install 'queue-core[prometheus]'" in refused.stderr


def test_a_plugin_can_be_switched_off_by_name() -> None:
    shown = python(SHOW_PLUGINS, QUEUE_CORE_DISABLED_PLUGINS="prometheus, otel-metrics")
    assert shown["loaded"] == {"prometheus": "NoneType", "otel": "Tracing", "otel-metrics": "NoneType"}
    assert shown["hooked"] == []


class LeaseWatcher:
    def __init__(self) -> None:
        self.renewed: list[int] = []
        self.lost: list[str] = []

    @hookimpl
    def queue_core_leases_renewed(self, count: int) -> None:
        self.renewed.append(count)

    @hookimpl
    def queue_core_lease_lost(self, job_id: str) -> None:
        self.lost.append(job_id)


async def test_lease_renewals_and_a_lost_lease_are_reported(
    broker_url: str, plugins: list[object], hooks: HookRecorder
) -> None:
    watcher = LeaseWatcher()
    use(plugins, watcher)
    clock = manual_clock()
    async with fresh_broker(broker_url) as broker:
        worker = make_worker(broker, clock, lease_for=30)
        stopped = anyio.Event()

        @worker.handler("long")
        async def long(delivery: Delivery) -> None:
            try:
                await anyio.sleep_forever()
            finally:
                stopped.set()

        async with Client(broker, clock=clock) as client:
            job_id = (await client.enqueue("long")).id
        async with worker_running(worker):
            await hooks.wait_for("started", job_id=job_id)
            for _ in range(2):
                clock.advance(10)  # one renewal interval
                renewed = len(watcher.renewed)
                with anyio.fail_after(20):
                    while len(watcher.renewed) == renewed:
                        await anyio.sleep(0.01)
            # Another worker's recoverer takes the job back: the next renewal learns it. It
            # archives the job (max_crashes 0), so this worker cannot lease it again and
            # report that new lease's renewal before the old one's loss.
            await broker.recover_expired(["default"], clock.now() + 31, 0)
            clock.advance(10)
            with anyio.fail_after(20):
                await stopped.wait()
    assert watcher.renewed == [1, 1] and watcher.lost == [job_id]


def test_configure_sets_how_consumer_spans_are_parented() -> None:
    from queue_core.otel import configure
    from queue_core.otel.plugin import tracing

    assert isinstance(tracing, Tracing) and tracing.consumer_parent == "child"
    with pytest.raises(ValidationError, match="consumer_parent"):
        configure(consumer_parent="sibling")
    try:
        configure(consumer_parent="link")
        assert tracing.consumer_parent == "link"
    finally:
        configure(consumer_parent="child")


def test_a_plugin_that_raises_does_not_keep_the_hook_from_the_others(
    plugins: list[object], caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    class Broken:
        @hookimpl
        def queue_core_job_enqueued(self, job_id: str) -> None:
            raise RuntimeError("a bug in a plugin")

    class Fine:
        @hookimpl
        def queue_core_job_enqueued(self, job_id: str) -> None:
            seen.append(job_id)

    use(plugins, Fine())
    use(plugins, Broken())  # registered last: called first
    emit("job_enqueued", queue="q", job_id="j1", job_type="t")
    assert seen == ["j1"]
    assert "hook queue_core_job_enqueued raised; ignored" in caplog.text and "a bug in a plugin" in caplog.text
