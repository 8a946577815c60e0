"""The PostgreSQL side of ``make bench-peers``: procrastinate, pgqueuer and queue-core on
``postgresql://``, on one throwaway cluster, with the workloads of the Redis peers.

The harness's workload functions (``harness.enqueue_and_drain``, ``bulk``,
``latency_and_idle``) take a server object; ``Postgres`` gives them the one they expect:

- ``flush()`` drops and recreates the benchmark database, then runs the library's own schema
  set-up (``agent.py LIB prepare URL``), so no phase times a migration;
- ``reset()`` / ``commands()``: the statements sent to the benchmark database since the
  reset, from ``pg_stat_statements`` (``track = top``: one per statement a client sends, so
  a server-side function is one, like a Lua script on Redis; BEGIN, COMMIT, LISTEN count);
- ``cpu()``: the CPU seconds of the whole cluster (postmaster, live backends, and those that
  exited, which the postmaster reaps into its children's times);
- ``used_memory()``: the benchmark database's size on disk.

Figures land in the JSON under ``postgres`` and in their own tables and targets (issue 18 §8).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness
from harness import Library

sys.path.insert(0, str(harness.ROOT / "tests"))
from postgres_server import PostgresServer

PG_PEER_NAMES = ("procrastinate", "pgqueuer")
OURS = "queue-core (postgresql)"
DATABASE = "bench"
SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "top",
    "pg_stat_statements.max": "10000",
    "max_connections": "300",
}


def driver_installed() -> bool:
    from importlib import metadata

    return any(entry.value.startswith("queue_postgres") for entry in metadata.entry_points(group="queue_core"))


def queue_core_postgres() -> Library:
    base = harness.queue_core("asyncio")
    return Library(OURS, base.lib, base.python, base.env)


class Postgres:
    """The harness's view of the cluster (see the module docstring)."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.url = f"postgresql://postgres@127.0.0.1:{server.port}/{DATABASE}"
        self.library: Library | None = None
        self.keep_once = False
        server.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def flush(self) -> None:
        if self.keep_once:  # the retained-jobs run measures on top of what is there
            self.keep_once = False
            return
        self.server.psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        self.server.psql(f"CREATE DATABASE {DATABASE}")
        if self.library is not None:
            self.library.agent("prepare", self.url)

    def reset(self) -> float:
        self.server.psql("SELECT pg_stat_statements_reset()")
        return self.cpu()

    def cpu(self) -> float:
        postmaster = self.server.pid
        if postmaster is None:
            return 0.0
        total = 0.0
        for pid, parent, times in _processes():
            if pid == postmaster:
                total += sum(times)  # its own time and its reaped children's
            elif parent == postmaster:
                total += times[0] + times[1]
        return total / os.sysconf("SC_CLK_TCK")

    def commands(self) -> dict[str, int]:
        rows = self.server.psql(
            "SELECT s.calls, s.query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            f"WHERE d.datname = '{DATABASE}'"
        )
        counts: dict[str, int] = {}
        for line in rows.splitlines():
            calls, _, query = line.partition("|")
            if calls.strip().isdigit():
                name = statement_name(query)
                counts[name] = counts.get(name, 0) + int(calls)
        return counts

    def command_usec(self) -> tuple[float, float]:
        """µs the server spent executing the benchmark database's statements since the reset:
        (server-side function calls, every other statement), as ``Redis.command_usec``."""
        rows = self.server.psql(
            "SELECT coalesce(sum(s.total_exec_time) FILTER (WHERE s.query ~* '^select [^ ]+\\.[a-z_]+\\('), 0), "
            "coalesce(sum(s.total_exec_time), 0) FROM pg_stat_statements s "
            f"JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '{DATABASE}'"
        )
        functions, total = (float(x) for x in rows.strip().split("|"))
        return functions * 1000, (total - functions) * 1000

    def used_memory(self) -> int:
        return int(self.server.psql(f"SELECT pg_database_size('{DATABASE}')").strip())

    def dead_tuples(self) -> int:
        out = self.server.psql("SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables", database=DATABASE)
        return int(out.strip())

    def close(self) -> None:
        pass


def statement_name(query: str) -> str:
    """A short, stable name for a normalized statement: its first words, 40 characters."""
    flat = re.sub(r"\s+", " ", query).strip()
    return flat[:40]


def _processes() -> list[tuple[int, int, tuple[int, int, int, int]]]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found.append((int(entry), int(fields[1]), (int(fields[11]), int(fields[12]), int(fields[13]), int(fields[14]))))
    return found


# --------------------------------------------------------------------------- the run


def libraries(args: argparse.Namespace) -> list[Library]:
    libs = [harness.peer(name) for name in PG_PEER_NAMES]
    if driver_installed():
        libs.insert(0, queue_core_postgres())
    if args.libs:
        wanted = set(args.libs.split(","))
        libs = [lib for lib in libs if lib.lib in wanted or lib.label in wanted]
    return libs


def run(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    libs = libraries(args)
    runs: dict[str, list[dict[str, Any]]] = {lib.label: [] for lib in libs}
    versions = {lib.label: lib.agent("version") for lib in libs}
    extras: dict[str, Any] = {}
    with PostgresServer(settings=SETTINGS) as server, harness.workdir() as tmp:
        pg = Postgres(server)
        version = server.psql("SHOW server_version").strip()
        workdir = Path(tmp)
        for repeat in range(1, args.repeats + 1):
            for lib in libs:
                pg.library = lib
                say(f"[{repeat}/{args.repeats}] {lib.label} (PostgreSQL): enqueue {args.jobs}, drain")
                result = harness.enqueue_and_drain(lib, pg, args.jobs, workdir)  # type: ignore[arg-type]
                if versions[lib.label]["bulk"]:
                    say(f"[{repeat}/{args.repeats}] {lib.label} (PostgreSQL): bulk enqueue")
                    result.update(harness.bulk(lib, pg, args.jobs, 1000))  # type: ignore[arg-type]
                say(f"[{repeat}/{args.repeats}] {lib.label} (PostgreSQL): pickup, lateness, idle")
                result.update(
                    harness.latency_and_idle(lib, pg, args.samples, args.scheduled, args.idle_seconds, workdir)  # type: ignore[arg-type]
                )
                runs[lib.label].append(result)
        if args.retained and OURS in runs:
            say(f"{OURS}: drain with {args.retained:,} finished jobs retained")
            extras["retained"] = retained(pg, queue_core_postgres(), args.retained, args.jobs, workdir)
    return {"runs": runs, "versions": versions, "extras": extras, "server_version": version}


def retained(pg: Postgres, lib: Library, keep: int, n: int, workdir: Path) -> dict[str, Any]:
    """The drain of ``n`` jobs on an empty table, then with ``keep`` completed jobs retained."""
    pg.library = lib
    empty = harness.enqueue_and_drain(lib, pg, n, workdir)  # type: ignore[arg-type]
    pg.flush()
    began = time.monotonic()
    filled = Library(lib.label, lib.lib, lib.python, {**lib.env, "BENCH_RETENTION": str(7 * 86400)})
    filled.agent("enqueue", pg.url, keep, "--bulk", 1000)
    marks = workdir / "retained.marks"
    marks.write_bytes(b"")
    worker = harness.WorkerProcess(filled, pg.url, marks)
    try:
        harness.wait_for_marks(marks, keep, worker, timeout=3600)
    finally:
        worker.stop()
    fill_seconds = time.monotonic() - began
    dead_before = pg.dead_tuples()
    pg.keep_once = True
    full = harness.enqueue_and_drain(lib, pg, n, workdir)  # type: ignore[arg-type]
    return {
        "kept": keep,
        "fill_seconds": fill_seconds,
        "size_bytes": pg.used_memory(),
        "dead_tuples_before": dead_before,
        "empty_drain": empty["drain"],
        "full_drain": full["drain"],
        "empty_enqueue": empty["enqueue"],
        "full_enqueue": full["enqueue"],
    }


# --------------------------------------------------------------------------- tables


def header(args: argparse.Namespace) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs, load average at the start {load}. N = {args.jobs:,} jobs, one worker process "
        f"with concurrency {harness.CONCURRENCY}, {args.samples} pickup samples, {args.scheduled} scheduled "
        f"jobs, {args.idle_seconds:g} s idle window; median of {args.repeats} repeat(s) with (min-max).\n"
    )


def tables(data: dict[str, Any], cell: Callable[..., str], column: Callable[..., list[float]]) -> str:
    runs, versions = data["runs"], data["versions"]
    lines = [
        f"## PostgreSQL (server {data['server_version']}, throwaway cluster, fsync off)",
        "",
        "Versions: " + "; ".join(f"{label}: {v['version']}" for label, v in versions.items()) + ".",
        "",
        "| library | A enqueue 1-by-1 /s | A-bulk /s | B drain /s | B start-up s | C pickup p50 ms | C pickup p99 ms "
        "| scheduled lateness p50 ms | lateness p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, results in runs.items():
        bulk = cell(column(results, "bulk")) if versions[label]["bulk"] else "no API"
        late50, late99 = column(results, "late_p50"), column(results, "late_p99")
        lines.append(
            f"| {label} | {cell(column(results, 'enqueue'))} | {bulk} | {cell(column(results, 'drain'))} "
            f"| {cell(column(results, 'startup'), 2)} | {cell(column(results, 'pickup_p50'), 1)} "
            f"| {cell(column(results, 'pickup_p99'), 1)} | {cell(late50, 1) if late50 else 'n/a'} "
            f"| {cell(late99, 1) if late99 else 'n/a'} |"
        )
    lines += [
        "",
        "| library | queries/job A / A-bulk / B | server CPU µs/job A / B / A+B | idle worker queries/s "
        "| database bytes per pending job | main statements per drained job |",
        "|---|---|---|---:|---:|---|",
    ]
    for label, results in runs.items():
        cmds = " / ".join(
            f"{v:.3g}" if (v := _median(results, key)) is not None else "-"
            for key in ("enqueue_cmds", "bulk_cmds", "drain_cmds")
        )
        cpu_a, cpu_b = _median(results, "enqueue_cpu_us") or 0.0, _median(results, "drain_cpu_us") or 0.0
        jobs = int(results[0].get("jobs", 0)) or 1
        main = "; ".join(
            f"`{name}` {count / jobs:.2f}"
            for name, count in sorted(results[0].get("drain_commands", {}).items(), key=lambda item: -item[1])[:4]
        )
        lines.append(
            f"| {label} | {cmds} | {cpu_a:.0f} / {cpu_b:.0f} / {cpu_a + cpu_b:.0f} "
            f"| {cell(column(results, 'idle_cmds'), 2)} | {cell(column(results, 'bytes_per_job'))} | {main} |"
        )
    kept = data["extras"].get("retained")
    if kept:
        lines += [
            "",
            f"{OURS} with {kept['kept']:,} finished jobs retained ({kept['size_bytes'] / 2**20:,.0f} MiB, "
            f"filled in {kept['fill_seconds']:.0f} s): drain {kept['full_drain']:,.0f}/s against "
            f"{kept['empty_drain']:,.0f}/s on an empty table; enqueue {kept['full_enqueue']:,.0f}/s against "
            f"{kept['empty_enqueue']:,.0f}/s.",
        ]
    lines += [
        "",
        "Notes: every library runs with its defaults (procrastinate keeps finished jobs as rows; pgqueuer "
        "logs each job's statuses; queue-core deletes a finished job unless it has a retention). Queries are "
        "the statements clients send to the benchmark database (pg_stat_statements, track = top): a "
        "server-side function counts once, BEGIN/COMMIT/LISTEN count each. Server CPU is the whole "
        "cluster's over the phase.",
    ]
    return "\n".join(lines)


def _median(results: list[dict[str, Any]], key: str) -> float | None:
    values = sorted(r[key] for r in results if key in r)
    return harness.summary(values)[0] if values else None


def targets(data: dict[str, Any]) -> str:
    """Issue 18 §8: every rate >= 1.5x the faster peer, pickup <= theirs, idle <= 1 query/s,
    and the drain with 1,000,000 finished jobs retained within 20% of the empty table's."""
    runs = data["runs"]
    ours = runs.get(OURS)
    peers = {label: results for label, results in runs.items() if label != OURS}
    if not ours:
        return ""
    rows: list[tuple[str, str, str, bool]] = []

    def best(key: str, pick: Callable[..., Any]) -> tuple[str, float] | None:
        found = [(label, v) for label, results in peers.items() if (v := _median(results, key)) is not None]
        return pick(found, key=lambda item: item[1]) if found else None

    for key, name in (("enqueue", "enqueue 1-by-1"), ("bulk", "bulk enqueue"), ("drain", "drain")):
        top, mine = best(key, max), _median(ours, key)
        if top and mine is not None:
            got = mine / top[1]
            rows.append((f"{name} vs faster peer", f"{mine:,.0f} vs {top[0]} {top[1]:,.0f}",
                         f"{got:.2f}x (target 1.5x)", got >= 1.5))  # fmt: skip
    for key, name in (("pickup_p50", "pickup p50"), ("pickup_p99", "pickup p99")):
        top, mine = best(key, min), _median(ours, key)
        if top and mine is not None:
            rows.append((f"{name} vs best peer", f"{mine:.1f} ms vs {top[0]} {top[1]:.1f} ms",
                         f"{mine / top[1]:.2f}x (target <= 1x)", mine <= top[1]))  # fmt: skip
    idle = _median(ours, "idle_cmds")
    if idle is not None:
        rows.append(("idle worker queries/s", f"{idle:.2f}/s", "target <= 1/s", idle <= 1))
    kept = data["extras"].get("retained")
    if kept:
        share = kept["full_drain"] / kept["empty_drain"]
        rows.append((f"drain with {kept['kept']:,} finished jobs retained vs empty",
                     f"{kept['full_drain']:,.0f} vs {kept['empty_drain']:,.0f}", f"{share:.0%} (target >= 80%)",
                     share >= 0.8))  # fmt: skip
    lines = ["| target | measured | ratio | met |", "|---|---|---|---|"]
    lines += [f"| {name} | {measured} | {got} | {'yes' if ok else '**no**'} |" for name, measured, got, ok in rows]
    return "\n".join(lines)
