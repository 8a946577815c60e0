"""The least-privilege role of docs/postgres.md: a role with exactly the grants that page
lists (the SQL block is read from the page and run as is, names substituted) runs a worker,
a client and the Manager with ``?migrate=false``, and cannot migrate."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import anyio
import pytest

from queue_core import BrokerAuthError, Client, Delivery, EnqueueStatus, Job, Manager, Worker, open_broker
from tests.cli_kit import invoke

pytestmark = pytest.mark.postgres

DOCS = Path(__file__).resolve().parent.parent / "docs" / "postgres.md"
MARKER = "<!-- least-privilege grants"
PATIENCE = 20.0


def documented_grants() -> str:
    """The ```sql block right after the marker in docs/postgres.md."""
    text = DOCS.read_text()
    after = text[text.index(MARKER) :]
    found = re.search(r"```sql\n(.*?)```", after, re.S)
    assert found is not None, "docs/postgres.md lost its grants block"
    return found.group(1)


def superuser(url: str) -> object:
    import psycopg

    return psycopg.connect(url, autocommit=True)


def as_role(url: str, role: str, password: str, query: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{role}:{password}@{host}", query=query))


@pytest.fixture
def worker_role(postgres_url: str) -> tuple[str, str, str]:
    """(owner URL, the role's URL, the schema): the schema migrated by its owner, the role
    given the documented grants and nothing else."""
    schema, role = f"role_{secrets.token_hex(4)}", f"worker_{secrets.token_hex(4)}"
    owner_url = f"{postgres_url}{'&' if '?' in postgres_url else '?'}schema={schema}"
    assert invoke(None, "db", "migrate", "--url", owner_url).exit_code == 0
    grants = documented_grants().replace("queue_core", schema).replace("queue_worker", role)
    grants = grants.replace("'change-me'", "'pw'")
    with superuser(postgres_url) as conn:  # type: ignore[attr-defined]
        conn.execute(grants)
    role_url = as_role(postgres_url, role, "pw", f"schema={schema}&migrate=false")
    yield owner_url, role_url, schema
    with superuser(postgres_url) as conn:  # type: ignore[attr-defined]
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


async def test_a_role_with_the_documented_grants_runs_a_worker_a_client_and_the_manager(
    worker_role: tuple[str, str, str],
) -> None:
    _, url, _ = worker_role
    ran: list[int] = []
    all_ran = anyio.Event()

    async def count(delivery: Delivery) -> int:
        ran.append(delivery.decode())
        if len(ran) == 5:
            all_ran.set()
        return 0

    worker = Worker(url, concurrency=2)
    worker.register("count", count)
    async with Client(url) as client:
        infos = [await client.enqueue("count", n, retention=60) for n in range(4)]
        outcomes = await client.enqueue_many([Job.create("count", 4, retention=60)])
        assert [outcome.status for outcome in outcomes] == [EnqueueStatus.ENQUEUED]
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            with anyio.fail_after(PATIENCE):
                await all_ran.wait()
            worker.stop()
    assert sorted(ran) == [0, 1, 2, 3, 4]
    async with Manager(url) as manager:
        info = await manager.queue_info("default")
        assert info.completed == 5
        done = await manager.job_info("default", infos[0].id)
        assert done.state.value == "completed"


async def test_the_role_cannot_migrate_nor_open_an_unmigrated_schema(worker_role: tuple[str, str, str]) -> None:
    _, url, schema = worker_role
    refused = invoke(None, "db", "migrate", "--url", url.replace("&migrate=false", ""))
    assert refused.exit_code == 2, refused.output
    assert "may not change the schema" in refused.output, refused.output
    assert invoke(None, "db", "status", "--url", url, "--check").exit_code == 0  # reading is allowed
    elsewhere = url.replace(f"schema={schema}", f"schema={schema}_new").replace("&migrate=false", "")
    with pytest.raises(BrokerAuthError, match=r"insufficient privilege|permission denied"):
        broker = await open_broker(elsewhere)
        try:
            await broker.ping()
            await broker.list_queues()
        finally:
            await broker.close()
    denied = invoke(None, "db", "migrate", "--url", elsewhere)
    assert denied.exit_code == 2
    assert "may not change the schema" in denied.output, denied.output
