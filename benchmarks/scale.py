"""``make bench-scale``: does queue-core stay flat as the stored work grows?

Against one throwaway redis-server, each scenario first stores a depth of jobs in a queue
of its own (``deep``), then measures on the queue ``default`` exactly what the empty
scenario measures (the same agent and worker processes as ``run.py``):

- **empty**: nothing else stored (the reference);
- **pending**: ``--pending`` jobs waiting in ``deep`` (also the bytes each one takes);
- **completed**: ``--completed`` jobs completed and retained (one hour) in ``deep``;
- **scheduled**: ``--scheduled`` jobs scheduled an hour ahead in ``deep``.

Measured per scenario: one-by-one enqueue (``--jobs``), the drain of those jobs by one
worker, pickup p99 of an idle worker (``--samples``), and the Manager's answers that an
operator waits for: the queue listing (``list_queues``: every queue's counts), ``stats``
of the deep queue and one page of ``job ls`` (pending, scheduled or completed: the deep
state). Each figure is the median of ``--repeats``. The depth is built in-process through
the broker (bulk enqueue; dequeue and complete in batches), not timed.

Sized for 2 cores: the defaults take about ten minutes and a few hundred MiB of Redis.

    python benchmarks/scale.py                           # make bench-scale
    python benchmarks/scale.py --pending 100000 --completed 100000 --scheduled 10000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import harness
from harness import Redis, WorkerProcess, percentile, queue_core, wait_for_marks

sys.path.insert(0, str(harness.ROOT / "tests"))
from queue_core import Job, Manager, SettleKind, Settlement, open_broker
from redis_server import RedisServer

DEEP = "deep"
#: what each Manager figure must stay under
MANAGER_LIMIT_MS = 50.0
#: how much slower than the empty queue a figure may be at depth
FLAT = 1.10
BATCH = 1000


# --------------------------------------------------------------------------- depth


async def store_depth(url: str, kind: str, count: int) -> None:
    """``count`` jobs in the queue ``deep``: pending, completed (kept an hour) or scheduled."""
    broker = await open_broker(url)
    try:
        now = time.time()
        for start in range(0, count, BATCH):
            size = min(BATCH, count - start)
            if kind == "scheduled":
                jobs = [Job("noop", b"null", queue=DEEP, delay=3600).with_id() for _ in range(size)]
            elif kind == "completed":
                jobs = [Job("noop", b"null", queue=DEEP, retention=3600).with_id() for _ in range(size)]
            else:
                jobs = [Job("noop", b"null", queue=DEEP).with_id() for _ in range(size)]
            await broker.enqueue(jobs, now)
            if kind == "completed":
                leases = await broker.dequeue([DEEP], now, 60, "scale", size)
                await broker.settle([Settlement(lease, SettleKind.COMPLETE) for lease in leases], now)
    finally:
        await broker.close()


# --------------------------------------------------------------------------- measures


def enqueue_and_drain(server: Redis, jobs: int, workdir: Path) -> dict[str, float]:
    """One-by-one enqueue of ``jobs`` to ``default``, then their drain by one worker."""
    lib = queue_core()
    out = {"enqueue": lib.agent("enqueue", server.url, jobs)["rate"]}
    marks = workdir / "scale.marks"
    marks.write_bytes(b"")
    worker = WorkerProcess(lib, server.url, marks)
    try:
        times = wait_for_marks(marks, jobs, worker)
    finally:
        worker.stop()
    out["drain"] = (jobs - 1) / (max(times) - min(times))
    return out


def pickup(server: Redis, samples: int, workdir: Path) -> float:
    """Pickup p99 (ms) of an idle worker on ``default``."""
    lib = queue_core()
    fifo = workdir / "scale.fifo"
    if fifo.exists():
        fifo.unlink()
    os.mkfifo(fifo)
    keeper = os.open(fifo, os.O_RDWR)
    worker = WorkerProcess(lib, server.url, fifo)
    try:
        result = lib.agent("latency", server.url, fifo, samples, 0)
        return percentile(result["pickup"], 99) * 1000
    finally:
        worker.stop()
        os.close(keeper)
        fifo.unlink()


async def manager_latency(url: str, state: str, rounds: int = 7) -> dict[str, float]:
    """Median ms of the queue listing, ``stats`` of the deep queue and one page of its
    jobs in ``state`` (what ``qc queues``, ``qc stats deep`` and ``qc job ls`` call)."""
    async with Manager(url) as manager:

        async def timed(call: Callable[[], Any]) -> float:
            began = time.perf_counter()
            await call()
            return (time.perf_counter() - began) * 1000

        out: dict[str, list[float]] = {"list_queues": [], "stats": [], "job_ls": []}
        for _ in range(rounds):
            out["list_queues"].append(await timed(manager.list_queues))
            out["stats"].append(await timed(lambda: manager.queue_info(DEEP)))
            out["job_ls"].append(await timed(lambda: manager.list_jobs(DEEP, state)))
        return {name: statistics.median(values) for name, values in out.items()}


# --------------------------------------------------------------------------- scenarios


def scenario(server: Redis, kind: str, depth: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    server.flush()
    out: dict[str, Any] = {"kind": kind, "depth": depth}
    if depth:
        before = server.used_memory()
        began = time.monotonic()
        anyio.run(store_depth, server.url, kind, depth)
        out["store_seconds"] = time.monotonic() - began
        out["bytes_per_job"] = (server.used_memory() - before) / depth
    else:
        anyio.run(store_depth, server.url, "pending", 1)  # the deep queue exists, for the Manager
    runs = []
    for _ in range(args.repeats):
        result = enqueue_and_drain(server, args.jobs, workdir)
        result["pickup_p99"] = pickup(server, args.samples, workdir)
        runs.append(result)
    for key in ("enqueue", "drain", "pickup_p99"):
        out[key] = statistics.median(r[key] for r in runs)
        out[key + "_all"] = [r[key] for r in runs]
    state = {"completed": "completed", "scheduled": "scheduled"}.get(kind, "pending")
    out.update(anyio.run(manager_latency, server.url, state))
    return out


def table(results: list[dict[str, Any]], args: argparse.Namespace, load: tuple[float, float]) -> str:
    empty = results[0]
    lines = [
        f"# queue-core at depth ({time.strftime('%Y-%m-%d %H:%M')})",
        "",
        f"{os.cpu_count()} CPUs, load average {load[0]:.2f} at the start and {load[1]:.2f} at the end. Each row "
        f"stores its depth in the queue `deep`, then measures on `default`: {args.jobs:,} one-by-one enqueues, "
        f"their drain by one worker (concurrency {harness.CONCURRENCY}), pickup p99 over {args.samples} jobs "
        f"(median of {args.repeats}); Manager figures: median ms of 7 calls on `deep`.",
        "",
        "| depth | enqueue 1-by-1 /s | vs empty | drain /s | vs empty | pickup p99 ms | vs empty | queue listing ms "
        "| stats ms | job ls page ms | bytes per stored job |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        label = "empty" if not r["depth"] else f"{r['depth']:,} {r['kind']}"
        bytes_cell = f"{r['bytes_per_job']:.0f}" if "bytes_per_job" in r else "-"
        lines.append(
            f"| {label} | {r['enqueue']:,.0f} | {r['enqueue'] / empty['enqueue']:.2f}x | {r['drain']:,.0f} "
            f"| {r['drain'] / empty['drain']:.2f}x | {r['pickup_p99']:.1f} "
            f"| {r['pickup_p99'] / empty['pickup_p99']:.2f}x "
            f"| {r['list_queues']:.1f} | {r['stats']:.1f} | {r['job_ls']:.1f} | {bytes_cell} |"
        )
    lines += ["", "## Targets (issue 23)", "", "| target | measured | ratio | met |", "|---|---|---|---|"]
    for r in results[1:]:
        label = f"{r['depth']:,} {r['kind']}"
        for key, name, higher in (("enqueue", "enqueue 1-by-1", True), ("drain", "drain", True),
                                  ("pickup_p99", "pickup p99", False)):  # fmt: skip
            ratio = r[key] / empty[key]
            ok = ratio >= 1 / FLAT if higher else ratio <= FLAT
            lines.append(f"| {name}, {label} vs empty | {r[key]:,.1f} vs {empty[key]:,.1f} "
                         f"| {ratio:.2f}x (target within 10%) | {'yes' if ok else '**no**'} |")  # fmt: skip
        for key, name in (("list_queues", "queue listing"), ("stats", "stats"), ("job_ls", "a page of job ls")):
            lines.append(f"| {name}, {label} | {r[key]:.1f} ms | target < {MANAGER_LIMIT_MS:.0f} ms "
                         f"| {'yes' if r[key] < MANAGER_LIMIT_MS else '**no**'} |")  # fmt: skip
        if r["kind"] == "pending":
            b = r["bytes_per_job"]
            lines.append(f"| Redis bytes per pending job, {label} | {b:.0f} B | {b / 250:.2f}x of 250 B "
                         f"| {'yes' if b <= 250 else '**no**'} |")  # fmt: skip
    lines += [
        "",
        "Rates on a shared machine move with its load (compare rows of one run, not runs); the bytes per job "
        "and the Manager figures hardly do.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--completed", type=int, default=1_000_000)
    parser.add_argument("--scheduled", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=5_000, help="one-by-one enqueues and drained jobs per repeat")
    parser.add_argument("--samples", type=int, default=200, help="pickup samples per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("QUEUE_CORE_DISABLED_PLUGINS", ",".join(harness.OBSERVABILITY_PLUGINS))
    load_start = os.getloadavg()[0]
    results = []
    with RedisServer() as process, harness.workdir() as tmp:
        server = Redis(process.url)
        for kind, depth in (("empty", 0), ("pending", args.pending), ("completed", args.completed),
                            ("scheduled", args.scheduled)):  # fmt: skip
            if kind != "empty" and not depth:
                continue
            print(f"scale: {kind} {depth:,}", file=sys.stderr, flush=True)
            results.append(scenario(server, kind, depth, args, Path(tmp)))
        server.close()
    text = table(results, args, (load_start, os.getloadavg()[0]))
    print(text)
    harness.ROOT.joinpath("benchmarks", "results").mkdir(exist_ok=True)
    harness.ROOT.joinpath("benchmarks", "results", "latest-scale.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
