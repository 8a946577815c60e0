"""docs/observability.md names every exported metric, and the Grafana dashboard and the
alert rules use only metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
from prometheus_client import CollectorRegistry

from queue_core import Client
from queue_core.prometheus import QueueCollector, WorkerMetrics, render_metrics
from tests.observability_kit import isolated, parse

DOCS = Path(__file__).resolve().parent.parent / "docs"
NAME = re.compile(r"\bqueue_core_[a-z_]+\b")
SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def exported() -> set[str]:
    """Every sample name the worker metrics and a queue collector export."""
    url = isolated("memory://", "docs")

    async def one_job() -> None:
        async with Client(url) as client:
            await client.enqueue("t")

    anyio.run(one_job)
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    metrics.series("default", "t")  # children exist once a job type was seen
    metrics.broker_errors.labels("dequeue")
    metrics.reconnects.labels("dequeue")
    collector = QueueCollector(url)
    registry.register(collector)
    try:
        names = {name for name, _ in parse(render_metrics(registry)[0].decode())}
    finally:
        collector.close()
    return {name for name in names if not name.endswith("_created")}


def family(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_every_exported_metric_is_documented_and_every_documented_one_exported() -> None:
    names = exported()
    documented = set(NAME.findall((DOCS / "observability.md").read_text()))
    families = {family(name) for name in names}
    assert len(families) >= 20
    missing = {name for name in names if name not in documented and family(name) not in documented}
    assert not missing, f"exported but not in docs/observability.md: {sorted(missing)}"
    unknown = {name for name in documented if name not in names and name not in families}
    assert not unknown, f"in docs/observability.md but not exported: {sorted(unknown)}"


def test_the_dashboard_and_the_alerts_use_only_exported_metrics() -> None:
    names = exported()
    dashboard = json.loads((DOCS / "observability" / "grafana-dashboard.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(expressions) >= 12
    used = {name for expr in expressions for name in NAME.findall(expr)}
    used |= set(NAME.findall((DOCS / "observability" / "alerts.yml").read_text()))
    assert used and used <= names, sorted(used - names)
