"""A worker (or scheduler) process for the fault scenarios: ``python -m tests.fault.fault_worker CONFIG-JSON``.

The config names the broker URL and prefix, the worker options (the short profile by
default: lease 2 s, sweep 1 s) and the ledger directory. The handler ``work`` reads its
payload ``{"ms": <duration>, "kind": <behaviour>}`` and writes ``S`` (started) and ``E``
(effect) lines to the ledger. Behaviours:

- ``ok``: sleep ``ms`` (on the event loop, cancellable), then the effect;
- ``poison``: the process kills itself with SIGKILL (a job that crashes its worker);
- ``block``: ``time.sleep(ms)`` inside ``async def``: the event loop is blocked;
- ``raise``: raise the BaseException named by ``exc`` (see ``raise_named``);
- ``swallow``: sleep ``ms`` while ignoring cancellation, then the effect;
- ``die_after_effect``: the effect, then SIGKILL before the completion is sent (the
  first time only: a marker file in the ledger directory says it happened).

A ``C`` line is written when the broker applied this process's completion of a job. With
``"die_after_completing": [job ids]`` the process kills itself with SIGKILL right after
that line, once per listed job: the completion (and, in the same script, the release of
the job's dependents) is stored, and the worker does nothing after it.

A job of a flow names its dependencies in its payload (``"after": [job ids]``) and first
checks that it was not released early: each one's result must be on it (results are
copied when a dependency completes), and in a chain given the previous result, its
``previous`` field must be that result. Otherwise the handler writes an ``X`` line.

``"skew": S`` shifts this process's wall clock by S seconds (``time.time`` is patched
before queue-core is imported, monotonic time is not: what ``faketime`` with
``DONT_FAKE_MONOTONIC`` does). The process prints ``ready`` once the worker started.
"""

from __future__ import annotations

import json
import sys
import time

CONFIG = json.loads(sys.argv[1]) if __name__ == "__main__" else {}
TRUE_TIME = time.time
if CONFIG.get("skew"):
    _real_time = time.time
    _skew = float(CONFIG["skew"])
    time.time = lambda: _real_time() + _skew  # before anything captures time.time

import asyncio  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
from typing import Any  # noqa: E402

import anyio  # noqa: E402

from queue_core import Delivery, Scheduler, SystemClock, Worker, hookimpl  # noqa: E402
from queue_core.plugins import register  # noqa: E402
from tests.fault.ledger import LedgerWriter  # noqa: E402

PROFILE: dict[str, Any] = {
    "lease_for": 2.0,
    "sweep_interval": 1.0,
    "shutdown_timeout": 2.0,
    "heartbeat_interval": 1.0,
    "max_crashes": 3,
    "concurrency": 8,
}


class BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ of this exception raises")


def raise_named(name: str) -> None:
    if name == "SystemExit":
        raise SystemExit(3)
    if name == "KeyboardInterrupt":
        raise KeyboardInterrupt
    if name == "GeneratorExit":
        raise GeneratorExit
    if name == "CancelledError":
        raise asyncio.CancelledError  # the handler's own, not the worker's cancellation
    if name == "BaseExceptionGroup":
        raise BaseExceptionGroup("two failures", [ValueError("a"), KeyError("b")])
    if name == "BadStr":
        raise BadStr
    raise RuntimeError(f"unknown exception name {name!r}")


def first_time(ledger: LedgerWriter, what: str, job_id: str) -> bool:
    """True once per (what, job): the marker file is created exclusively."""
    try:
        os.close(os.open(os.path.join(ledger.directory, f"{what}-{job_id}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


class Announcer:
    def __init__(self, ledger: LedgerWriter | None, die_after_completing: frozenset[str] = frozenset()) -> None:
        self.ledger = ledger
        self.die_after_completing = die_after_completing

    @hookimpl
    def queue_core_worker_started(self, worker_id: str, queues: list[str]) -> None:
        print("ready", flush=True)

    @hookimpl
    def queue_core_job_succeeded(self, queue: str, job_id: str, job_type: str, duration: float) -> None:
        # The broker applied this process's completion (hooks fire only then): two such
        # lines for one job would be a double transition, a stale write let through.
        if self.ledger is not None:
            self.ledger.write("C", job_id, 0, 0, "-")
            if job_id in self.die_after_completing and first_time(self.ledger, "completed", job_id):
                os.kill(os.getpid(), signal.SIGKILL)

    @hookimpl
    def queue_core_worker_stopping(self, worker_id: str) -> None:
        print("stopping", flush=True)


def make_handler(ledger: LedgerWriter) -> Any:
    async def work(delivery: Delivery) -> str:
        record, token = delivery.record, delivery.lease.token
        ledger.write("S", record.id, record.retried, record.crashes, token)
        spec = delivery.decode() or {}
        if spec.get("after"):
            await check_released_in_time(delivery, spec, ledger)
        kind, seconds = spec.get("kind", "ok"), spec.get("ms", 0) / 1000
        if kind == "poison":
            os.kill(os.getpid(), signal.SIGKILL)
        elif kind == "block":
            time.sleep(seconds)  # the point: the event loop is blocked
        elif kind == "raise":
            raise_named(spec["exc"])
        elif kind == "swallow":
            deadline = anyio.current_time() + seconds
            while anyio.current_time() < deadline:
                with anyio.CancelScope(shield=True):
                    await anyio.sleep(0.05)
        elif seconds:
            await anyio.sleep(seconds)
        ledger.write("E", record.id, record.retried, record.crashes, token)
        if kind == "die_after_effect" and first_time(ledger, "effect", record.id):
            os.kill(os.getpid(), signal.SIGKILL)
        return "done"

    return work


async def check_released_in_time(delivery: Delivery, spec: dict[str, Any], ledger: LedgerWriter) -> None:
    """An ``X`` line when a dependency of this job had not completed (no result copied
    onto it) or a chain link's ``previous`` is not its predecessor's result."""
    record = delivery.record
    results = await delivery.dependency_results()
    early = [dep for dep in spec["after"] if results.get(dep) != "done"]
    if "previous" in spec and spec["previous"] != "done":
        early.append("previous")
    if early:
        ledger.write("X", record.id, record.retried, record.crashes, delivery.lease.token)


def main(config: dict[str, Any]) -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
    )
    ledger = LedgerWriter(config["ledger"], TRUE_TIME) if "ledger" in config else None
    register(Announcer(ledger, frozenset(config.get("die_after_completing", ()))))
    backend = config.get("backend", "asyncio")
    if config.get("role") == "scheduler":
        run_scheduler(config, backend)
        return
    options = {**PROFILE, **config.get("options", {})}
    if config.get("clock") == "system":  # a negative control: the machine's own clock
        options["clock"] = SystemClock()
    worker = Worker(config["url"], queues=config.get("queues"), broker_options={"prefix": config["prefix"]},
                    **options)  # fmt: skip
    if ledger is not None:
        for job_type in config.get("types", ["work"]):
            worker.register(job_type, make_handler(ledger))
    worker.run_forever(backend=backend)


def run_scheduler(config: dict[str, Any], backend: str) -> None:
    scheduler = Scheduler(config["url"], **config.get("options", {}))
    # A scheduler's broker takes its prefix from the URL (?prefix=).
    for entry in config["schedules"]:
        scheduler.register_periodic(entry["id"], entry["every"], "work", {"ms": 0, "kind": "ok"},
                                    retention=3600)  # fmt: skip

    async def run() -> None:
        with anyio.open_signal_receiver(signal.SIGTERM) as signals:
            async with anyio.create_task_group() as tg:
                tg.start_soon(scheduler.run)
                print("ready", flush=True)
                async for _ in signals:
                    scheduler.stop()
                    break

    anyio.run(run, backend=backend)


if __name__ == "__main__":
    main(CONFIG)
