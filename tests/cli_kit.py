"""What the CLI tests run and seed.

- An APP module for ``queue-core worker`` / ``scheduler``: ``tests.cli_kit:create_worker``
  (job types ``sleep`` and ``tick``), ``tests.cli_kit:create_scheduler``, and a few wrong
  APPs (a ready-made ``worker``, ``not_a_worker``, a factory taking no options).
- ``invoke``: the command line in this process (click's runner), so that ``memory://``
  URLs share the broker with the test.
- ``seed`` and ``in_background``: jobs in any state, and a Worker or Scheduler running on
  a thread of its own while the test invokes commands.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal
from click.testing import CliRunner, Result

from queue_core import Delivery, JobState, ManualClock, Scheduler, Worker, open_broker
from queue_core.cli import cli
from tests.manager_kit import populate

PATIENCE = 20.0

#: a ready-made Worker: command-line options cannot change it.
worker = Worker("memory://")
not_a_worker = 42


async def sleep(delivery: Delivery) -> str:
    """Sleep for the payload's seconds (forever for null); returns "slept"."""
    seconds = delivery.decode()
    if seconds is None:
        await anyio.sleep_forever()
    await anyio.sleep(float(seconds))
    return "slept"


async def tick(delivery: Delivery) -> None:
    return None


def create_worker(url: str = "memory://", **options: Any) -> Worker:
    """The APP of the worker tests: job types ``sleep`` and ``tick``, a 2 s drain."""
    options.setdefault("shutdown_timeout", 2.0)
    options.setdefault("heartbeat_interval", 0.5)
    built = Worker(url, **options)
    built.register("sleep", sleep)
    built.register("tick", tick)
    return built


def create_worker_without_options() -> Worker:
    return Worker("memory://")


def create_scheduler(url: str = "memory://") -> Scheduler:
    """Enqueues a ``tick`` job on queue ``ticks`` every second (schedule ``every-second``)."""
    scheduler = Scheduler(url, heartbeat_interval=0.5, id=f"test-{secrets.token_hex(3)}")
    scheduler.register_periodic("every-second", 1, "tick", queue="ticks")
    return scheduler


# --------------------------------------------------------------------------- helpers


def with_prefix(url: str, prefix: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


def invoke(url: str | None, *args: str, input: str | None = None) -> Result:
    """``queue-core ARGS`` with QUEUE_CORE_URL=url (unset for None), in this process."""
    return CliRunner().invoke(cli, list(args), input=input, env={"QUEUE_CORE_URL": url}, prog_name="queue-core")


def seed(url: str, counts: Mapping[JobState, int], queue: str = "ops") -> dict[JobState, list[str]]:
    """``counts[state]`` jobs in each state of ``queue`` (aggregating: groups g1, g2)."""

    async def fill() -> dict[JobState, list[str]]:
        broker = await open_broker(url)
        try:
            return await populate(broker, ManualClock(time.time()), counts, queue=queue)
        finally:
            await broker.close()

    return anyio.run(fill)


@contextmanager
def in_background(run: Callable[[], Any], stop: Callable[[], None]) -> Iterator[BlockingPortal]:
    """``run()`` on an event loop thread of its own until the block ends; then ``stop()``."""
    with start_blocking_portal() as portal:
        future = portal.start_task_soon(run)
        try:
            yield portal
        finally:
            portal.call(stop)
            future.result(timeout=PATIENCE)


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
