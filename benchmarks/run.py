"""queue-core benchmarks: ``make bench`` (queue-core alone) and ``make bench-peers`` (with peers).

Workloads (the same job body, ``peers/mark.py``, for every library; one worker process,
concurrency 50, against one throwaway redis-server started here on a free port):

- **A enqueue**: N awaited one-by-one enqueues from one client process; **A-bulk**: the
  library's batch API in calls of 1,000 jobs, where it has one; **A-50 tasks**: the same
  N one-by-one enqueues from 50 tasks at once through one client.
- **B drain**: the N jobs of A wait in Redis; one worker process is started; rate from the
  first to the last job body (start-up, spawn to first job, reported apart).
- **C pickup**: an idle worker, jobs one at a time, enqueue call to job start, p50/p99.
- **scheduled lateness**: jobs scheduled 200 ms ahead (one sent every 20 ms), start
  minus due time, p50/p99.
- **Redis cost**: commands per job (``INFO commandstats`` after ``CONFIG RESETSTAT``,
  commands inside scripts included), command µs per job (commandstats ``usec``) and
  Redis CPU µs per job (``used_cpu_user + used_cpu_sys`` of the server over the phase,
  networking included); an idle worker's commands per second; Redis bytes per pending
  job (``used_memory`` after A).
- **Worker CPU per job**: user + system CPU of the worker process over the drain, per
  drained job (``/proc``): hardly moved by other load, unlike the rates.
- **queue-core only**: trio against asyncio, ``memory://`` (in-process), the bare redis-py
  baselines (our enqueue's EVALSHA one by one and pipelined), worker RSS across
  repeated drains, and the release cost of dependencies (``workflows.py``: a chain and a
  fan-in of ``--workflow-jobs`` against plain jobs, on Redis and memory://, run once).

Every figure is the median of ``--repeats`` runs with (min-max). The table is printed and
written to ``benchmarks/results/`` (``latest.md`` or ``latest-peers.md``, plus a JSON file
with every repeat). Peers are installed into ``benchmarks/.venvs/<peer>`` from
``peers/requirements/<peer>.txt`` on first use.

    python benchmarks/run.py                    # make bench
    python benchmarks/run.py --peers            # make bench-peers
    python benchmarks/run.py --peers --repeats 1 --jobs 5000 --libs queue-core,dramatiq
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import harness
import postgres
import workflows
from harness import PEER_NAMES, Redis, peer, queue_core, summary

sys.path.insert(0, str(harness.ROOT / "tests"))
from redis_server import RedisServer

RESULTS = harness.ROOT / "benchmarks" / "results"
MEMORY = "queue-core (memory://)"
OBSERVABILITY = "observability"
#: the plugins left on in each row of the cost table: none (bare), Prometheus, tracing
#: with no SDK or exporter installed (spans are no-ops) and the OpenTelemetry metrics.
OBSERVABILITY_VARIANTS: list[tuple[str, ...]] = [(), ("prometheus",), ("otel",), ("otel", "otel-metrics")]


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.postgres_only:
        return {"runs": {}, "extras": {}, "versions": {}, "redis_version": "-"}
    libraries = [queue_core("asyncio"), queue_core("trio"), queue_core("trio", "redis-py")]
    if args.peers:
        libraries += [peer(name) for name in PEER_NAMES]
    if args.libs:
        wanted = set(args.libs.split(","))
        libraries = [lib for lib in libraries if lib.lib in wanted or lib.label in wanted]
    runs: dict[str, list[dict[str, Any]]] = {lib.label: [] for lib in libraries}
    versions = {lib.label: lib.agent("version") for lib in libraries}
    extras: dict[str, Any] = {MEMORY: [], "bare": [], OBSERVABILITY: {}}
    with RedisServer() as server_process, harness.workdir() as tmp:
        server = Redis(server_process.url)
        redis_version = server.client.info("server")["redis_version"]
        workdir = Path(tmp)
        for repeat in range(1, args.repeats + 1):
            for lib in libraries:
                say(f"[{repeat}/{args.repeats}] {lib.label}: enqueue {args.jobs}, drain")
                result = harness.enqueue_and_drain(lib, server, args.jobs, workdir)
                if versions[lib.label]["bulk"]:
                    say(f"[{repeat}/{args.repeats}] {lib.label}: bulk enqueue")
                    result.update(harness.bulk(lib, server, args.jobs, 1000))
                say(f"[{repeat}/{args.repeats}] {lib.label}: enqueue from {harness.ENQUEUE_TASKS} tasks at once")
                result.update(harness.concurrent(lib, server, args.jobs, harness.ENQUEUE_TASKS))
                say(f"[{repeat}/{args.repeats}] {lib.label}: pickup, lateness, idle")
                result.update(
                    harness.latency_and_idle(lib, server, args.samples, args.scheduled, args.idle_seconds, workdir)
                )
                runs[lib.label].append(result)
            if not args.libs or OBSERVABILITY in args.libs.split(","):
                for variant in OBSERVABILITY_VARIANTS:
                    lib = harness.queue_core(plugins=variant)
                    say(f"[{repeat}/{args.repeats}] {lib.label}: enqueue {args.jobs}, drain")
                    result = harness.enqueue_and_drain(lib, server, args.jobs, workdir)
                    result["plugin_cpu_us"] = harness.plugin_cost(lib)
                    extras[OBSERVABILITY].setdefault(lib.label, []).append(result)
            if not args.libs or "queue-core" in args.libs:
                say(f"[{repeat}/{args.repeats}] memory:// and the bare redis-py baselines")
                extras[MEMORY].append(harness.in_process(args.jobs, args.samples))
                extras["bare"].append(harness.bare(server, args.jobs))
        if args.rss_jobs and (not args.libs or "queue-core" in args.libs):
            say(f"worker RSS over {args.rss_rounds} drains of {args.rss_jobs // args.rss_rounds} jobs")
            extras["rss"] = harness.worker_rss(server, args.rss_jobs, args.rss_rounds, workdir)
        if args.workflow_jobs and (not args.libs or "queue-core" in args.libs):
            say(f"release cost: a chain and a fan-in of {args.workflow_jobs} jobs, Redis and memory://")
            extras["workflows"] = {
                "Redis": workflows.measure(server_process.url, args.workflow_jobs),
                "memory://": workflows.measure("memory://", args.workflow_jobs),
            }
            extras["workflow_jobs"] = args.workflow_jobs
        server.close()
    return {"runs": runs, "extras": extras, "versions": versions, "redis_version": redis_version}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- tables


def cell(values: Sequence[float], digits: int = 0) -> str:
    if not values:
        return "-"
    mid, low, high = summary(list(values))
    if digits == 0:
        return f"{mid:,.0f} ({low:,.0f}-{high:,.0f})"
    return f"{mid:,.{digits}f} ({low:,.{digits}f}-{high:,.{digits}f})"


def column(results: list[dict[str, Any]], key: str) -> list[float]:
    return [r[key] for r in results if key in r]


def median(results: list[dict[str, Any]], key: str) -> float | None:
    values = column(results, key)
    return summary(values)[0] if values else None


def tables(data: dict[str, Any]) -> str:
    runs, extras, versions = data["runs"], data["extras"], data["versions"]
    lines = [
        "| library | A enqueue 1-by-1 /s | A-50 tasks /s | A-bulk /s | B drain /s | B start-up s | C pickup p50 ms "
        "| C pickup p99 ms | scheduled lateness p50 ms | lateness p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, results in runs.items():
        bulk = cell(column(results, "bulk")) if versions[label]["bulk"] else "no API"
        late50, late99 = column(results, "late_p50"), column(results, "late_p99")
        lines.append(
            f"| {label} | {cell(column(results, 'enqueue'))} | {cell(column(results, 'concurrent'))} | {bulk} "
            f"| {cell(column(results, 'drain'))} "
            f"| {cell(column(results, 'startup'), 2)} | {cell(column(results, 'pickup_p50'), 1)} "
            f"| {cell(column(results, 'pickup_p99'), 1)} | {cell(late50, 1) if late50 else 'n/a'} "
            f"| {cell(late99, 1) if late99 else 'n/a'} |"
        )
    if extras.get(MEMORY):
        mem = extras[MEMORY]
        lines.append(
            f"| {MEMORY}, in-process | {cell(column(mem, 'enqueue'))} | - | {cell(column(mem, 'bulk'))} "
            f"| {cell(column(mem, 'drain'))} | {cell(column(mem, 'startup'), 2)} "
            f"| {cell(column(mem, 'pickup_p50'), 1)} | {cell(column(mem, 'pickup_p99'), 1)} | - | - |"
        )
    lines += [
        "",
        "| library | Redis cmds/job A / A-bulk / B | command µs/job A / B / A+B ¹ | Redis CPU µs/job A / B / A+B "
        "| worker CPU µs/job in B | idle worker cmds/s | Redis bytes per pending job | main commands per drained job |",
        "|---|---|---|---|---:|---:|---:|---|",
    ]
    for label, results in runs.items():
        cmds = " / ".join(
            f"{v:.1f}" if (v := median(results, key)) is not None else "-"
            for key in ("enqueue_cmds", "bulk_cmds", "drain_cmds")
        )
        cpu_a, cpu_b = median(results, "enqueue_cpu_us") or 0.0, median(results, "drain_cpu_us") or 0.0
        us_a, us_b = median(results, "enqueue_usec") or 0.0, median(results, "drain_usec") or 0.0
        main = top_commands(results[0].get("drain_commands", {}), harness_jobs(results))
        lines.append(
            f"| {label} | {cmds} | {us_a:.1f} / {us_b:.1f} / {us_a + us_b:.1f} "
            f"| {cpu_a:.0f} / {cpu_b:.0f} / {cpu_a + cpu_b:.0f} | {cell(column(results, 'drain_worker_cpu_us'))} "
            f"| {cell(column(results, 'idle_cmds'), 1)} | {cell(column(results, 'bytes_per_job'))} | {main} |"
        )
    lines.append(
        "\n¹ INFO commandstats `usec` per job: script calls plus every other command. A command a script runs "
        "is counted in its own line and in its script's, so for a library that uses scripts (queue-core, "
        "dramatiq, streaq) the figure is an upper bound; `python benchmarks/redis_cost.py` breaks queue-core's "
        "down command by command."
    )
    if extras.get("bare"):
        bare = extras["bare"]
        ours = runs.get("queue-core", [])
        lines += [
            "",
            "| bare redis-py asyncio (our enqueue's EVALSHA) | jobs/s | queue-core | ratio |",
            "|---|---:|---:|---:|",
            f"| one by one | {cell(column(bare, 'bare'))} | {cell(column(ours, 'enqueue'))} "
            f"| {ratio(median(ours, 'enqueue'), median(bare, 'bare'))} |",
            f"| pipelined, 1,000 per round trip | {cell(column(bare, 'bare_pipelined'))} "
            f"| {cell(column(ours, 'bulk'))} | {ratio(median(ours, 'bulk'), median(bare, 'bare_pipelined'))} |",
        ]
    if extras.get(OBSERVABILITY):
        cost = extras[OBSERVABILITY]
        bare_label = harness.queue_core().label
        lines += [
            "",
            "| observability plugins on (asyncio worker, Redis) | A enqueue 1-by-1 /s | B drain /s | drain vs bare "
            "| worker CPU µs/job in B | plugin CPU µs/job | CPU-bound rate vs bare |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        bare_runs = cost.get(bare_label, [])
        bare_cpu, bare_hooks = median(bare_runs, "drain_worker_cpu_us"), median(bare_runs, "plugin_cpu_us")
        estimates: dict[str, float] = {}
        for label, results in cost.items():
            added = (median(results, "plugin_cpu_us") or 0) - (bare_hooks or 0)
            if bare_cpu:
                estimates[label] = bare_cpu / (bare_cpu + max(added, 0.0))
            shown = f"{label} (bare)" if label == bare_label else label
            lines.append(
                f"| {shown} | {cell(column(results, 'enqueue'))} | {cell(column(results, 'drain'))} "
                f"| {ratio(median(results, 'drain'), median(bare_runs, 'drain'))} "
                f"| {cell(column(results, 'drain_worker_cpu_us'))} | {added:+.1f} "
                f"| {f'{estimates[label]:.0%}' if label in estimates else '-'} |"
            )
        prometheus_label = harness.queue_core(plugins=("prometheus",)).label
        if prometheus_label in estimates:
            share = estimates[prometheus_label]
            lines.append(f"\nTarget: with the Prometheus plugin >= 90% of the bare rate: {share:.0%} (CPU-bound), "
                         f"{'met' if share >= 0.9 else '**not met**'}.")  # fmt: skip
        lines.append(
            "\n*Plugin CPU µs/job* is what the plugins add to one successful attempt (hooks and middleware, "
            "measured in-process by benchmarks/plugin_cost.py, fastest of 5 rounds); *CPU-bound rate vs bare* is "
            "the bare worker's CPU per drained job over that plus the plugins': the drain rate when the worker's "
            "CPU is the limit. Both barely move with other load on the machine, which the drain rates above do."
        )
    lines += [
        "",
        "Notes: taskiq schedules only through its separate scheduler process, so it has no lateness figure; "
        "saq moves scheduled jobs with a 1 s poll and streaq with its ~0.5 s loop. Redis CPU is the server's "
        "own (used_cpu_user + used_cpu_sys over the phase, networking included), so every awaited one-by-one "
        "enqueue pays a round trip there whatever the library. `queue-core (trio, redis-py)` is queue-core "
        "under trio with its earlier transport (redis-py's sync client on threads) instead of the pipelined "
        "hiredis connection.",
    ]
    if extras.get("workflows"):
        lines += ["", workflows.table(extras["workflows"], extras["workflow_jobs"])]
    if extras.get("rss"):
        rss = extras["rss"]
        mib = " → ".join(f"{value / 2**20:.1f}" for value in rss["rss"])
        lines += [
            "",
            f"Worker RSS (MiB) after each drain of {rss['per_round']:,} jobs (one worker process, "
            f"{len(rss['rss']) * rss['per_round']:,} jobs in all): {mib}",
        ]
    return "\n".join(lines)


def harness_jobs(results: list[dict[str, Any]]) -> int:
    return int(results[0].get("jobs", 0)) or 1


def top_commands(commands: dict[str, int], jobs: int, count: int = 6) -> str:
    if not commands:
        return ""
    ranked = sorted(commands.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{name} {n / jobs:.2f}" for name, n in ranked)


def ratio(ours: float | None, theirs: float | None) -> str:
    if not ours or not theirs:
        return "-"
    return f"{ours / theirs:.2f}x"


# --------------------------------------------------------------------------- targets


def targets(data: dict[str, Any]) -> str:
    """Each target (issues 8 and 23) as a ratio from this run: met or not."""
    runs, extras = data["runs"], data["extras"]
    ours = runs.get("queue-core")
    peers = {label: results for label, results in runs.items() if not label.startswith("queue-core")}
    if not ours or not peers:
        return ""

    def best(key: str, pick: Callable[..., Any] = max) -> tuple[str, float] | None:
        found = [(label, v) for label, results in peers.items() if (v := median(results, key)) is not None]
        return pick(found, key=lambda item: item[1]) if found else None

    rows: list[tuple[str, str, str, bool]] = []

    def at_least(name: str, key: str, factor: float) -> None:
        top = best(key)
        mine = median(ours, key)
        if top is None or mine is None:
            return
        got = mine / top[1]
        rows.append((name, f"{mine:,.0f} vs {top[0]} {top[1]:,.0f}", f"{got:.2f}x (target {factor:g}x)",
                     got >= factor))  # fmt: skip

    at_least("enqueue 1-by-1 vs fastest peer", "enqueue", 1.5)
    at_least(f"enqueue 1-by-1 from {harness.ENQUEUE_TASKS} tasks vs fastest peer", "concurrent", 1.5)
    if extras.get("bare"):
        bare = median(extras["bare"], "bare")
        mine = median(ours, "enqueue")
        if bare and mine:
            rows.append(("enqueue 1-by-1 vs bare redis-py loop", f"{mine:,.0f} vs {bare:,.0f}",
                         f"{mine / bare:.0%} (target 75%)", mine / bare >= 0.75))  # fmt: skip
    at_least("bulk enqueue vs fastest peer bulk", "bulk", 2.0)
    at_least("drain vs fastest peer", "drain", 2.0)
    for key, name in (("pickup_p50", "pickup p50"), ("pickup_p99", "pickup p99")):
        top = best(key, min)
        mine = median(ours, key)
        if top and mine is not None:
            rows.append((f"{name} vs best peer", f"{mine:.1f} ms vs {top[0]} {top[1]:.1f} ms",
                         f"{mine / top[1]:.2f}x (target <= 1x)", mine <= top[1]))  # fmt: skip
    late = median(ours, "late_p99")
    if late is not None:
        rows.append(("scheduled lateness p99", f"{late:.1f} ms", "target <= 20 ms", late <= 20))
    mine_usec = (median(ours, "enqueue_usec") or 0) + (median(ours, "drain_usec") or 0)
    if "saq" in peers:
        theirs_usec = (median(peers["saq"], "enqueue_usec") or 0) + (median(peers["saq"], "drain_usec") or 0)
        if theirs_usec:
            rows.append(("Redis command µs/job (A+B) vs saq", f"{mine_usec:.1f} µs vs {theirs_usec:.1f} µs",
                         f"{mine_usec / theirs_usec:.2f}x (target <= 1x)", mine_usec <= theirs_usec))  # fmt: skip
    worker = best("drain_worker_cpu_us", min)
    mine_worker = median(ours, "drain_worker_cpu_us")
    if worker and worker[1] and mine_worker:
        rows.append(("worker CPU/job in B vs best peer", f"{mine_worker:.0f} µs vs {worker[0]} {worker[1]:.0f} µs",
                     f"{mine_worker / worker[1]:.2f}x (target <= 0.5x)", mine_worker <= worker[1] / 2))  # fmt: skip
    memory = median(ours, "bytes_per_job")
    if memory:
        rows.append(("Redis bytes per pending job (N jobs; 1,000,000 in make bench-scale)", f"{memory:.0f} B",
                     f"{memory / 250:.2f}x of 250 B (target <= 250 B)", memory <= 250))  # fmt: skip
    mine_cpu = (median(ours, "enqueue_cpu_us") or 0) + (median(ours, "drain_cpu_us") or 0)
    for name in ("saq", "dramatiq"):
        if name in peers:
            theirs = (median(peers[name], "enqueue_cpu_us") or 0) + (median(peers[name], "drain_cpu_us") or 0)
            rows.append((f"Redis CPU/job (A+B) vs {name}", f"{mine_cpu:.0f} µs vs {theirs:.0f} µs",
                         f"{mine_cpu / theirs:.2f}x (target <= 0.5x)", mine_cpu <= theirs / 2))  # fmt: skip
    idle = median(ours, "idle_cmds")
    if idle is not None:
        rows.append(("idle worker commands/s", f"{idle:.1f}/s", "target <= 2/s", idle <= 2))
    trio = runs.get("queue-core (trio)")
    if trio:
        t, a = median(trio, "drain"), median(ours, "drain")
        if t and a:
            rows.append(("trio drain vs asyncio drain", f"{t:,.0f} vs {a:,.0f}", f"{t / a:.0%} (target 85%)",
                         t / a >= 0.85))  # fmt: skip
        t, a = median(trio, "pickup_p99"), median(ours, "pickup_p99")
        if t and a:
            rows.append(("trio pickup p99 vs asyncio", f"{t:.1f} ms vs {a:.1f} ms", f"{t / a:.2f}x (target <= 1.25x)",
                         t / a <= 1.25))  # fmt: skip
    lines = ["| target | measured | ratio | met |", "|---|---|---|---|"]
    lines += [f"| {name} | {measured} | {got} | {'yes' if ok else '**no**'} |" for name, measured, got, ok in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def save(data: dict[str, Any], text: str, args: argparse.Namespace, started: float) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    load = os.getloadavg()
    details = {
        "when": stamp,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_at_end": load,
        "minutes": (time.monotonic() - started) / 60,
        "settings": {k: v for k, v in vars(args).items()},
        **data,
    }
    kind = "-postgres" if args.postgres_only else "-peers" if args.peers else ""
    path = RESULTS / f"{stamp}{kind}.json"
    path.write_text(json.dumps(details, indent=1) + "\n")
    if not args.libs:  # a partial run does not replace the full table
        (RESULTS / f"latest{kind}.md").write_text(text + "\n")
    return path


def header(data: dict[str, Any], args: argparse.Namespace, started: float) -> str:
    versions = "; ".join(f"{label}: {v['version']}" for label, v in data["versions"].items())
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"# queue-core benchmarks{' against peers' if args.peers else ''} ({time.strftime('%Y-%m-%d %H:%M')})\n\n"
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, redis-server {data['redis_version']} "
        f"(throwaway, no persistence), load average at the end {load}, {(time.monotonic() - started) / 60:.1f} "
        f"minutes. N = {args.jobs:,} jobs, one worker process with concurrency {harness.CONCURRENCY}, "
        f"{args.samples} pickup samples, {args.scheduled} scheduled jobs, {args.idle_seconds:g} s idle window; "
        f"median of {args.repeats} repeat(s) with (min-max).\n\nVersions: {versions}.\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--peers", action="store_true", help="also run saq, streaq, taskiq, dramatiq; procrastinate, pgqueuer"
    )
    parser.add_argument(
        "--libs", help="comma-separated subset (queue-core, saq, ..., observability); the table is not saved"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs for A, A-bulk and B")
    parser.add_argument("--samples", type=int, default=200, help="pickup latency samples")
    parser.add_argument("--scheduled", type=int, default=100, help="scheduled-lateness jobs")
    parser.add_argument("--idle-seconds", type=float, default=20.0, help="idle window (two idle look periods)")
    parser.add_argument("--rss-jobs", type=int, default=200_000, help="jobs drained for the RSS figure (0: skip)")
    parser.add_argument("--rss-rounds", type=int, default=4)
    parser.add_argument(
        "--postgres-only", action="store_true", help="only the PostgreSQL libraries (procrastinate, pgqueuer, ours)"
    )
    parser.add_argument(
        "--retained", type=int, default=0, help="also drain with this many finished jobs retained (PostgreSQL)"
    )
    parser.add_argument("--workflow-jobs", type=int, default=10_000, help="chain length and fan-in width (0: skip)")
    args = parser.parse_args(argv)
    # Every queue-core row runs bare unless it says otherwise (the observability rows).
    os.environ.setdefault("QUEUE_CORE_DISABLED_PLUGINS", ",".join(harness.OBSERVABILITY_PLUGINS))
    started = time.monotonic()
    data = run(args)
    # the raw figures first: a table that fails to render loses nothing
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "last-run.json").write_text(json.dumps(data, indent=1) + "\n")
    if args.postgres_only:
        text = f"# queue-core benchmarks on PostgreSQL ({time.strftime('%Y-%m-%d %H:%M')})\n\n" + postgres.header(args)
    else:
        text = header(data, args, started) + "\n" + tables(data)
        goals = targets(data)
        if goals:
            text += "\n\n## Targets (issues 8 and 23)\n\n" + goals
    if args.peers or args.postgres_only:
        data["postgres"] = postgres.run(args, say)
        text += "\n\n" + postgres.tables(data["postgres"], cell, column)
        goals = postgres.targets(data["postgres"])
        if goals:
            text += "\n\n## Targets on PostgreSQL (issue 18)\n\n" + goals
    print(text)
    path = save(data, text, args, started)
    print(f"\nwritten to {path.relative_to(harness.ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
