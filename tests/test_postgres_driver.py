"""What only the PostgreSQL driver has: wake-ups by LISTEN/NOTIFY with no queries while
idle, transactional enqueue through the caller's connection (async and sync), the schema's
migrations, and the extra it needs.

The database is the session's PostgreSQL (``postgres_url``: ``$POSTGRES_URL`` or a
throwaway cluster); every test gets a schema of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlencode, urlsplit, urlunsplit

import anyio
import pytest

from queue_core import (
    Client,
    EnqueueStatus,
    InvalidConnection,
    Job,
    JobNotFound,
    JobState,
    ManualClock,
    SyncClient,
    open_broker,
)

psycopg = pytest.importorskip("psycopg", reason="the postgres extra is not installed")

from queue_postgres import migrations  # noqa: E402
from queue_postgres.broker import PostgresBroker  # noqa: E402

pytestmark = pytest.mark.postgres

T0 = 1_750_000_000.0


def with_options(url: str, **options: str) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(options)]))
    return urlunsplit(parts._replace(query=query))


def conninfo(url: str) -> str:
    """The URL without the driver's options, for a plain psycopg connection."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=""))


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A URL with a fresh schema; the schema is dropped afterwards."""
    base = postgres_url
    schema = f"qc_test_{uuid.uuid4().hex[:12]}"
    yield with_options(base, schema=schema)
    with psycopg.connect(conninfo(base), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
async def broker(pg_url: str) -> AsyncIterator[PostgresBroker]:
    opened = await open_broker(pg_url)
    assert isinstance(opened, PostgresBroker)
    try:
        yield opened
    finally:
        await opened.close()


def job(job_id: str, queue: str = "default", **options: object) -> Job:
    return Job("email", payload=b"{}", queue=queue, job_id=job_id, **options)  # type: ignore[arg-type]


class Rollback(Exception):
    pass


# ---------------------------------------------------------------- LISTEN/NOTIFY


def backend_activity(url: str, application: str) -> dict[int, object]:
    """pid -> start of the last statement, for every connection named ``application``."""
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid, query_start FROM pg_stat_activity WHERE application_name = %s", (application,)
        ).fetchall()
    return dict(rows)


async def test_an_idle_waiter_sends_no_queries(pg_url: str) -> None:
    """While a worker waits for work, none of the broker's connections runs a statement:
    the wait is on the listening socket, not a poll."""
    application = f"qc-idle-{uuid.uuid4().hex[:8]}"
    broker = await open_broker(with_options(pg_url, application_name=application))
    try:
        await broker.enqueue([job("warm")], T0)  # the pool has a connection; the schema exists
        await broker.wait_for_jobs(["idle"], 0)  # the listener has subscribed
        before = await anyio.to_thread.run_sync(backend_activity, pg_url, application)
        assert len(before) >= 2  # the pool's connection and the listener
        await broker.wait_for_jobs(["idle"], 1.0)
        after = await anyio.to_thread.run_sync(backend_activity, pg_url, application)
        assert after == before
    finally:
        await broker.close()


async def test_an_enqueue_through_another_broker_wakes_a_waiter(pg_url: str) -> None:
    """Pickup does not wait for a poll: the NOTIFY of another process's enqueue wakes the
    waiter long before its timeout."""
    waiter = await open_broker(pg_url)
    producer = await open_broker(pg_url)
    try:
        await waiter.wait_for_jobs(["default"], 0)
        await producer.enqueue([job("a")], T0)
        with anyio.fail_after(20):
            await waiter.wait_for_jobs(["default"], 60)
        assert [lease.job_id for lease in await waiter.dequeue(["default"], T0, 30, "w", 5)] == ["a"]
    finally:
        await waiter.close()
        await producer.close()


# ---------------------------------------------------------------- transactional enqueue


def notifications_until_marker(listener: psycopg.Connection[object], marker: str) -> list[str]:
    """Payloads of the jobs channel received before ``marker`` (notifications arrive in
    commit order, so what a transaction sent comes before a later marker)."""
    seen = []
    for notify in listener.notifies(timeout=20):
        if notify.payload == marker:
            return seen
        seen.append(notify.payload)
    raise AssertionError(f"the marker never arrived; got {seen}")


async def test_a_rollback_wakes_no_worker_and_a_commit_does(broker: PostgresBroker, pg_url: str) -> None:
    channel = f"{broker._schema}.jobs"
    with psycopg.connect(conninfo(pg_url), autocommit=True) as listener:
        listener.execute(f'LISTEN "{channel}"')
        with pytest.raises(Rollback):
            async with broker.transaction() as conn:
                await broker.enqueue_in(conn, [job("rolled", queue="rolled-back")], T0)
                raise Rollback
        await broker.enqueue([job("marker", queue="marker-1")], T0)
        seen = await anyio.to_thread.run_sync(notifications_until_marker, listener, "marker-1")
        assert "rolled-back" not in seen

        async with broker.transaction() as conn:
            await broker.enqueue_in(conn, [job("kept", queue="committed")], T0)
        await broker.enqueue([job("marker2", queue="marker-2")], T0)
        seen = await anyio.to_thread.run_sync(notifications_until_marker, listener, "marker-2")
        assert seen == ["committed"]
    with pytest.raises(JobNotFound):
        await broker.job_info("rolled-back", "rolled", T0)
    assert (await broker.job_info("committed", "kept", T0)).state is JobState.PENDING


async def test_the_callers_own_async_connection(broker: PostgresBroker, pg_url: str, anyio_backend: str) -> None:
    """A psycopg AsyncConnection the application opened, its transaction around its own
    writes and the enqueue."""
    if anyio_backend != "asyncio":
        pytest.skip("psycopg's AsyncConnection runs on asyncio only (under trio the application has a sync one)")
    client = Client(broker, clock=ManualClock(T0))
    async with await psycopg.AsyncConnection.connect(conninfo(pg_url)) as conn, conn.transaction():
        await conn.execute("SELECT 1")  # the application's own writes would go here
        await client.enqueue("email", {}, job_id="a", connection=conn)
        with pytest.raises(JobNotFound):
            await broker.job_info("default", "a", T0)
    assert (await broker.job_info("default", "a", T0)).state is JobState.PENDING


def test_the_sync_client_writes_inside_a_sync_transaction(pg_url: str) -> None:
    """SyncClient(..., connection=) with a sync psycopg connection, as a Django view has."""
    with SyncClient(pg_url) as client, psycopg.connect(conninfo(pg_url)) as conn:
        with pytest.raises(Rollback), conn.transaction():
            client.enqueue("email", {}, job_id="gone", connection=conn)
            raise Rollback
        with conn.transaction():
            client.enqueue("email", {}, job_id="kept", connection=conn)
            outcomes = client.enqueue_many([job("many")], connection=conn)
        assert [o.status for o in outcomes] == [EnqueueStatus.ENQUEUED]
        with pytest.raises(JobNotFound):
            client.run(lambda: client.client.broker.job_info("default", "gone", T0))
        assert client.run(lambda: client.client.broker.job_info("default", "kept", T0)).state is JobState.PENDING


async def test_a_foreign_object_is_refused_before_anything_is_written(broker: PostgresBroker) -> None:
    with pytest.raises(InvalidConnection, match="psycopg"):
        await broker.enqueue_in("not a connection", [job("a")], T0)
    assert await broker.list_queues() == []


# ---------------------------------------------------------------- schema lifecycle


def test_migrate_applies_each_migration_once(pg_url: str) -> None:
    status = migrations.schema_status(pg_url)
    assert (status.current, status.functions_current) == (0, False)
    assert status.pending == [m.name for m in migrations.sqlfiles.migrations()]
    assert migrations.migrate(pg_url) == status.pending
    assert migrations.migrate(pg_url) == []
    after = migrations.schema_status(pg_url)
    assert (after.current, after.known, after.pending, after.functions_current) == (
        status.known,
        status.known,
        [],
        True,
    )


async def test_a_newer_schema_is_refused_untouched(pg_url: str) -> None:
    await anyio.to_thread.run_sync(migrations.migrate, pg_url)
    schema = urlsplit(pg_url).query.split("schema=")[1]
    with psycopg.connect(conninfo(pg_url), autocommit=True) as conn:
        conn.execute(f'INSERT INTO "{schema}".schema_migrations (version, name) VALUES (99, %s)', ("9999_future",))
    broker = await open_broker(pg_url)
    try:
        with pytest.raises(migrations.SchemaTooNew, match="99"):
            await broker.ping()
    finally:
        await broker.close()
    with pytest.raises(migrations.SchemaTooNew):
        await anyio.to_thread.run_sync(migrations.migrate, pg_url)


async def test_migrate_false_refuses_a_schema_behind_and_uses_a_current_one(pg_url: str) -> None:
    locked = with_options(pg_url, migrate="false")
    broker = await open_broker(locked)
    try:
        with pytest.raises(migrations.SchemaNotReady, match="queue-core db migrate"):
            await broker.ping()
    finally:
        await broker.close()
    assert migrations.schema_status(pg_url).current == 0  # nothing was created
    await anyio.to_thread.run_sync(migrations.migrate, pg_url)
    broker = await open_broker(locked)
    try:
        [outcome] = await broker.enqueue([job("a")], T0)
        assert outcome.ok
    finally:
        await broker.close()


def test_without_psycopg_the_scheme_names_the_postgres_extra() -> None:
    program = """
import sys
sys.modules['psycopg'] = None
import anyio
from queue_core import MissingDependency, open_broker
async def main():
    try:
        await open_broker('postgresql://localhost/db')
    except MissingDependency as exc:
        print(exc.extra, '|', exc)
anyio.run(main)
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    extra, _, message = done.stdout.strip().partition(" | ")
    assert extra == "postgres"
    assert message.endswith("needs an optional dependency: pip install 'queue-core[postgres]'")
    assert message.startswith("the PostgreSQL driver (postgresql://)")


def test_the_transactional_example_sends_only_the_committed_receipt(postgres_url: str) -> None:
    base = postgres_url
    example = os.path.join(os.path.dirname(__file__), "..", "examples", "transactional_enqueue.py")
    done = subprocess.run(
        [sys.executable, example], capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "POSTGRES_URL": conninfo(base)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "order 2: payment declined, rolled back (no order, no job)" in done.stdout
    assert "orders stored: [1]; receipts sent: [1]" in done.stdout
