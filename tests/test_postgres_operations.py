"""The PostgreSQL driver's own figures and housekeeping, which the conformance kit checks
only in form: the server report, the memory estimate, the footprint's split into storage
that stays and storage that goes, and the collection of expired coordination rows by the
transitions that write their tables.

The database is ``$POSTGRES_URL`` when set, else the local development server; every test
gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest

from queue_core import HISTOGRAM_SLOTS, Job, MinuteMetrics, QueueNotFound, minute_of, open_broker

psycopg = pytest.importorskip("psycopg", reason="the postgres extra is not installed")

from queue_postgres.broker import PostgresBroker  # noqa: E402

LOCAL = "postgresql://postgres@127.0.0.1:5432/qc_pgaux"
T0 = 1_750_000_000.0


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = os.environ.get("POSTGRES_URL", LOCAL)
    schema = f"qc_test_{uuid.uuid4().hex[:12]}"
    parts = urlsplit(base)
    query = "&".join(filter(None, [parts.query, urlencode({"schema": schema})]))
    yield urlunsplit(parts._replace(query=query))
    with psycopg.connect(urlunsplit(parts._replace(query="")), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
async def broker(pg_url: str) -> AsyncIterator[PostgresBroker]:
    opened = await open_broker(pg_url)
    assert isinstance(opened, PostgresBroker)
    try:
        yield opened
    finally:
        await opened.close()


async def rows(broker: PostgresBroker, table: str) -> int:
    return (await broker.footprint()).items[table]


@pytest.mark.anyio
async def test_the_server_report_is_postgresqls_own(broker: PostgresBroker) -> None:
    report = await broker.server_info()
    [(version,)] = await broker._query("SELECT current_setting('server_version')")
    assert (report.backend, report.version, report.is_cluster) == ("postgresql", version, False)
    assert report.eviction_policy is None and not report.may_evict  # it never drops rows
    assert (report.memory_used, report.memory_limit) == (None, None)
    assert report.details["role"] == "primary"
    assert int(report.details["connected_clients"]) >= 1
    assert int(report.details["schema_size_bytes"]) > 0


@pytest.mark.anyio
async def test_the_memory_estimate_grows_with_what_the_queue_stores(broker: PostgresBroker) -> None:
    with pytest.raises(QueueNotFound):
        await broker.memory_usage("default")
    await broker.enqueue([Job("t", payload=b"x", job_id="small")], T0)
    small = await broker.memory_usage("default")
    payload = os.urandom(20_000)  # random bytes do not compress: the row grows by about this much
    await broker.enqueue([Job("t", payload=payload, job_id=f"big{i}") for i in range(4)], T0)
    grown = await broker.memory_usage("default")
    assert small > 0
    assert grown - small >= 4 * 20_000


@pytest.mark.anyio
async def test_the_footprint_counts_rows_and_names_the_tables_that_empty_themselves(broker: PostgresBroker) -> None:
    await broker.enqueue([Job("t", payload=b"{}", job_id="a")], T0)
    assert await broker.claim("tick", T0, 10) is True
    found = await broker.footprint()
    assert (found.items["jobs"], found.items["queues"], found.items["claims"]) == (1, 1, 1)
    assert {"jobs", "queues", "heartbeats", "events"} <= found.persistent
    assert not {"claims", "buckets", "metric_minutes", "metrics", "daily", "unique_locks"} & found.persistent


@pytest.mark.anyio
async def test_expired_claims_and_full_buckets_are_collected_by_later_writes(broker: PostgresBroker) -> None:
    assert await broker.claim("tick", T0, 10) is True
    assert await broker.take_tokens("api", 1.0, 2, T0) == 0.0
    # a minute past their ends (the claim's expiry; the bucket full again), by the writer's clock
    assert await broker.claim("other", T0 + 69, 10) is True
    assert await broker.take_tokens("other", 1.0, 2, T0 + 61) == 0.0
    assert (await rows(broker, "claims"), await rows(broker, "buckets")) == (2, 2)
    assert await broker.claim("other", T0 + 80, 10) is True
    assert await broker.take_tokens("other", 1.0, 2, T0 + 63) == 0.0
    assert (await rows(broker, "claims"), await rows(broker, "buckets")) == (1, 1)
    # what is collected was free or full already: the answers are those of a fresh key
    assert await broker.claim("tick", T0 + 80, 10) is True
    assert [await broker.take_tokens("api", 1.0, 2, T0 + 80) for _ in range(3)] == [0.0, 0.0, 1.0]


@pytest.mark.anyio
async def test_expired_minutes_of_metrics_are_collected_by_later_writes(broker: PostgresBroker) -> None:
    minute = minute_of(T0)
    zeros = (0,) * HISTOGRAM_SLOTS
    await broker.record_metrics([MinuteMetrics("q", "t", minute, 1, 0, 10, zeros)], T0, 60)
    await broker.record_metrics([MinuteMetrics("q", "t", minute + 60, 1, 0, 10, zeros)], minute + 119, 60)
    assert (await rows(broker, "metric_minutes"), await rows(broker, "metrics")) == (2, 2)
    await broker.record_metrics([MinuteMetrics("q", "t", minute + 120, 1, 0, 10, zeros)], minute + 120, 60)
    assert (await rows(broker, "metric_minutes"), await rows(broker, "metrics")) == (2, 2)  # the first is gone
    found = await broker.read_metrics("q", minute, minute + 120, minute + 120)
    assert [m.minute for m in found] == [minute + 120]
