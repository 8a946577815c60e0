"""Cron and periodic jobs: a scheduler and a worker in one process.

Runs on the embedded ``memory://`` broker by default and stops by itself after a few
fires; point it at Redis with ``QUEUE_URL=redis://localhost:6379/0 python examples/cron.py``
(then start it twice, in two terminals: each tick is still enqueued only once).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime

import anyio

from queue_core import Delivery, Scheduler, Worker, open_broker, schedule_history

URL = os.environ.get("QUEUE_URL", "memory://")
FIRES = 3

scheduler = Scheduler(URL, timezone="Europe/Paris")
worker = Worker(URL, concurrency=2, shutdown_timeout=2)
handled: list[str] = []

# Every second (ticks on whole seconds since the Unix epoch, the same in every process).
scheduler.register_periodic("heartbeat", 1, "ops.heartbeat", {"service": "billing"}, queue="default")
# Every night at 02:30 Paris time; it will not fire during this short run.
scheduler.register_cron("nightly-report", "30 2 * * *", "report.build", {"kind": "daily"}, max_retries=3)


@worker.handler("ops.heartbeat")
async def heartbeat(delivery: Delivery) -> None:
    fired_at = datetime.fromtimestamp(float(delivery.headers["fire_time"])).strftime("%H:%M:%S")
    print(f"  {delivery.decode(dict)['service']} heartbeat for the {fired_at} tick (job {delivery.id})")
    handled.append(delivery.id)
    if len(handled) == FIRES:
        scheduler.stop()
        worker.stop()


@worker.handler("report.build")
async def build_report(delivery: Delivery) -> None:
    print(f"  building the {delivery.decode(dict)['kind']} report")


async def main() -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await tg.start(scheduler.run)  # returns once the scheduler is running
        nightly = datetime.fromtimestamp(scheduler.next_run("nightly-report") or 0, scheduler.timezone)
        print(f"scheduler {scheduler.id} running; next nightly report at {nightly:%Y-%m-%d %H:%M %Z}")
    # Both returned after stop(). The fires stay in the schedule's history:
    broker = await open_broker(URL)
    try:
        records = await schedule_history(broker, "heartbeat", limit=FIRES)
    finally:
        await broker.close()
    print(f"handled {len(handled)} heartbeats; last fires recorded: {[r.job_id for r in records]}")


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    anyio.run(main)
