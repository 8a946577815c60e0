"""A worker in its own process, for the crash and signal tests (``python -m tests.worker_process``).

    python -m tests.worker_process URL PREFIX MODE BACKEND [OPTIONS-JSON]

It serves queue ``default`` with one handler, type ``work``, that prints ``started <job id>``
on stdout and then sleeps for the number of seconds in the job's payload (forever for
``null``), returning ``"done"``. The worker prints ``stopping`` when it begins to stop.

- MODE ``hold``: the worker's clock is a ManualClock at the tests' NOW that nothing moves,
  so its lease is never renewed; the test SIGKILLs the process.
- MODE ``signals``: the system clock and ``run_forever()``: SIGTERM / SIGINT stop it.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio

from queue_core import Delivery, ManualClock, Worker, hookimpl
from queue_core.plugins import register

NOW = 1_750_000_000.0


class Announcer:
    @hookimpl
    def queue_core_worker_stopping(self, worker_id: str) -> None:
        print("stopping", flush=True)


async def work(delivery: Delivery) -> str:
    print("started", delivery.id, flush=True)
    seconds = delivery.decode()
    if seconds is None:
        await anyio.sleep_forever()
    await anyio.sleep(float(seconds))
    return "done"


def main(url: str, prefix: str, mode: str, backend: str, options: dict[str, Any]) -> None:
    register(Announcer())
    clock = ManualClock(NOW) if mode == "hold" else None
    worker = Worker(url, broker_options={"prefix": prefix}, clock=clock, **options)
    worker.register("work", work)
    worker.run_forever(backend=backend, handle_signals=mode == "signals")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5]) if len(sys.argv) > 5 else {})
