"""One library's side of a benchmark phase, run with that library's own interpreter.

The harness (``benchmarks/run.py``, in queue-core's virtualenv) starts Redis, resets its
statistics and times the workers; this script only talks to the library under test and
prints one JSON line. It imports nothing but the standard library and the adapter
``peer_<lib>.py`` next to it, so it runs in every library's virtualenv::

    python agent.py LIB version
    python agent.py LIB prepare URL                   # schema set-up, before any timed phase
    python agent.py LIB worker URL CONCURRENCY        # runs until SIGTERM
    python agent.py LIB enqueue URL N [--bulk CALL]   # timed enqueues
    python agent.py LIB enqueue URL N --tasks K       # K tasks enqueueing one by one at once
    python agent.py LIB latency URL FIFO N M          # warm-up, N pickups, M scheduled
    python agent.py queue-core memory URL N CONCURRENCY SAMPLES
    python agent.py queue-core bare URL N PIPELINE
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import select
import sys
import time
from importlib import metadata
from typing import Any

from mark import MARK, read_marks

#: how long a latency client waits for a mark before giving up on the job.
MARK_TIMEOUT = 30.0
#: how far ahead the scheduled-lateness jobs are scheduled, and how often one is sent.
SCHEDULE_AHEAD = 0.2
SCHEDULE_EVERY = 0.02


def adapter(lib: str) -> Any:
    return importlib.import_module("peer_" + lib.replace("-", "_"))


def run(lib: str, coro_fn: Any, *args: Any) -> Any:
    module = adapter(lib)
    if hasattr(module, "backend"):
        import anyio

        return anyio.run(coro_fn, *args, backend=module.backend())
    return asyncio.run(coro_fn(*args))


async def enqueue_phase(lib: str, url: str, n: int, bulk: int, tasks: int = 1) -> dict[str, Any]:
    module = adapter(lib)
    client = await module.connect(url)

    async def one_by_one(count: int) -> None:
        for _ in range(count):
            await module.enqueue(client)

    try:
        began = time.perf_counter()
        if bulk:
            for start in range(0, n, bulk):
                await module.enqueue_bulk(client, min(bulk, n - start))
        elif tasks > 1:
            # every task enqueues its share one by one, all through the one client
            shares = [n // tasks + (1 if i < n % tasks else 0) for i in range(tasks)]
            if hasattr(module, "backend"):
                import anyio

                async with anyio.create_task_group() as group:
                    for share in shares:
                        group.start_soon(one_by_one, share)
            else:
                await asyncio.gather(*(one_by_one(share) for share in shares))
        else:
            await one_by_one(n)
        elapsed = time.perf_counter() - began
    finally:
        await module.close(client)
    return {"jobs": n, "seconds": elapsed, "rate": n / elapsed}


class Marks:
    """Reads marks from the FIFO the worker writes to."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.buffer = b""

    def take(self, timeout: float) -> list[tuple[float, int]]:
        """At least one mark, or [] after ``timeout``."""
        deadline = time.monotonic() + timeout
        while len(self.buffer) < MARK.size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
                return []
            try:
                self.buffer += os.read(self.fd, 65536)
            except BlockingIOError:
                continue
        usable = len(self.buffer) - len(self.buffer) % MARK.size
        marks, self.buffer = read_marks(self.buffer[:usable]), self.buffer[usable:]
        return marks


async def latency_phase(lib: str, url: str, fifo: str, samples: int, scheduled: int) -> dict[str, Any]:
    """An idle worker: ``samples`` jobs one at a time (enqueue call to job start), then
    ``scheduled`` jobs sent every 20 ms, each scheduled 200 ms ahead."""
    module = adapter(lib)
    marks = Marks(fifo)
    client = await module.connect(url)
    result: dict[str, Any] = {}
    try:
        await module.enqueue(client, tag=1)  # warm-up, and the worker's readiness signal
        if not marks.take(MARK_TIMEOUT):
            raise SystemExit(f"{lib}: the warm-up job never ran")
        await asyncio_or_anyio_sleep(lib, 1.0)
        pickup = []
        for tag in range(2, samples + 2):
            sent = time.monotonic()
            await module.enqueue(client, tag=tag)
            got = marks.take(MARK_TIMEOUT)
            if not got or got[-1][1] != tag:
                raise SystemExit(f"{lib}: pickup job {tag} came back as {got}")
            pickup.append(got[-1][0] - sent)
        result["pickup"] = pickup
        if scheduled and getattr(module, "SCHEDULE", True):
            await asyncio_or_anyio_sleep(lib, 0.5)
            due: dict[int, float] = {}
            started: dict[int, float] = {}
            base = 100_000
            for i in range(scheduled):
                due[base + i] = time.monotonic() + SCHEDULE_AHEAD
                await module.enqueue(client, tag=base + i, delay=SCHEDULE_AHEAD)
                for at, tag in marks.take(0):
                    started[tag] = at
                await asyncio_or_anyio_sleep(lib, SCHEDULE_EVERY)
            deadline = time.monotonic() + MARK_TIMEOUT
            while len(started) < scheduled and time.monotonic() < deadline:
                for at, tag in marks.take(deadline - time.monotonic()):
                    started[tag] = at
            result["lateness"] = [started[tag] - due[tag] for tag in due if tag in started]
            result["lateness_missing"] = scheduled - len(started)
    finally:
        await module.close(client)
    return result


async def asyncio_or_anyio_sleep(lib: str, seconds: float) -> None:
    if hasattr(adapter(lib), "backend"):
        import anyio

        await anyio.sleep(seconds)
    else:
        await asyncio.sleep(seconds)


def version(lib: str) -> str:
    module = adapter(lib)
    parts = []
    for name in module.DISTRIBUTIONS:
        with contextlib.suppress(metadata.PackageNotFoundError):
            parts.append(f"{name} {metadata.version(name)}")
    return ", ".join(parts)


def main(argv: list[str]) -> int:
    lib, command, *rest = argv
    if command == "version":
        out: Any = {"version": version(lib), "bulk": bool(adapter(lib).BULK)}
    elif command == "prepare":
        (url,) = rest
        module = adapter(lib)
        if hasattr(module, "prepare"):
            run(lib, module.prepare, url)
        out = {"prepared": hasattr(module, "prepare")}
    elif command == "worker":
        url, concurrency = rest
        os.environ["BENCH_REDIS_URL"], os.environ["BENCH_CONCURRENCY"] = url, concurrency
        import logging

        logging.disable(logging.INFO)  # no library pays for a log line per job
        adapter(lib).worker(url, int(concurrency))
        return 0
    elif command == "enqueue":
        url, n, *flags = rest
        bulk = int(flags[1]) if flags[:1] == ["--bulk"] else 0
        tasks = int(flags[1]) if flags[:1] == ["--tasks"] else 1
        os.environ["BENCH_REDIS_URL"] = url
        out = run(lib, enqueue_phase, lib, url, int(n), bulk, tasks)
    elif command == "latency":
        url, fifo, samples, scheduled = rest
        os.environ["BENCH_REDIS_URL"] = url
        out = run(lib, latency_phase, lib, url, fifo, int(samples), int(scheduled))
    elif command == "memory":
        url, n, concurrency, samples = rest
        module = adapter(lib)
        out = run(lib, module.in_process, url, int(n), int(concurrency), int(samples))
    elif command == "bare":
        url, n, pipeline = rest
        module = adapter(lib)
        out = {"rate": run(lib, module.bare, url, int(n), int(pipeline))}
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
