"""Flows in the fault scenarios: chains and fan-ins written with ``enqueue_flow``, and the
checks a flow adds to a scenario's verdict.

``FlowProducer`` writes each flow in one ``enqueue_flow`` call (one atomic script for the
queue). A call that failed ambiguously is retried with the same job IDs: a refusal whose
first cause is ``ID_CONFLICT`` then proves the first try stored the whole flow (the flow
is stored all together or not at all).

``flow_verdict`` reads the ledger: no job started before its dependencies completed (the
handler writes an ``X`` line when it finds a dependency's result missing, see
``fault_worker``), every callback and chain end ran exactly once (or again only after its
own lease expired), and nothing is left waiting.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from queue_core import BrokerError, EnqueueStatus, FlowRejected, Job, SyncClient, chain, group
from tests.fault import ledger
from tests.fault.scenario import QUIET, RETENTION, Producer, Scenario

Payload = Callable[[random.Random], dict[str, Any]]


def short(rng: random.Random) -> dict[str, Any]:
    return {"ms": rng.randint(20, 120), "kind": "ok"}


def slow(rng: random.Random) -> dict[str, Any]:
    return {"ms": rng.randint(100, 300), "kind": "ok"}


def quick(rng: random.Random) -> dict[str, Any]:
    return {"ms": rng.randint(0, 5), "kind": "ok"}


@dataclass
class Flows:
    """The flows of a scenario: every job list, and which jobs are the ones that wait."""

    flows: list[list[Job]] = field(default_factory=list)
    #: the last link of each chain and the callback of each fan-in
    ends: list[str] = field(default_factory=list)
    #: every job that has dependencies
    dependents: list[str] = field(default_factory=list)

    def add(self, jobs: list[Job]) -> list[Job]:
        self.flows.append(jobs)
        self.ends.append(_id(jobs[-1]))
        self.dependents += [_id(job) for job in jobs if job.depends_on]
        return jobs

    def chain(self, name: str, links: int, rng: random.Random, payload: Payload = short,
              special: dict[int, dict[str, Any]] | None = None) -> list[Job]:  # fmt: skip
        """``links`` jobs, each given the previous one's result; ``special`` replaces
        the payload of the jobs at those positions."""
        ids = [f"{name}-{i:03d}" for i in range(links)]
        payloads = [dict((special or {}).get(i) or payload(rng)) for i in range(links)]
        for previous, spec in zip(ids, payloads[1:], strict=False):
            spec["after"] = [previous]
        return self.add(chain(*map(_job, ids, payloads), pass_result=True))

    def fan_in(self, name: str, members: int, rng: random.Random, payload: Payload = short,
               special: dict[int, dict[str, Any]] | None = None) -> list[Job]:  # fmt: skip
        """``members`` jobs and a callback that waits for all of them."""
        jobs = [_job(f"{name}-m{i:05d}", (special or {}).get(i) or payload(rng)) for i in range(members)]
        then = _job(f"{name}-then", {**payload(rng), "after": [_id(job) for job in jobs]})
        return self.add(group(jobs, then=then))

    @property
    def jobs(self) -> list[Job]:
        return [job for flow in self.flows for job in flow]


def _job(job_id: str, payload: dict[str, Any]) -> Job:
    return Job.create("work", payload, job_id=job_id, retention=RETENTION)


def _id(job: Job) -> str:
    assert job.job_id is not None
    return job.job_id


@dataclass
class FlowProducer(Producer):
    flows: list[list[Job]] = field(default_factory=list)
    stored_by_earlier_try: int = 0

    def run(self) -> None:
        try:
            with SyncClient(self.url, broker_options={"prefix": self.prefix}, logger=QUIET,
                            backend=self.backend) as client:  # fmt: skip
                for flow in self.flows:
                    self._enqueue_flow(client, flow)
        finally:
            self.done.set()

    def _enqueue_flow(self, client: SyncClient, flow: list[Job]) -> None:
        ids = [_id(job) for job in flow]
        deadline = time.monotonic() + self.give_up_after
        while True:
            try:
                client.run(lambda: client.client.enqueue_flow(flow))
            except FlowRejected as exc:
                refused = [o for o in exc.outcomes if o.status is not EnqueueStatus.FLOW_REJECTED]
                if not all(o.status is EnqueueStatus.ID_CONFLICT for o in refused):
                    raise
                self.stored_by_earlier_try += 1  # all or nothing: the earlier try stored it all
            except BrokerError:
                self.errors += 1
                if time.monotonic() > deadline:
                    self.unknown += ids
                    return
                time.sleep(0.1)
                continue
            now = time.time()
            self.acked += ids
            self.ack_times.update(dict.fromkeys(ids, now))
            return


def produce_flows(s: Scenario, flows: Flows) -> FlowProducer:
    """Write ``flows`` from a thread (``Scenario.quiesce`` waits for it)."""
    producer = FlowProducer(s.url, s.prefix, [], 0.0, backend=s.producer_backend, flows=flows.flows)
    thread = threading.Thread(target=producer.run, name=f"flow producer {s.name}", daemon=True)
    thread.start()
    s.producers.append(producer)
    s.threads.append(thread)
    return producer


def quiesce_flows(s: Scenario, timeout: float = 120.0) -> None:
    """``Scenario.quiesce``, and nothing left waiting: a waiting job that is never
    released fails here ("nothing waits forever")."""
    s.quiesce(timeout)
    s.wait_until(lambda: s.counts()["waiting"] == 0, timeout, "every waiting job released")
    s.quiesce(timeout)


def flow_verdict(s: Scenario, flows: Flows, **extra: Any) -> dict[str, Any]:
    """The scenario's verdict plus the flow figures; asserts what a flow promises."""
    entries = s.entries()
    effects = ledger.effects(entries)
    early = sorted(ledger.of_kind(entries, "X"))
    ends_runs = [len(effects.get(job_id, [])) for job_id in flows.ends]
    crashes = {job_id: state[1] for job_id, state in s.states(flows.ends).items()}
    row = s.verdict(
        flows=len(flows.flows),
        ends_exactly_once=sum(n == 1 for n in ends_runs),
        ends=len(flows.ends),
        dependents=len(flows.dependents),
        released_early=len(early),
        left_waiting=s.counts()["waiting"],
        **extra,
    )
    s.assert_clean(row)
    assert not early, f"{s.name}: started before their dependencies completed: {early[:20]}"
    assert row["left_waiting"] == 0, row
    # Exactly once, but for a run again after the end's own lease expired (P5: a worker
    # paused or starved past its lease); the scenarios whose leases cannot expire assert
    # no duplicate at all.
    unexplained = [(j, n) for j, n in zip(flows.ends, ends_runs, strict=True) if n == 0 or n - 1 > crashes[j]]
    assert not unexplained, f"{s.name}: callbacks / chain ends not run exactly once: {unexplained[:20]}"
    return row
