"""queue-core benchmarks: ``make bench`` (or ``python benchmarks/run.py``).

Each workload measures one figure on each target it applies to and returns rows; the
runner prints them as a table and writes them to ``benchmarks/results/`` (``latest.md``,
and a timestamped JSON file with the machine's details). The Redis target is a throwaway
``redis-server`` started on a free port, so no figure depends on an outside server.

Workloads so far (add one by writing an ``async def (target) -> list[Row]`` and listing it
in ``WORKLOADS``):

- ``pickup``: an idle worker's pickup latency, from the ``enqueue`` call to the handler's
  first line, one job at a time (the worker idles between jobs), p50/p99.
- ``idle-commands``: Redis commands per second of an idle worker (``INFO commandstats``
  after ``CONFIG RESETSTAT``), total and by command.

    python benchmarks/run.py                       # everything
    python benchmarks/run.py --only pickup --jobs 500 --backend trio
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import redis

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "tests"))

from queue_core import Client, Delivery, Worker, open_broker  # noqa: E402
from redis_server import RedisServer  # noqa: E402 -- the tests' throwaway server


@dataclass(frozen=True)
class Target:
    name: str  # "memory" or "redis"
    url: str


@dataclass(frozen=True)
class Row:
    workload: str
    target: str
    metric: str
    value: float
    unit: str


@dataclass
class Settings:
    jobs: int = 200
    idle_seconds: float = 10.0
    backend: str = "asyncio"


Workload = Callable[[Target, Settings], Awaitable[list[Row]]]


# --------------------------------------------------------------------------- workloads


async def pickup_latency(target: Target, settings: Settings) -> list[Row]:
    """Enqueue one job, wait until its handler starts, let the worker go idle again; repeat."""
    broker = await open_broker(target.url, prefix=f"bench{os.getpid()}")
    started: dict[str, float] = {}
    arrived = anyio.Event()

    async def handler(delivery: Delivery) -> None:
        nonlocal arrived
        started[delivery.id] = time.perf_counter()
        arrived.set()

    worker = Worker(broker, concurrency=1)
    worker.register("ping", handler)
    latencies: list[float] = []
    try:
        async with anyio.create_task_group() as tg, Client(broker) as client:
            tg.start_soon(worker.run)
            await anyio.sleep(0.5)  # the worker is up and idle
            for _ in range(settings.jobs):
                arrived = anyio.Event()
                sent = time.perf_counter()
                job = await client.enqueue("ping")
                await arrived.wait()
                latencies.append(started[job.job_id] - sent)
                await anyio.sleep(0.02)  # back to idle: settled, waiting for a notification
            tg.cancel_scope.cancel()
    finally:
        await broker.close()
    ms = sorted(latency * 1000 for latency in latencies)
    return [
        Row("pickup", target.name, "p50", statistics.median(ms), "ms"),
        Row("pickup", target.name, "p99", ms[max(0, round(len(ms) * 0.99) - 1)], "ms"),
        Row("pickup", target.name, "jobs", len(ms), "jobs"),
    ]


async def idle_commands(target: Target, settings: Settings) -> list[Row]:
    """Redis commands per second while a worker (default options, one queue) has no work."""
    if target.name != "redis":
        return []
    broker = _Counting(await open_broker(target.url, prefix=f"bench{os.getpid()}"))
    worker = Worker(broker)  # type: ignore[arg-type]
    worker.register("noop", _noop)
    admin = redis.Redis.from_url(target.url)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await anyio.sleep(1.0)  # connected, subscribed, first maintenance round done
            admin.config_resetstat()
            broker.calls.clear()
            began = time.perf_counter()
            await anyio.sleep(settings.idle_seconds)
            stats = admin.info("commandstats")
            elapsed = time.perf_counter() - began
            calls = dict(broker.calls)
            tg.cancel_scope.cancel()
    finally:
        admin.close()
        await broker.close()
    # INFO commandstats counts the commands scripts run inside, too. The measuring
    # client's own INFO and CONFIG are left out.
    commands = {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}
    commands = {name: n for name, n in commands.items() if name != "info" and not name.startswith("config")}
    scripts = commands.get("evalsha", 0) + commands.get("eval", 0)
    requests = sum(n for name, n in calls.items() if name not in _WAITS)
    rows = [
        Row("idle-commands", target.name, "redis commands (incl. inside scripts)", sum(commands.values()) / elapsed,
            "cmd/s"),
        Row("idle-commands", target.name, "scripts (EVALSHA)", scripts / elapsed, "/s"),
        Row("idle-commands", target.name, "broker calls (waits excluded)", requests / elapsed, "/s"),
    ]  # fmt: skip
    rows += [
        Row("idle-commands", target.name, f"  command {name}", count / elapsed, "cmd/s")
        for name, count in sorted(commands.items(), key=lambda item: -item[1])
    ]
    rows += [
        Row("idle-commands", target.name, f"  call {name}", count / elapsed, "/s")
        for name, count in sorted(calls.items(), key=lambda item: -item[1])
    ]
    return rows


#: broker calls that wait for a notification rather than ask for something.
_WAITS = {"wait_for_jobs", "wait_for_cancel"}


class _Counting:
    """A broker wrapper counting calls by method name."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            return await target(*args, **kwargs)

        return call


async def _noop(delivery: Delivery) -> None:
    pass


WORKLOADS: dict[str, Workload] = {
    "pickup": pickup_latency,
    "idle-commands": idle_commands,
}


# --------------------------------------------------------------------------- runner


def run(names: Sequence[str], settings: Settings) -> list[Row]:
    rows: list[Row] = []
    with RedisServer() as server:
        targets = [Target("memory", "memory://"), Target("redis", server.url)]
        for name in names:
            for target in targets:
                print(f"running {name} on {target.name} ...", file=sys.stderr, flush=True)
                rows += anyio.run(WORKLOADS[name], target, settings, backend=settings.backend)
    return rows


def table(rows: Sequence[Row]) -> str:
    lines = ["| workload | target | metric | value |", "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.workload} | {row.target} | {row.metric} | {row.value:.2f} {row.unit} |")
    return "\n".join(lines)


def save(rows: Sequence[Row], settings: Settings, *, complete: bool) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    details: dict[str, Any] = {
        "when": stamp,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "redis_server": _redis_version(),
        "settings": asdict(settings),
        "rows": [asdict(row) for row in rows],
    }
    path = RESULTS / f"{stamp}.json"
    path.write_text(json.dumps(details, indent=2) + "\n")
    header = (
        f"# queue-core benchmarks ({stamp})\n\n"
        f"Python {details['python']}, {details['cpus']} CPUs, redis-server {details['redis_server']}, "
        f"backend {settings.backend}, {settings.jobs} pickup jobs, {settings.idle_seconds:g} s idle.\n\n"
    )
    if complete:  # a partial run (--only) does not replace the full table
        (RESULTS / "latest.md").write_text(header + table(rows) + "\n")
    return path


def _redis_version() -> str:
    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        try:
            return str(client.info("server")["redis_version"])
        finally:
            client.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(WORKLOADS), help="run only these workloads")
    parser.add_argument("--jobs", type=int, default=Settings.jobs, help="jobs for the pickup latency")
    parser.add_argument("--idle-seconds", type=float, default=Settings.idle_seconds, help="idle measuring window")
    parser.add_argument("--backend", choices=["asyncio", "trio"], default=Settings.backend)
    args = parser.parse_args(argv)
    settings = Settings(jobs=args.jobs, idle_seconds=args.idle_seconds, backend=args.backend)
    names = args.only or list(WORKLOADS)
    rows = run(names, settings)
    print(table(rows))
    complete = set(names) == set(WORKLOADS)
    path = save(rows, settings, complete=complete)
    print(f"\nwritten to {path.relative_to(ROOT)}" + (" and benchmarks/results/latest.md" if complete else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
