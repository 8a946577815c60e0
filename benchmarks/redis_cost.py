"""Redis work per job, command by command: ``INFO commandstats`` calls and µs per job for
one-by-one enqueue and for the drain, and the bytes a pending job takes.

Counts, unlike rates, barely move with the load of a shared machine, so this is what
decisions about the scripts are made on. Run on its own (one throwaway redis-server)::

    python benchmarks/redis_cost.py --jobs 20000
    python benchmarks/redis_cost.py --memory-jobs 1000000   # also bytes per pending job at depth
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

import harness
from harness import Redis, WorkerProcess, queue_core, wait_for_marks

sys.path.insert(0, str(harness.ROOT / "tests"))
from redis_server import RedisServer


def commandstats(server: Redis) -> dict[str, tuple[int, float]]:
    """Calls and µs per command since the last reset (the harness's own left out)."""
    stats = server.client.info("commandstats")
    out = {}
    for name, stat in stats.items():
        command = name.removeprefix("cmdstat_")
        if command.split("|")[0] not in Redis.OWN:
            out[command] = (int(stat["calls"]), float(stat["usec"]))
    return out


def per_job(stats: dict[str, tuple[int, float]], jobs: int) -> dict[str, dict[str, float]]:
    return {name: {"calls": calls / jobs, "usec": usec / jobs} for name, (calls, usec) in stats.items()}


def enqueue_and_drain(server: Redis, jobs: int, workdir: Path) -> dict[str, Any]:
    """Enqueue ``jobs`` one by one, then drain them with one worker: per-job commandstats
    and Redis CPU of both phases, and bytes per pending job (used_memory delta)."""
    lib = queue_core()
    server.flush()
    before = server.used_memory()
    cpu = server.reset()
    rate = lib.agent("enqueue", server.url, jobs)["rate"]
    out: dict[str, Any] = {
        "jobs": jobs,
        "enqueue_rate": rate,
        "enqueue": per_job(commandstats(server), jobs),
        "enqueue_cpu_us": (server.cpu() - cpu) * 1e6 / jobs,
        "bytes_per_job": (server.used_memory() - before) / jobs,
        "memory_usage_sample": memory_usage_sample(server, 200),
    }
    marks = workdir / "cost.marks"
    marks.write_bytes(b"")
    cpu = server.reset()
    worker = WorkerProcess(lib, server.url, marks)
    try:
        wait_for_marks(marks, jobs, worker)
        out["drain"] = per_job(commandstats(server), jobs)
        out["drain_cpu_us"] = (server.cpu() - cpu) * 1e6 / jobs
    finally:
        worker.stop()
    return out


def memory_usage_sample(server: Redis, count: int) -> dict[str, float]:
    """MEMORY USAGE of sampled job hashes, and of the pending list per id."""
    client = server.client
    keys = [key for key in client.scan_iter(match="*:j:*", count=1000)]
    sample = random.sample(keys, min(count, len(keys))) if keys else []
    hashes = [client.memory_usage(key, samples=0) or 0 for key in sample]
    pending = [key for key in client.scan_iter(match="*:pending", count=100)]
    length = sum(client.llen(key) for key in pending)
    listed = sum(client.memory_usage(key, samples=0) or 0 for key in pending)
    return {
        "hash": sum(hashes) / len(hashes) if hashes else 0.0,
        "pending_list_per_id": listed / length if length else 0.0,
    }


def pending_memory(server: Redis, jobs: int) -> dict[str, float]:
    """Bytes per pending job with ``jobs`` pending (bulk enqueue, used_memory delta)."""
    server.flush()
    before = server.used_memory()
    queue_core().agent("enqueue", server.url, jobs, "--bulk", 1000, timeout=3600)
    after = server.used_memory()
    return {"jobs": jobs, "bytes_per_job": (after - before) / jobs, **memory_usage_sample(server, 1000)}


def table(result: dict[str, Any]) -> str:
    jobs = result["jobs"]
    names = sorted(set(result["enqueue"]) | set(result["drain"]))
    lines = [
        f"Redis work per job, queue-core, N = {jobs:,} (INFO commandstats: calls and µs per job)",
        "",
        "| command | enqueue calls | enqueue µs | drain calls | drain µs |",
        "|---|---:|---:|---:|---:|",
    ]
    totals = [0.0, 0.0, 0.0, 0.0]
    for name in names:
        e = result["enqueue"].get(name, {"calls": 0.0, "usec": 0.0})
        d = result["drain"].get(name, {"calls": 0.0, "usec": 0.0})
        row = [e["calls"], e["usec"], d["calls"], d["usec"]]
        totals = [t + v for t, v in zip(totals, row, strict=True)]
        if max(row[0], row[2]) >= 0.005:
            lines.append(f"| {name} | {row[0]:.2f} | {row[1]:.1f} | {row[2]:.2f} | {row[3]:.1f} |")
    lines.append(f"| **total** | {totals[0]:.2f} | {totals[1]:.1f} | {totals[2]:.2f} | {totals[3]:.1f} |")
    sample = result["memory_usage_sample"]
    lines += [
        "",
        f"Redis CPU µs/job (used_cpu_user+sys): enqueue {result['enqueue_cpu_us']:.1f}, "
        f"drain {result['drain_cpu_us']:.1f}; enqueue 1-by-1 {result['enqueue_rate']:,.0f} jobs/s.",
        f"Bytes per pending job: used_memory delta {result['bytes_per_job']:.0f}; MEMORY USAGE of a job hash "
        f"{sample['hash']:.0f}, pending list per id {sample['pending_list_per_id']:.1f}.",
    ]
    if "depth" in result:
        depth = result["depth"]
        lines.append(
            f"With {depth['jobs']:,} pending: {depth['bytes_per_job']:.0f} bytes per job (used_memory delta); "
            f"MEMORY USAGE of a job hash {depth['hash']:.0f}, pending list per id {depth['pending_list_per_id']:.1f}."
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--memory-jobs", type=int, default=0, help="also bytes per job with this many pending")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    with RedisServer() as process, harness.workdir() as tmp:
        server = Redis(process.url)
        result = enqueue_and_drain(server, args.jobs, Path(tmp))
        if args.memory_jobs:
            result["depth"] = pending_memory(server, args.memory_jobs)
        server.close()
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
