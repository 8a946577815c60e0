"""The state machines: a real driver and the reference model, step by step, side by side.

Every rule calls the same Broker method on both and compares what came back; after every
step an invariant compares what can be observed without changing anything (queue list,
queue stats, the earliest due time, and the snapshot of every job the step touched). At
the end of each example every job ever seen is compared, payload and result included.

After every step the machines also compare the jobs each queue announced as finished
(``wait_for_finished``, subscribed before the first step) with the model's account.

Time moves only through the ``advance_time`` rule, on a ``ManualClock``; every other
rule passes the clock's ``now``. Rules are synchronous (Hypothesis drives them), so the
driver is called through an anyio blocking portal, which may run asyncio or trio.
Rules that need an optional concern are gated on ``broker.capabilities.features``.

Two machines share the plumbing and every rule of enqueue, processing and maintenance
(``Comparison``): ``BrokerComparison`` here runs those alone, so each gets many steps;
``OperationsComparison`` (``machine_operations``) adds the operator actions, aggregation
and coordination to them, so there every rule meets every other (a unique enqueue meets
``delete_job``, a stale lease meets a cancel request). Each stays within one test's time
limit.

With the ``testing`` feature, a rule opens crash windows (``lose_lease``) and each example
ends with a storage hygiene check (``check_hygiene``).
"""

from __future__ import annotations

import itertools
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, cast

import anyio
from anyio.from_thread import BlockingPortal
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from queue_conformance import strategies as s
from queue_conformance.compare import assert_same, capture, capture_sync
from queue_conformance.helpers import grown
from queue_conformance.model import ReferenceBroker
from queue_conformance.plugin import OpenBroker
from queue_core import Broker, BrokerTestHooks, Footprint, Lease, ManualClock

#: A read-only call to make on both sides: method name and arguments.
Probe = tuple[str, tuple[Any, ...]]
#: Real seconds a step's expected announcements may take to arrive from a remote broker.
ANNOUNCEMENT_PATIENCE = 10.0


@dataclass(frozen=True)
class LeasePair:
    """The same lease as the driver and the model issued it (their tokens differ)."""

    driver: Lease
    model: Lease

    def __repr__(self) -> str:
        return f"<lease {self.model.queue}/{self.model.job_id} {self.model.token}>"


async def _subscribe_finished(broker: Broker) -> None:
    for queue in s.QUEUES:
        await broker.wait_for_finished(queue, 0)


async def _collect_finished(broker: Broker, expected: dict[str, Counter[str]]) -> dict[str, Counter[str]]:
    """Each queue's announcements: what has arrived, then (patiently) the rest of what is
    expected. A remote broker delivers them a little after the call that made them."""
    got: dict[str, Counter[str]] = {}
    with anyio.move_on_after(ANNOUNCEMENT_PATIENCE):
        for queue in s.QUEUES:
            got[queue] = Counter(await broker.wait_for_finished(queue, 0))
            while not expected[queue] <= got[queue]:
                got[queue].update(await broker.wait_for_finished(queue, ANNOUNCEMENT_PATIENCE))
    return got


#: How far past the end of an example the hygiene check looks: past every lease,
#: retention, unique lock and schedule the pools draw.
DRAIN_AFTER = 100 * 86_400.0


async def drained_footprint(broker: Broker, now: float) -> Footprint:
    """Finish everything the example left and report the storage that remains: running
    jobs recovered, every pause flag lifted, every queue deleted, expired heartbeats
    pruned. What is left must expire on its own (or be an event history)."""
    await broker.recover_expired(list(s.QUEUES), now, 1_000_000)
    for queue in s.OPERATION_QUEUES:
        await broker.resume(queue)
    for queue in await broker.list_queues():
        await broker.delete_queue(queue, force=True)
    if "coordination" in broker.capabilities.features:
        for kind in s.KINDS:
            await broker.list_heartbeats(kind, now)
    return await cast(BrokerTestHooks, broker).footprint()


async def _probe_all(broker: Broker, probes: Sequence[Probe]) -> list[Any]:
    # One portal round trip for the whole batch rather than one per call.
    return [await capture(getattr(broker, name), *args) for name, args in probes]


def reported(chosen: Sequence[LeasePair], leases: Sequence[Lease], side: str) -> list[int]:
    """Positions in ``chosen`` whose lease (the driver's or the model's) is in ``leases``."""
    return [i for i, pair in enumerate(chosen) if getattr(pair, side) in leases]


def has_leases(machine: BrokerComparison) -> bool:
    # Hypothesis skips a rule whose own argument is an empty bundle, but not one that
    # draws from the bundle inside a list: without this, the example would be invalid.
    return bool(machine.issued)


def has_feature(name: str) -> Callable[[BrokerComparison], bool]:
    return lambda machine: name in machine.features


class Comparison(RuleBasedStateMachine):
    """The plumbing and the rules every machine needs to make work: time, enqueue,
    leasing, settling held leases, forwarding and recovery. Bind ``portal`` and
    ``open_broker`` with :func:`comparison_machine` before running."""

    portal: ClassVar[BlockingPortal]
    open_broker: ClassVar[OpenBroker]

    #: every lease ever issued; most go stale, which is how fencing gets exercised.
    leases = Bundle("leases")

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock(s.START)
        self.model = ReferenceBroker()
        self.broker: Broker = self.portal.call(type(self).open_broker)
        self.features = self.broker.capabilities.features
        self.issued: list[LeasePair] = []
        self.seen_jobs: set[tuple[str, str]] = set()
        self.seen_tokens: set[tuple[str, str, str]] = set()
        self._fresh_ids = itertools.count(1)
        self._observed_at: float | None = None
        self.portal.call(_subscribe_finished, self.broker)
        #: the fresh broker's storage, for the hygiene check at the end (``"testing"``).
        self.baseline: Footprint | None = None
        if {"testing", "admin"} <= self.features:
            # In use (a ping writes whatever a driver keeps for itself), holding no queue.
            self.portal.call(self.broker.ping)
            self.baseline = self.portal.call(cast(BrokerTestHooks, self.broker).footprint)

    # ----------------------------------------------------------------- plumbing

    @property
    def now(self) -> float:
        return self.clock.now()

    def fresh_id(self) -> str:
        return f"x{next(self._fresh_ids)}"

    def held_leases(self) -> list[LeasePair]:
        return [pair for pair in self.issued if self.model.holds(pair.model)]

    def both(self, name: str, *args: Any) -> Any:
        """Call ``name`` on the driver and on the model; fail unless they agree.
        Returns the model's answer."""
        got = self.portal.call(capture, getattr(self.broker, name), *args)
        want = capture_sync(getattr(self.model, name), *args)
        assert_same(name, got, want)
        return want

    def probe(self, probes: Sequence[Probe]) -> None:
        got = self.portal.call(_probe_all, self.broker, probes)
        for (name, args), driver_value in zip(probes, got, strict=True):
            shown = ", ".join(repr(arg) for arg in args)
            assert_same(f"{name}({shown})", driver_value, capture_sync(getattr(self.model, name), *args))

    def enqueue_specs(self, specs: Sequence[s.JobSpec]) -> None:
        now = self.now
        for outcome in self.both("enqueue", [spec.build(now, self.fresh_id) for spec in specs], now):
            event(f"enqueue: {outcome.state or outcome.status}")

    def settle_pairs(self, items: Sequence[tuple[LeasePair, s.SettleSpec]]) -> None:
        now = self.now
        got = self.portal.call(self.broker.settle, [spec.build(pair.driver, now) for pair, spec in items], now)
        want = self.model.settle([spec.build(pair.model, now) for pair, spec in items], now)
        assert_same(f"settle({list(items)!r})", got, want)
        for (_, spec), applied in zip(items, want, strict=True):
            event(f"settle {spec.kind}: {'applied' if applied else 'fenced'}")

    def lease_jobs(self, queues: list[str], lease_for: float, worker: str, limit: int) -> Any:
        """Dequeue on both sides and pair the leases (for the ``leases`` bundle)."""
        now = self.now
        got: list[Lease] = self.portal.call(self.broker.dequeue, queues, now, lease_for, worker, limit)
        want = self.model.dequeue(queues, now, lease_for, worker, limit)
        # Tokens are random, so compare everything else, then the token's form and freshness.
        assert_same(
            "dequeue",
            [(lease.record, lease.expires_at) for lease in got],
            [(lease.record, lease.expires_at) for lease in want],
        )
        for lease in got:
            assert lease.token.startswith(f"{worker}:"), f"token {lease.token!r} should be '{worker}:<random>'"
            # Fencing is per job, so a token must be new for its job (not across jobs).
            issued = (lease.queue, lease.job_id, lease.token)
            assert issued not in self.seen_tokens, f"token {lease.token!r} was issued to this job before"
            self.seen_tokens.add(issued)
        pairs = [LeasePair(d, m) for d, m in zip(got, want, strict=True)]
        self.issued += pairs
        event(f"dequeue: {len(pairs)} leased")
        if self.model.deadline_archived:
            event("dequeue: archived a job past its deadline")
        return multiple(*pairs)

    def extend_pairs(self, chosen: list[LeasePair], lease_for: float) -> None:
        now = self.now
        got = self.portal.call(self.broker.extend_leases, [pair.driver for pair in chosen], now, lease_for)
        want = self.model.extend_leases([pair.model for pair in chosen], now, lease_for)
        # Renewal lists the caller's leases, in no order the spec fixes: compare which of
        # the chosen leases each side reported.
        for field in ("lost", "cancelled"):
            assert_same(
                f"extend_leases(...).{field}",
                reported(chosen, getattr(got, field), "driver"),
                reported(chosen, getattr(want, field), "model"),
            )
        event(f"extend_leases: {'some lost' if want.lost else 'all held'}")
        if want.cancelled:
            event("extend_leases: a cancel request reported")

    # ----------------------------------------------------------------- time

    @rule(seconds=s.time_steps())
    def advance_time(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # ----------------------------------------------------------------- enqueue

    @initialize(specs=st.lists(s.job_specs(), min_size=1, max_size=6))
    def start_with_jobs(self, specs: list[s.JobSpec]) -> None:
        """Every example starts with work, so short examples still exercise processing."""
        self.enqueue_specs(specs)

    @rule(specs=st.lists(s.job_specs(), min_size=1, max_size=3))
    def enqueue(self, specs: list[s.JobSpec]) -> None:
        self.enqueue_specs(specs)

    @rule(queue=st.sampled_from(s.QUEUES), job_id=st.none() | st.sampled_from(s.JOB_IDS))
    def enqueue_plain(self, queue: str, job_id: str | None) -> None:
        """A plain due-now job: keeps pending queues fed for the processing rules."""
        self.enqueue_specs([s.JobSpec(queue, "email", job_id=job_id)])

    @precondition(has_feature("dependencies"))
    @rule(data=st.data(), queue=st.sampled_from(s.QUEUES), flow=st.booleans())
    def enqueue_dependent(self, data: st.DataObject, queue: str, flow: bool) -> None:
        """A job waiting for stored jobs of its queue (or for one that does not exist);
        with ``flow``, through ``enqueue_flow`` with a second job waiting for the first."""
        known = sorted(job_id for q, job_id in self.model.known_jobs() if q == queue)
        spec = data.draw(s.dependent_specs(queue, known), label="dependent")
        # a job never names itself (refused before any broker call)
        spec = replace(spec, depends_on=tuple(d for d in spec.depends_on if d != spec.job_id) or (s.NO_SUCH_JOB,))
        now = self.now
        job = spec.build(now, self.fresh_id)
        if not flow:
            for outcome in self.both("enqueue", [job], now):
                event(f"enqueue dependent: {outcome.state or outcome.status}")
            return
        assert job.job_id is not None
        follower = s.JobSpec(queue, "email", depends_on=(job.job_id,), on_dependency_failure="run")
        for outcome in self.both("enqueue_flow", [job, follower.build(now, self.fresh_id)], now):
            event(f"enqueue_flow: {outcome.state or outcome.status}")

    # ----------------------------------------------------------------- processing

    @rule(target=leases, worker=st.sampled_from(s.WORKERS))
    def dequeue_one(self, worker: str) -> Any:
        """One job from any queue for a few seconds: the worker's most common call."""
        return self.lease_jobs(list(s.QUEUES), 5.0, worker, 1)

    @precondition(lambda self: bool(self.held_leases()))
    @rule(data=st.data())
    def settle_held(self, data: st.DataObject) -> None:
        """Settle leases that are still held (most leases in the bundle are stale)."""
        held = data.draw(st.lists(st.sampled_from(self.held_leases()), min_size=1, max_size=3, unique_by=id))
        self.settle_pairs([(pair, data.draw(s.settle_specs())) for pair in held])

    # ----------------------------------------------------------------- maintenance

    @rule(queues=s.queue_orders(), limit=st.sampled_from([1, 2, 1000]))
    def forward_due(self, queues: list[str], limit: int) -> None:
        moved = self.both("forward_due", queues, self.now, limit)
        event(f"forward_due: moved {min(moved, 2)}{' (limit reached)' if moved == limit else ''}")

    @rule(queues=s.queue_orders(), max_crashes=st.integers(0, 2))
    def recover_expired(self, queues: list[str], max_crashes: int) -> None:
        recovery = self.both("recover_expired", queues, self.now, max_crashes)
        event(f"recover_expired: requeued={bool(recovery.requeued)} archived={bool(recovery.archived)}")

    @rule(
        queue=st.sampled_from(s.QUEUES),
        key=st.sampled_from(s.UNIQUE_KEYS),
        unique_for=st.sampled_from(s.UNIQUE_FOR),
        job_id=st.none() | st.sampled_from(s.JOB_IDS),
    )
    def enqueue_unique(self, queue: str, key: str, unique_for: float, job_id: str | None) -> None:
        """A due-now unique job: lock conflicts, releases and expiry come up often."""
        self.enqueue_specs([s.JobSpec(queue, "email", job_id=job_id, unique_for=unique_for, unique_key=key)])

    @rule(
        target=leases,
        queues=s.queue_orders(),
        lease_for=s.short_durations(),
        worker=st.sampled_from(s.WORKERS),
        limit=st.integers(1, 3),
    )
    def dequeue(self, queues: list[str], lease_for: float, worker: str, limit: int) -> Any:
        return self.lease_jobs(queues, lease_for, worker, limit)

    # A lease appears at most once per batch: the spec gives one result per settlement
    # but not the order in which two settlements of one lease would be applied.
    @precondition(has_leases)
    @rule(
        items=st.lists(st.tuples(leases, s.settle_specs()), min_size=1, max_size=3, unique_by=lambda item: id(item[0]))
    )
    def settle(self, items: list[tuple[LeasePair, s.SettleSpec]]) -> None:
        self.settle_pairs(items)

    @precondition(has_leases)
    @rule(chosen=st.lists(leases, min_size=1, max_size=3), lease_for=s.short_durations())
    def extend_leases(self, chosen: list[LeasePair], lease_for: float) -> None:
        self.extend_pairs(chosen, lease_for)

    @rule(pair=leases, result=st.sampled_from(s.RESULTS))
    def write_result(self, pair: LeasePair, result: bytes) -> None:
        got = self.portal.call(self.broker.write_result, pair.driver, result)
        applied = self.model.write_result(pair.model, result)
        assert_same("write_result", got, applied)
        event(f"write_result: {'applied' if applied else 'fenced'}")

    @rule(queues=s.queue_orders(), max_size=st.integers(0, 3), max_age=st.sampled_from([0.0, 60.0, 86_400.0]))
    def purge_expired(self, queues: list[str], max_size: int, max_age: float) -> None:
        deleted = self.both("purge_expired", queues, self.now, max_size, max_age)
        event(f"purge_expired: {'deleted' if deleted else 'nothing'}")

    # ----------------------------------------------------------------- admin

    @precondition(has_feature("admin"))
    @rule(queue=st.sampled_from(s.QUEUES), paused=st.booleans())
    def pause_or_resume(self, queue: str, paused: bool) -> None:
        self.both("pause" if paused else "resume", queue)

    @precondition(lambda self: "testing" in self.features and bool(self.held_leases()))
    @rule(data=st.data())
    def lose_lease(self, data: st.DataObject) -> None:
        """A crash window (the testing interface): a running job loses its lease entry,
        so the next ``recover_expired`` must find it although no lease expired."""
        pair = data.draw(st.sampled_from(self.held_leases()), label="lease")
        got = self.portal.call(cast(BrokerTestHooks, self.broker).lose_lease, pair.driver.queue, pair.driver.job_id)
        assert_same(f"lose_lease({pair!r})", got, self.model.lose_lease(pair.model.queue, pair.model.job_id))
        event("lose_lease")

    # ----------------------------------------------------------------- observation

    def step_probes(self, now: float, touched: Sequence[tuple[str, str]], changed: set[str]) -> list[Probe]:
        """The read-only calls compared after a step: the queue list, the next due time
        and the stats of each queue in ``changed`` (whose jobs the step touched, whose
        own flags it changed, or every queue once time moved), and the snapshot of each
        job in ``touched``. What the model says did not change is compared later."""
        probes: list[Probe] = []
        if touched or changed:
            probes.append(("list_queues", ()))
        if touched:
            probes.append(("next_due", (list(s.QUEUES),)))
        for queue in sorted(changed):
            probes += [("next_due", ([queue],)), ("queue_stats", (queue, now))]
        probes += [("job_info", (queue, job_id, now)) for queue, job_id in touched]
        return probes

    def final_probes(self, now: float) -> list[Probe]:
        """Everything at the end: the queue list, every queue's stats, daily counters and
        next due time, and every job ever seen (payload and result too, or the error
        for a deleted one)."""
        probes: list[Probe] = [("list_queues", ()), ("next_due", (list(s.QUEUES),))]
        for queue in s.QUEUES:
            probes += [("next_due", ([queue],)), ("queue_stats", (queue, now)), ("daily_stats", (queue, 3, now))]
        for queue, job_id in sorted(self.seen_jobs):
            probes += [
                ("job_info", (queue, job_id, now)),
                ("job_payload", (queue, job_id)),
                ("job_result", (queue, job_id)),
            ]
            if "dependencies" in self.features:
                probes += [("job_dependents", (queue, job_id)), ("dependency_results", (queue, job_id))]
        return probes

    @invariant()
    def observations_agree(self) -> None:
        """What a step may have changed, per the model's account of the jobs it touched
        and the queues it changed (``step_probes``). A probe is a pure function of the
        stored state and ``now``, so one the model did not change would show the same
        as last time; a driver that changed it anyway is caught at the queue's next
        probe or at the end."""
        now = self.now
        touched = sorted(self.model.touched)
        changed = {queue for queue, _ in touched} | self.model.changed_queues
        if now != self._observed_at:
            changed.update(s.QUEUES)  # latency and today's counters follow now
            self._observed_at = now
        self.model.touched.clear()
        self.model.changed_queues.clear()
        self.seen_jobs.update(touched)
        probes = self.step_probes(now, touched, changed)
        if probes:
            self.probe(probes)

    @invariant()
    def announcements_agree(self) -> None:
        """Each job that entered completed or archived, or was deleted, during the step
        was announced on its queue once, and nothing else was. Collected after the steps
        that finished a job and at the end (an announcement nobody expected shows then),
        not after every step: a broker round trip per step would double the kit's time."""
        if self.model.finished:
            self.compare_announcements()

    def compare_announcements(self) -> None:
        expected = {
            queue: Counter(job_id for name, job_id in self.model.finished if name == queue) for queue in s.QUEUES
        }
        self.model.finished.clear()
        got = self.portal.call(_collect_finished, self.broker, expected)
        for queue in s.QUEUES:
            assert_same(f"wait_for_finished({queue!r}) announcements", got.get(queue), expected[queue])
            if expected[queue]:
                event("wait_for_finished: jobs announced")

    def kept_without_expiry(self) -> int:
        """How much storage may stay without expiry after the drain: none here."""
        return 0

    def check_hygiene(self) -> None:
        """Storage hygiene (needs ``"testing"`` and ``"admin"``): once every job is
        finished and every queue deleted, nothing that never expires is left beyond the
        fresh broker's storage, whatever path the example's jobs took."""
        if self.baseline is None:
            return
        after = self.portal.call(drained_footprint, self.broker, self.now + DRAIN_AFTER)
        left = grown(self.baseline, after)
        assert sum(left.values()) <= self.kept_without_expiry(), (
            f"storage left without expiry after every job finished and every queue was deleted: {left}"
        )

    def teardown(self) -> None:
        try:
            # Hypothesis calls teardown from a ``finally``: when a step already failed,
            # skip the sweep so that the step's error is the one reported.
            if sys.exc_info()[1] is None:
                self.probe(self.final_probes(self.now))
                self.compare_announcements()
                self.check_hygiene()
        finally:
            self.portal.call(self.broker.close)


class BrokerComparison(Comparison):
    """Enqueue, processing and maintenance, with every option and every stale lease: the
    shared rules alone, so each gets more of an example's steps than in the operations
    machine, which adds its own rules to these."""


def comparison_machine(
    portal: BlockingPortal, open_broker: OpenBroker, machine: type[Comparison] = BrokerComparison
) -> type[Comparison]:
    """``machine`` bound to a running portal and a fresh-broker factory (each example
    opens its own broker, so examples never see each other's jobs)."""
    return type(machine.__name__, (machine,), {"portal": portal, "open_broker": staticmethod(open_broker)})
