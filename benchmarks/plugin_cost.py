"""CPU the observability plugins add to one job, measured in-process (``make bench``).

Runs exactly what a worker runs per successful attempt with the plugins that are on
(``QUEUE_CORE_DISABLED_PLUGINS`` picks them): the ``job_started`` and ``job_succeeded``
hooks and the plugins' middleware chain around a handler that does nothing, composed as
the worker composes it. Prints the CPU µs per job (the fastest of ``ROUNDS`` rounds: the
figure other load on the machine inflates least) as JSON.

    QUEUE_CORE_DISABLED_PLUGINS=otel,otel-metrics python benchmarks/plugin_cost.py
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import anyio

from queue_core.broker import JobRecord, Lease
from queue_core.events import emit
from queue_core.serialization import JSON
from queue_core.worker.delivery import Delivery
from queue_core.worker.handlers import plugin_middleware
from queue_core.worker.middleware import compose

JOBS = 50_000
ROUNDS = 5


async def handler(delivery: Delivery) -> None:
    return None


async def main() -> dict[str, Any]:
    record = JobRecord(id="0" * 32, type="noop", queue="default", payload=b"null", max_retries=25,
                       enqueued_at=time.time())  # fmt: skip
    delivery = Delivery(Lease(record, "token", time.time() + 30), broker=None, serializer=JSON)  # type: ignore[arg-type]
    chain = plugin_middleware("bench", ["default"], logging.getLogger("bench"))
    call = compose(chain, handler)
    best = float("inf")
    for _ in range(ROUNDS):
        began = time.process_time()
        for _ in range(JOBS):
            emit("job_started", None, queue="default", job_id=record.id, job_type="noop", attempt=1)
            await call(delivery)
            emit("job_succeeded", None, queue="default", job_id=record.id, job_type="noop", duration=0.001)
        best = min(best, (time.process_time() - began) / JOBS * 1e6)
    return {"cpu_us_per_job": best, "middleware": len(chain)}


if __name__ == "__main__":
    print(json.dumps(anyio.run(main)))
