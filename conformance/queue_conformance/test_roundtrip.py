"""Any valid job comes back exactly as enqueued: every field, any payload bytes, unicode."""

from __future__ import annotations

from typing import Any

from anyio.from_thread import start_blocking_portal
from hypothesis import given, settings

from queue_conformance.compare import assert_same
from queue_conformance.plugin import OpenBroker
from queue_conformance.reference import AsyncReference
from queue_conformance.strategies import START, valid_jobs
from queue_core import Job, Settlement

#: Each example is one short exchange, so a quarter of --conformance-examples suffices.
SHARE = 4


async def _exchange(broker: Any, job: Job, result: bytes) -> list[object]:
    """Enqueue, inspect, lease, store a result, complete, inspect: everything observed."""
    job_id = job.job_id or ""
    seen: list[object] = [await broker.enqueue([job], START), await broker.job_info(job.queue, job_id, START)]
    seen.append(await broker.job_payload(job.queue, job_id))
    leases = await broker.dequeue([job.queue], START, 30.0, "w1", 1)
    seen.append([(lease.record, lease.expires_at) for lease in leases])
    seen.append(await broker.write_result(leases[0], result))
    seen.append(await broker.settle([Settlement.complete(leases[0])], START + 1))
    if job.retention > 0:
        seen.append(await broker.job_info(job.queue, job_id, START + 1))
        seen.append(await broker.job_result(job.queue, job_id))
    return seen


async def _on_driver(open_broker: OpenBroker, job: Job, result: bytes) -> list[object]:
    broker = await open_broker()
    try:
        return await _exchange(broker, job, result)
    finally:
        await broker.close()


def test_valid_jobs_round_trip(
    anyio_backend: str, conformance_open_broker: OpenBroker, conformance_settings: settings
) -> None:
    with start_blocking_portal(anyio_backend) as portal:

        @settings(conformance_settings, max_examples=max(10, conformance_settings.max_examples // SHARE))
        @given(job=valid_jobs(), result=valid_jobs().map(lambda job: job.payload))
        def round_trip(job: Job, result: bytes) -> None:
            want = portal.call(_exchange, AsyncReference(), job, result)
            got = portal.call(_on_driver, conformance_open_broker, job, result)
            assert_same(f"round trip of {job!r}", got, want)

        round_trip()
