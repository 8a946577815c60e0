"""One fault scenario: a Redis, worker processes, a producer, then the verdict.

::

    with Scenario("F01", node.url, tmp_path) as s:
        s.start_workers(2)
        s.produce(400, rate=200)           # a thread enqueues through queue-core's SyncClient
        ...inject the fault...
        row = s.finish()                   # quiesce, ledger check, fsck; one report row

The producer gives every job an explicit ID, so an enqueue that failed ambiguously is
retried with the same ID: an ``ID_CONFLICT`` then proves the first try stored it. It
keeps its own ledger: attempted, acknowledged, errors.

The verdict, per acknowledged job: effects in the ledger (0 lost, >1 duplicate) and the
final state in Redis. A duplicate is *explained* when the job's crash count (lease
expiries, counted by the recoverer) covers it: effects - 1 <= crashes.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from queue_core import BrokerError, JobIdConflict, SyncClient
from tests.fault import fsck as fsck_module
from tests.fault import ledger
from tests.fault.procs import Proc

QUEUE = "default"
RETENTION = 3600.0  # completed jobs stay, so the verdict can read their final state
LEASE, SWEEP = 2.0, 1.0
#: P2's bound in the short profile: lease + sweep + 1 s.
RECOVERY_BOUND = LEASE + SWEEP + 1.0
REPORT_ENV = "QUEUE_CORE_FAULT_REPORT"

#: The producer counts its errors itself; logging them would let pytest's log capture keep
#: every exception (and, through its traceback, dead connections) until the session ends.
QUIET = logging.getLogger("queue_core.fault.producer")
QUIET.propagate = False
QUIET.addHandler(logging.NullHandler())

#: every row reported in this pytest session (printed by conftest's terminal summary).
ROWS: list[dict[str, Any]] = []


def payload_mix(rng: random.Random, long_share: float = 0.05) -> dict[str, Any]:
    """Mostly 5-50 ms jobs; ``long_share`` of them run 1-3 s so that some are in flight
    when a fault lands."""
    if rng.random() < long_share:
        return {"ms": rng.randint(1000, 3000), "kind": "ok"}
    return {"ms": rng.randint(5, 50), "kind": "ok"}


@dataclass
class Producer:
    url: str
    prefix: str
    jobs: list[tuple[str, dict[str, Any]]]
    rate: float
    give_up_after: float = 60.0
    backend: str = "asyncio"
    options: dict[str, Any] = field(default_factory=dict)
    acked: list[str] = field(default_factory=list)
    ack_times: dict[str, float] = field(default_factory=dict)
    errors: int = 0
    conflicts_first_try: int = 0
    unknown: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            with SyncClient(self.url, broker_options={"prefix": self.prefix}, logger=QUIET,
                            backend=self.backend) as client:  # fmt: skip
                started = time.monotonic()
                for n, (job_id, payload) in enumerate(self.jobs):
                    if self.rate:
                        delay = started + n / self.rate - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                    self._enqueue(client, job_id, payload)
        finally:
            self.done.set()

    def _enqueue(self, client: SyncClient, job_id: str, payload: dict[str, Any]) -> None:
        deadline = time.monotonic() + self.give_up_after
        first = True
        while True:
            try:
                client.enqueue("work", payload, job_id=job_id, retention=RETENTION, **self.options)
            except JobIdConflict:
                # Stored by an earlier try whose reply was lost (or by redis-py's own
                # retry of this one): acknowledged all the same.
                if first:
                    self.conflicts_first_try += 1
            except BrokerError:
                self.errors += 1
                first = False
                if time.monotonic() > deadline:
                    self.unknown.append(job_id)
                    return
                time.sleep(0.1)
                continue
            self.acked.append(job_id)
            self.ack_times[job_id] = time.time()
            return

    def wait(self, timeout: float = 120.0) -> None:
        if not self.done.wait(timeout):
            raise TimeoutError("the producer did not finish")


class Scenario:
    """The processes and records of one scenario run."""

    def __init__(
        self,
        name: str,
        url: str,
        workdir: str | os.PathLike[str],
        *,
        admin: redis.Redis,
        seed: int = 1,
        redis_mode: str = "single",
        prefix: str | None = None,
        url_for_workers: str | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.worker_url = url_for_workers or url
        self.dir = os.fspath(workdir)
        self.ledger_dir = os.path.join(self.dir, "ledger")
        os.makedirs(self.ledger_dir, exist_ok=True)
        self.admin = admin
        self.seed = seed
        self.rng = random.Random(seed)
        self.redis_mode = redis_mode
        self.prefix = prefix or f"f{name.lower()}"
        self.procs: list[Proc] = []
        self.producers: list[Producer] = []
        self.threads: list[threading.Thread] = []
        self.events: list[tuple[float, str]] = []
        #: the event loop of the producers' SyncClient
        self.producer_backend = "asyncio"
        self.notes: list[str] = []

    def __enter__(self) -> Scenario:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for proc in self.procs:
            proc.close()
        self.admin.close()
        for thread in self.threads:
            thread.join(timeout=5)

    def use_admin(self, conn: redis.Redis) -> None:
        """Read Redis through ``conn`` from now on (after a failover moved the data)."""
        self.admin.close()
        self.admin = conn

    def event(self, what: str) -> float:
        """Log a fault (the schedule is part of the report, so a run can be replayed)."""
        at = time.time()
        self.events.append((at, what))
        return at

    # ---- processes

    def worker(self, name: str | None = None, *, start: bool = True, **config: Any) -> Proc:
        options = config.pop("options", {})
        full = {"url": self.worker_url, "prefix": self.prefix, "ledger": self.ledger_dir, "options": options, **config}
        proc = Proc(full, self.dir, name or f"w{len(self.procs) + 1}")
        self.procs.append(proc)
        if start:
            proc.start()
        return proc

    def start_workers(self, count: int, **config: Any) -> list[Proc]:
        return [self.worker(**config) for _ in range(count)]

    # ---- load

    def jobs(self, count: int, payload: Callable[[random.Random], dict[str, Any]] = payload_mix,
             start: int = 0) -> list[tuple[str, dict[str, Any]]]:  # fmt: skip
        return [(f"{self.name}-{i:05d}", payload(self.rng)) for i in range(start, start + count)]

    def produce(self, jobs: list[tuple[str, dict[str, Any]]], rate: float = 0.0, **options: Any) -> Producer:
        producer = Producer(self.url, self.prefix, jobs, rate, options=options, backend=self.producer_backend)
        thread = threading.Thread(target=producer.run, name=f"producer {self.name}", daemon=True)
        thread.start()
        self.producers.append(producer)
        self.threads.append(thread)
        return producer

    def produce_now(self, jobs: list[tuple[str, dict[str, Any]]], **options: Any) -> Producer:
        producer = self.produce(jobs, **options)
        producer.wait()
        return producer

    @property
    def acked(self) -> list[str]:
        return [job_id for p in self.producers for job_id in p.acked]

    # ---- observation

    def counts(self) -> dict[str, int]:
        return fsck_module.counts(self.admin, self.prefix, QUEUE)

    def entries(self) -> list[ledger.Entry]:
        return ledger.read(self.ledger_dir)

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> float:
        """Poll ``condition``; returns the seconds it took. Raises on timeout."""
        started = time.monotonic()
        while not condition():
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{self.name}: {what} did not happen within {timeout}s; counts {self.counts()}")
            time.sleep(0.05)
        return time.monotonic() - started

    def wait_effects(self, count: int, timeout: float = 30.0) -> None:
        self.wait_until(lambda: len(ledger.effects(self.entries())) >= count, timeout, f"{count} effects")

    def quiesce(self, timeout: float = 60.0) -> None:
        """Until the producers are done and nothing is pending, active, scheduled or retrying."""
        for producer in self.producers:
            producer.wait(timeout)

        def settled() -> bool:
            c = self.counts()
            return c["pending"] + c["active"] + c["scheduled"] + c["retry"] == 0

        self.wait_until(settled, timeout, "quiesce")

    def fsck(self) -> list[str]:
        """The structural check of the queue's storage after the scenario (P4)."""
        return fsck_module.fsck(self.admin, self.prefix, QUEUE)

    def states(self, job_ids: Iterable[str]) -> dict[str, tuple[str | None, int]]:
        """job id -> (state, crashes), read in one pipeline."""
        ids = list(job_ids)
        pipe = self.admin.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(f"{self.prefix}:{{{QUEUE}}}:j:{job_id}", "state", "crashes")
        result = {}
        for job_id, (state, crashes) in zip(ids, pipe.execute(), strict=True):
            result[job_id] = (None if state is None else state.decode(), int(crashes or 0))
        return result

    def orphans(self, fault_at: float, pids: set[int]) -> dict[str, str]:
        """The jobs a faulted process started and did not finish: job id -> its token."""
        entries = self.entries()
        finished = {(e.job_id, e.token) for e in entries if e.kind == "E"}
        return {
            e.job_id: e.token
            for e in entries
            if e.kind == "S" and e.pid in pids and e.at <= fault_at and (e.job_id, e.token) not in finished
        }

    def recovery_times(self, fault_at: float, pids: set[int], skip: Iterable[str] = ()) -> list[float]:
        """For each orphan of the fault (but those in ``skip``): the seconds from the fault
        to its next start by anyone under another token."""
        started = [e for e in self.entries() if e.kind == "S"]
        left_out = set(skip)
        times = []
        for job_id, token in self.orphans(fault_at, pids).items():
            if job_id in left_out:
                continue
            again = [e.at for e in started if e.job_id == job_id and e.token != token and e.at > fault_at]
            times.append(min(again) - fault_at if again else float("inf"))
        return times

    # ---- verdict

    def verdict(
        self,
        *,
        expect_completed: Iterable[str] | None = None,
        expect_archived: Iterable[str] = (),
        recovery: list[float] | None = None,
        bound: float | None = None,
        check_fsck: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        """Check the ledger and Redis; return (and record) the report row."""
        acked = self.acked
        archived_expected = set(expect_archived)
        completed_expected = set(acked if expect_completed is None else expect_completed) - archived_expected
        effects = ledger.effects(self.entries())
        states = self.states(acked)
        lost = [j for j in completed_expected if not effects.get(j) or states[j][0] != "completed"]
        wrongly = [j for j in archived_expected if states.get(j, (None, 0))[0] != "archived"]
        duplicates = {j: len(e) - 1 for j, e in effects.items() if len(e) > 1}
        double_completions = [j for j, c in ledger.of_kind(self.entries(), "C").items() if len(c) > 1]
        unexplained = [j for j, extra_runs in duplicates.items() if extra_runs > states.get(j, (None, 0))[1]]
        problems = self.fsck() if check_fsck else []
        counts = self.counts()
        row: dict[str, Any] = {
            "scenario": self.name,
            "seed": self.seed,
            "redis_mode": self.redis_mode,
            "enqueued": len(acked),
            "enqueue_errors": sum(p.errors for p in self.producers),
            "unknown": sum(len(p.unknown) for p in self.producers),
            "completed": counts["completed"],
            "archived": counts["archived"],
            "lost": len(lost),
            "duplicates": sum(duplicates.values()),
            "unexplained_duplicates": len(unexplained),
            "stuck_active": counts["active"],
            "double_transitions": len(double_completions),
            "fsck_violations": len(problems),
            "faults": [what for _, what in self.events],
        }
        if recovery is not None:
            row["recovery_s_max"] = round(max(recovery, default=0.0), 3)
            row["recovered_jobs"] = len(recovery)
        if bound is not None:
            row["bound_s"] = bound
        row.update(extra)
        if self.notes:
            row["notes"] = "; ".join(self.notes)
        record(row)
        self._details = {"lost": sorted(lost)[:20], "unexplained": unexplained[:20], "fsck": problems[:20],
                         "wrongly_archived": wrongly[:20]}  # fmt: skip
        return row

    def assert_clean(self, row: dict[str, Any], *, lost_ok: bool = False) -> None:
        """The promises every scenario keeps: P1 (unless ``lost_ok``), P4, P5."""
        details = self._details
        if not lost_ok:
            assert row["lost"] == 0, f"{self.name}: lost jobs {details['lost']}; row {row}"
        assert row["unexplained_duplicates"] == 0, f"{self.name}: unexplained duplicates {details['unexplained']}"
        assert row["fsck_violations"] == 0, f"{self.name}: fsck {details['fsck']}"
        assert row["stuck_active"] == 0, f"{self.name}: jobs stuck active; row {row}"
        assert row["double_transitions"] == 0, f"{self.name}: a job completed twice (a stale write); row {row}"
        assert not details["wrongly_archived"], f"{self.name}: not archived {details['wrongly_archived']}"


def record(row: dict[str, Any]) -> None:
    ROWS.append(row)
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")
