"""The driver side of the benchmarks: Redis, worker processes, one function per workload.

Every library is measured the same way: its client and its worker run in their own
processes, with the library's own interpreter (``benchmarks/.venvs/<lib>`` for a peer,
queue-core's for queue-core), through ``peers/agent.py`` and the adapter
``peers/peer_<lib>.py``. The harness runs in queue-core's virtualenv: it owns the
throwaway redis-server, resets and reads its statistics, spawns and stops workers (each
in its own process group, stopped by PID), and times the drain from the marks the job
bodies write (``peers/mark.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "benchmarks" / "peers"
VENVS = Path(os.environ.get("BENCH_VENVS", ROOT / "benchmarks" / ".venvs"))
sys.path.insert(0, str(PEERS))

from mark import MARK, read_marks  # noqa: E402

PEER_NAMES = ("saq", "streaq", "taskiq", "dramatiq")
CONCURRENCY = 50
#: tasks enqueueing at once through one client (workload A-concurrent)
ENQUEUE_TASKS = 50
STOP_GRACE = 8.0
#: a drain that has not finished by then is reported with the marks it got.
DRAIN_TIMEOUT = 600.0
POLL = 0.01


@dataclass(frozen=True)
class Library:
    """One library (or one runtime of queue-core) under test."""

    label: str
    lib: str  # adapter name: peers/peer_<lib>.py
    python: str
    env: dict[str, str] = field(default_factory=dict)

    def command(self, *args: Any) -> list[str]:
        return [self.python, str(PEERS / "agent.py"), self.lib, *map(str, args)]

    def environ(self) -> dict[str, str]:
        path = os.pathsep.join(p for p in (str(PEERS), os.environ.get("PYTHONPATH", "")) if p)
        return {**os.environ, "PYTHONPATH": path, **self.env}

    def agent(self, *args: Any, timeout: float = 900) -> Any:
        """Run one agent command to its end; its last stdout line is JSON."""
        done = subprocess.run(
            self.command(*args), env=self.environ(), cwd=PEERS, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"{self.label}: agent {args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


#: the observability plugins (entry-point names): off in every queue-core row but the
#: ones that measure their cost.
OBSERVABILITY_PLUGINS = ("prometheus", "otel", "otel-metrics")


def queue_core(backend: str = "asyncio", transport: str = "pipelined", plugins: Sequence[str] = ()) -> Library:
    """queue-core on ``backend``; ``transport`` "redis-py" sends script calls through
    redis-py (threads under trio) instead of the pipelined hiredis connection. ``plugins``:
    the observability plugins left on (none by default: the bare rate)."""
    label = "queue-core" if backend == "asyncio" else f"queue-core ({backend})"
    if transport != "pipelined":
        label = f"queue-core ({backend}, {transport})"
    if plugins:
        label = f"queue-core + {' + '.join(plugins)}"
    disabled = ",".join(name for name in OBSERVABILITY_PLUGINS if name not in plugins)
    env = {"BENCH_BACKEND": backend, "BENCH_TRANSPORT": transport, "QUEUE_CORE_DISABLED_PLUGINS": disabled}
    return Library(label, "queue-core", sys.executable, env)


def peer(name: str) -> Library:
    """A peer in its own virtualenv, created (pip, pinned requirements) when missing."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    requirements = PEERS / "requirements" / f"{name}.txt"
    stamp = venv / ".installed"
    if not stamp.exists() or stamp.read_text() != requirements.read_text():
        print(f"installing {name} into {venv} ...", file=sys.stderr, flush=True)
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True)
        stamp.write_text(requirements.read_text())
    return Library(name, name, str(python))


# --------------------------------------------------------------------------- Redis


class Redis:
    """The harness's own connection: flush, reset and read statistics."""

    #: the harness's own commands, left out of every count.
    OWN = ("info", "config", "flushall", "script", "ping", "memory")

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = redis.Redis.from_url(url)

    def flush(self) -> None:
        # Freed in Redis' background thread: a synchronous FLUSHALL of a million keys can
        # outlast the client's timeout. Waited for, so used_memory starts from the floor.
        self.client.flushall(asynchronous=True)
        self.client.script_flush()
        while int(self.client.info("memory").get("lazyfree_pending_objects", 0)):
            time.sleep(0.05)

    def reset(self) -> float:
        """Reset the statistics; returns Redis' CPU seconds so far."""
        self.client.config_resetstat()
        return self.cpu()

    def cpu(self) -> float:
        info = self.client.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    def commands(self) -> dict[str, int]:
        """Commands since the last reset, by name (inside scripts too), ours left out."""
        stats = self.client.info("commandstats")
        counts = {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}
        return {name: n for name, n in counts.items() if name.split("|")[0] not in self.OWN}

    def command_usec(self) -> tuple[float, float]:
        """µs Redis spent in commands since the last reset: (script calls, every other
        command). A command a script runs is counted in both its own line and its
        script's, so their sum is an upper bound for a library that uses scripts."""
        stats = self.client.info("commandstats")
        scripts = other = 0.0
        for name, stat in stats.items():
            command = name.removeprefix("cmdstat_")
            if command.split("|")[0] in self.OWN:
                continue
            if command.startswith(("eval", "fcall")):
                scripts += float(stat["usec"])
            else:
                other += float(stat["usec"])
        return scripts, other

    def used_memory(self) -> int:
        return int(self.client.info("memory")["used_memory"])

    def close(self) -> None:
        self.client.close()


@dataclass
class Cost:
    """Redis commands, their time and Redis CPU of one phase."""

    commands: dict[str, int]
    cpu: float
    usec: tuple[float, float] = (0.0, 0.0)

    def per_job(self, jobs: int) -> tuple[float, float]:
        return sum(self.commands.values()) / jobs, self.cpu * 1e6 / jobs

    def usec_per_job(self, jobs: int) -> float:
        """Command time per job (INFO commandstats; see ``Redis.command_usec``)."""
        return sum(self.usec) / jobs


@contextlib.contextmanager
def measured(server: Redis) -> Iterator[list[Cost]]:
    """Measure the Redis cost of the block: ``with measured(r) as cost: ...; cost[0]``."""
    began = server.reset()
    out: list[Cost] = []
    yield out
    out.append(Cost(server.commands(), server.cpu() - began, server.command_usec()))


# --------------------------------------------------------------------------- workers


class WorkerProcess:
    """A library's worker in its own process group, writing marks to ``marks``."""

    def __init__(self, library: Library, url: str, marks: Path) -> None:
        env = {**library.environ(), "BENCH_MARKS": str(marks)}
        self.spawned = time.monotonic()
        self.process = subprocess.Popen(
            library.command("worker", url, CONCURRENCY),
            env=env, cwd=PEERS, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=open(marks.with_suffix(".log"), "wb"),  # noqa: SIM115
        )  # fmt: skip
        self.library = library

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def cpu_seconds(self) -> float:
        """User + system CPU time the worker's process group has used so far (``/proc``):
        a library whose worker runs in child processes (dramatiq, taskiq) is counted
        whole. A process that already ended is not counted."""
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # ended meanwhile
            if int(fields[2]) == self.pid:  # field 5 of stat: the process group
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def rss(self) -> int:
        """Resident set size of the worker process, in bytes (``/proc``)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        """SIGTERM to the worker's process group, SIGKILL after a grace period."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.process.wait()


def wait_for_marks(path: Path, count: int, worker: WorkerProcess, timeout: float = DRAIN_TIMEOUT) -> list[float]:
    """Poll the marks file every 10 ms until ``count`` marks are there; their times."""
    deadline = time.monotonic() + timeout
    want = count * MARK.size
    while path.stat().st_size < want and time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"{worker.library.label}: the worker died; see {path.with_suffix('.log')}")
        time.sleep(POLL)
    return [at for at, _ in read_marks(path.read_bytes())]


# --------------------------------------------------------------------------- workloads


def enqueue_and_drain(library: Library, server: Redis, n: int, workdir: Path) -> dict[str, Any]:
    """A: n awaited enqueues (Redis cost, bytes per pending job); B: one worker drains them."""
    out: dict[str, Any] = {"jobs": n}
    server.flush()
    before = server.used_memory()
    with measured(server) as cost:
        out["enqueue"] = library.agent("enqueue", server.url, n)["rate"]
    out["bytes_per_job"] = (server.used_memory() - before) / n
    out["enqueue_cmds"], out["enqueue_cpu_us"] = cost[0].per_job(n)
    out["enqueue_usec"] = cost[0].usec_per_job(n)
    out["enqueue_commands"] = cost[0].commands

    marks = workdir / f"drain-{library.lib}.marks"
    marks.write_bytes(b"")
    worker: WorkerProcess | None = None
    try:
        # The cost is read as the last job runs: the worker's shutdown is not the drain's.
        with measured(server) as cost:
            worker = WorkerProcess(library, server.url, marks)
            wait_for_marks(marks, 1, worker)
            cpu_at_first = worker.cpu_seconds()
            times = wait_for_marks(marks, n, worker)
            # CPU per job, unlike the rate, hardly moves with what else the machine runs.
            out["drain_worker_cpu_us"] = (worker.cpu_seconds() - cpu_at_first) / (n - 1) * 1e6
        if len(times) < n:
            raise RuntimeError(f"{library.label}: drained {len(times)} of {n} jobs in {DRAIN_TIMEOUT}s")
        first, last = min(times), max(times)
        out["drain"] = (n - 1) / (last - first)
        out["startup"] = first - worker.spawned
        out["drain_with_startup"] = n / (last - worker.spawned)
        out["drain_cmds"], out["drain_cpu_us"] = cost[0].per_job(n)
        out["drain_usec"] = cost[0].usec_per_job(n)
        out["drain_commands"] = cost[0].commands
        time.sleep(0.2)
        out["marks"] = marks.stat().st_size // MARK.size  # more than n: some job ran twice
    finally:
        if worker is not None:
            worker.stop()
    return out


def bulk(library: Library, server: Redis, n: int, call: int) -> dict[str, Any]:
    server.flush()
    with measured(server) as cost:
        rate = library.agent("enqueue", server.url, n, "--bulk", call)["rate"]
    cmds, cpu = cost[0].per_job(n)
    return {"bulk": rate, "bulk_cmds": cmds, "bulk_cpu_us": cpu}


def concurrent(library: Library, server: Redis, n: int, tasks: int) -> dict[str, Any]:
    """n one-by-one enqueues from ``tasks`` tasks at once, all through one client."""
    server.flush()
    with measured(server) as cost:
        rate = library.agent("enqueue", server.url, n, "--tasks", tasks)["rate"]
    cmds, cpu = cost[0].per_job(n)
    return {"concurrent": rate, "concurrent_cmds": cmds, "concurrent_cpu_us": cpu}


def latency_and_idle(
    library: Library, server: Redis, samples: int, scheduled: int, idle_seconds: float, workdir: Path
) -> dict[str, Any]:
    """C: pickup latency of an idle worker, then scheduled lateness, then idle commands/s."""
    server.flush()
    fifo = workdir / f"latency-{library.lib}.fifo"
    with contextlib.suppress(FileNotFoundError):
        fifo.unlink()
    os.mkfifo(fifo)
    # Held open for writing, so the worker's open() never blocks and the reader never sees EOF.
    keeper = os.open(fifo, os.O_RDWR)
    worker = WorkerProcess(library, server.url, fifo)
    try:
        result = library.agent("latency", server.url, fifo, samples, scheduled)
        out: dict[str, Any] = {
            "pickup_p50": percentile(result["pickup"], 50) * 1000,
            "pickup_p99": percentile(result["pickup"], 99) * 1000,
        }
        if "lateness" in result:
            out["late_p50"] = percentile(result["lateness"], 50) * 1000
            out["late_p99"] = percentile(result["lateness"], 99) * 1000
            out["late_missing"] = result["lateness_missing"]
        time.sleep(1.0)
        began = time.monotonic()
        with measured(server) as cost:
            time.sleep(idle_seconds)
        elapsed = time.monotonic() - began
        out["idle_cmds"] = sum(cost[0].commands.values()) / elapsed
        out["idle_commands"] = {name: count / elapsed for name, count in cost[0].commands.items()}
        return out
    finally:
        worker.stop()
        os.close(keeper)
        fifo.unlink()


def plugin_cost(library: Library) -> float:
    """CPU µs the library's plugins (and the hook calls) take per job, in-process."""
    done = subprocess.run(
        [library.python, str(ROOT / "benchmarks" / "plugin_cost.py")], env=library.environ(), cwd=ROOT,
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    return float(json.loads(done.stdout.strip().splitlines()[-1])["cpu_us_per_job"])


def in_process(n: int, samples: int) -> dict[str, Any]:
    """memory://: enqueue, bulk, drain and pickup in one process (there is no server)."""
    result = queue_core().agent("memory", "memory://", n, CONCURRENCY, samples)
    return {
        "enqueue": result["enqueue"],
        "bulk": result["bulk"],
        "drain": result["drain"],
        "startup": result["startup"],
        "pickup_p50": percentile(result["pickup"], 50) * 1000,
        "pickup_p99": percentile(result["pickup"], 99) * 1000,
    }


def bare(server: Redis, n: int) -> dict[str, Any]:
    """The client-library bounds: redis-py asyncio EVALSHA of our enqueue script."""
    core = queue_core()
    server.flush()
    one = core.agent("bare", server.url, n, 0)["rate"]
    server.flush()
    piped = core.agent("bare", server.url, n, 1000)["rate"]
    return {"bare": one, "bare_pipelined": piped}


def worker_rss(server: Redis, total: int, rounds: int, workdir: Path) -> dict[str, Any]:
    """Worker RSS after each of ``rounds`` drains of ``total / rounds`` jobs (one process)."""
    core = queue_core()
    server.flush()
    marks = workdir / "rss.marks"
    marks.write_bytes(b"")
    per_round = total // rounds
    worker = WorkerProcess(core, server.url, marks)
    rss = []
    try:
        for index in range(1, rounds + 1):
            core.agent("enqueue", server.url, per_round, "--bulk", 1000)
            wait_for_marks(marks, per_round * index, worker)
            time.sleep(0.5)  # settled and idle
            rss.append(worker.rss())
        used = server.used_memory()
    finally:
        worker.stop()
    return {"rss": rss, "per_round": per_round, "redis_used_after": used}


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: p99 of 200 samples is the 3rd worst."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def summary(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="queue-core-bench-")
