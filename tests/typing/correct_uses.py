"""Correct uses of typed tasks: mypy --strict must accept every line."""

from __future__ import annotations

from typing import assert_type, reveal_type

from queue_core import Client, SyncClient
from queue_core.tasks import SyncTaskJob, TaskJob
from tests.typing.tasks_defined import Receipt, add, attempt, send_email


async def produce(client: Client) -> None:
    job = await send_email.enqueue(client, "a@example.com", subject="Hi")
    assert_type(job, TaskJob[Receipt])
    receipt = await job.result(timeout=10)
    assert_type(receipt, Receipt)
    reveal_type(receipt)
    assert_type(await (await add.enqueue(client, 1, b=2)).result(), int)
    assert_type(await (await attempt.enqueue(client, note="x")).result(), str)
    later = await send_email.with_options(delay=60, job_id="welcome-1").enqueue(client, "a", "b", urgent=True)
    assert_type(later, TaskJob[Receipt])
    jobs = await add.enqueue_many(client, [add.prepare(n) for n in range(3)])
    assert_type(jobs, list[TaskJob[int]])
    await client.wait(jobs, timeout=5)


def produce_blocking(client: SyncClient) -> int:
    job = add.enqueue_sync(client, 40, 2)
    assert_type(job, SyncTaskJob[int])
    return job.result(timeout=10)
