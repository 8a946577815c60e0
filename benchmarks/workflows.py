"""Release cost of dependencies: a chain and a fan-in against plain jobs, through the
Broker directly (no worker), so the figure is the drivers' own.

- **plain 1-by-1**: N independent jobs, dequeued and completed one at a time.
- **chain**: one N-link chain written by one ``enqueue_flow``; each completion releases
  the next link in the same script, so the loop is the same as plain 1-by-1.
- **plain batch**: N independent jobs, dequeued and completed 100 at a time.
- **fan-in**: N members and one callback (``group``); members taken 100 at a time, and the
  last completion releases the callback, which is taken and completed too.

Rates are jobs per second of the dequeue/complete loop (enqueue measured apart).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence

import anyio

from queue_core import Broker, Job, Settlement, chain, group, open_broker

BATCH = 100


async def _drain(broker: Broker, expected: int, limit: int) -> float:
    """Seconds to dequeue and complete ``expected`` jobs, ``limit`` per round."""
    done = 0
    started = time.perf_counter()
    while done < expected:
        now = time.time()
        leases = await broker.dequeue(["default"], now, 60.0, "bench", limit)
        if not leases:
            raise RuntimeError(f"nothing to dequeue after {done} of {expected} jobs: a dependent was not released")
        await broker.settle([Settlement.complete(lease, b"1") for lease in leases], now)
        done += len(leases)
    return time.perf_counter() - started


async def _case(url: str, jobs: Sequence[Job], limit: int, *, flow: bool) -> dict[str, float]:
    broker = await open_broker(url, prefix=f"bench{secrets.token_hex(4)}")
    try:
        started = time.perf_counter()
        if flow:
            await broker.enqueue_flow(jobs, time.time())
        else:
            for start in range(0, len(jobs), 1000):
                await broker.enqueue(jobs[start : start + 1000], time.time())
        enqueued = time.perf_counter() - started
        drained = await _drain(broker, len(jobs), limit)
        return {"enqueue": len(jobs) / enqueued, "drain": len(jobs) / drained}
    finally:
        await broker.close()


async def _measure(url: str, n: int) -> dict[str, dict[str, float]]:
    def plain() -> list[Job]:
        return [Job("bench").with_id() for _ in range(n)]

    return {
        "plain 1-by-1": await _case(url, plain(), 1, flow=False),
        "chain": await _case(url, chain(*plain()), 1, flow=True),
        "plain batch": await _case(url, plain(), BATCH, flow=False),
        "fan-in": await _case(url, group(plain(), then=Job("callback")), BATCH, flow=True),
    }


def measure(url: str, n: int) -> dict[str, dict[str, float]]:
    return anyio.run(_measure, url, n)


def table(results: dict[str, dict[str, dict[str, float]]], n: int) -> str:
    lines = [
        f"| release cost, {n:,} jobs (Broker calls, no worker) | enqueue /s | dequeue+complete /s |",
        "|---|---:|---:|",
    ]
    for driver, cases in results.items():
        for case, figures in cases.items():
            lines.append(f"| {driver}: {case} | {figures['enqueue']:,.0f} | {figures['drain']:,.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":  # python benchmarks/workflows.py [URL] [N]
    import sys

    target = sys.argv[1] if len(sys.argv) > 1 else "memory://"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    print(table({target: measure(target, count)}, count))
