"""The second state machine: operator actions, aggregation and coordination.

It makes work with the rules it shares with ``BrokerComparison`` (enqueue, lease,
settle, forward, recover, time) and then acts on it as an operator would: run, archive,
delete and cancel one job or all of a state, delete queues, list jobs and groups. It
stages groups for aggregation, reads, commits and reclaims the staging sets, and runs
operator actions on staged members in between. Apart from the queues it claims keys,
takes rate-limit tokens, keeps heartbeats, records events and per-minute metrics, with
callers' clocks that may run a little behind or ahead.

Staging set IDs are random, so like lease tokens they are paired: each ``StagedPair``
holds the driver's ID and the model's for the same set.

After each step the shared invariant compares what the step may have changed (this
machine adds the group sizes when the model's changed); rules that only read change
nothing the model can see, so they cost no probes. The end of each example compares
everything, every page of every state's listing included.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, initialize, multiple, precondition, rule

from queue_conformance import strategies as s
from queue_conformance.compare import Raised, assert_same, capture, capture_sync
from queue_conformance.machine import Comparison, Probe, has_feature
from queue_conformance.reports import server_report_problems
from queue_core import JobState, QueueNotFound, Unsupported

PAGE_ALL = 1000
AGGREGATING = JobState.AGGREGATING


@dataclass(frozen=True)
class StagedPair:
    """The same staging set as the driver and the model named it (their IDs differ)."""

    queue: str
    group: str
    driver: str
    model: str

    def __repr__(self) -> str:
        return f"<staged {self.queue}/{self.group} {self.model}>"


class OperationsComparison(Comparison):
    """Operator actions, aggregation and coordination against the reference model."""

    #: every staging set ever made; most end committed or reclaimed, so go stale.
    staged = Bundle("staged")

    def __init__(self) -> None:
        super().__init__()
        self._events = itertools.count(1)
        #: the model's group sizes per queue when last compared.
        self._groups_seen: dict[str, object] = {}

    def pick_job(self, data: st.DataObject) -> tuple[str, str]:
        """A job to act on: mostly one that is stored, else one deleted since, an ID
        nobody used, or a queue nobody enqueued to."""
        stored = sorted(self.model.known_jobs())
        gone = sorted(self.seen_jobs - set(stored))
        choices: list[st.SearchStrategy[tuple[str, str]]] = [st.sampled_from(stored)] * 4 if stored else []
        if gone:
            choices.append(st.sampled_from(gone))
        choices.append(st.sampled_from([(s.QUEUES[0], "nobody"), (s.NOWHERE, s.JOB_IDS[0])]))
        picked: tuple[str, str] = data.draw(st.one_of(*choices), label="job")
        return picked

    def pick_group(self, data: st.DataObject) -> tuple[str, str]:
        """A group to check: mostly one with members, else any pooled one."""
        pooled = [(queue, group) for queue in s.QUEUES for group in s.GROUPS]
        filled = [(queue, group) for queue, group in pooled if self.model.group_size(queue, group)]
        choices = [st.sampled_from(filled)] * 3 if filled else []
        picked: tuple[str, str] = data.draw(st.one_of(*choices, st.sampled_from(pooled)), label="group")
        return picked

    # ----------------------------------------------------------------- work

    @initialize(members=st.lists(st.tuples(st.sampled_from(s.QUEUES), st.sampled_from(s.GROUPS)), max_size=4))
    def start_with_groups(self, members: list[tuple[str, str]]) -> None:
        """Most examples start with group members too, so aggregation has work."""
        if members:
            self.enqueue_specs([s.JobSpec(queue, "email", group=group) for queue, group in members])

    @rule(
        queue=st.sampled_from(s.QUEUES),
        group=st.sampled_from(s.GROUPS),
        job_id=st.none() | st.sampled_from(s.JOB_IDS),
    )
    def enqueue_grouped(self, queue: str, group: str, job_id: str | None) -> None:
        """A due-now job with a group: keeps groups fed for the aggregation rules."""
        self.enqueue_specs([s.JobSpec(queue, "email", job_id=job_id, group=group)])

    @precondition(lambda self: bool(self.held_leases()))
    @rule(data=st.data(), lease_for=s.short_durations())
    def extend_held(self, data: st.DataObject, lease_for: float) -> None:
        """Renew held leases (and a stale one at times): cancel requests show here."""
        held = data.draw(st.lists(st.sampled_from(self.held_leases()), min_size=1, max_size=3, unique_by=id))
        with_any: bool = data.draw(st.booleans(), label="with any lease")
        if with_any:  # the held leases were issued, so there is one to pick
            held.append(data.draw(st.sampled_from(self.issued), label="any lease"))
        self.extend_pairs(list({id(pair): pair for pair in held}.values()), lease_for)

    # ----------------------------------------------------------------- admin

    @precondition(has_feature("admin"))
    @rule(data=st.data(), action=st.sampled_from(sorted(s.JOB_ACTIONS)))
    def act_on_job(self, data: st.DataObject, action: str) -> None:
        queue, job_id = self.pick_job(data)
        former = self.both(s.JOB_ACTIONS[action], queue, job_id, self.now)
        event(f"{action} one job: {former if isinstance(former, Raised) else f'was {former}'}")

    @precondition(lambda self: "admin" in self.features and bool(self.held_leases()))
    @rule(data=st.data())
    def cancel_held(self, data: st.DataObject) -> None:
        """Cancel a job that is running (most picked jobs are not): its worker's next
        renewal reports it."""
        pair = data.draw(st.sampled_from(self.held_leases()), label="lease")
        self.both("request_cancel", pair.model.queue, pair.model.job_id, self.now)

    @precondition(has_feature("admin"))
    @rule(
        action=st.sampled_from(s.BULK_ACTIONS),
        queue=s.operation_queues(),
        state=st.sampled_from(JobState),
        group=s.group_choices(),
    )
    def act_on_all(self, action: str, queue: str, state: JobState, group: str | None) -> None:
        moved = self.both(f"{action}_all", queue, state, self.now, group)
        event(f"{action} all: {moved if isinstance(moved, Raised) else min(moved, 2)}")

    # Forced deletion wipes a queue: drawn one time in four, so queues live long enough.
    @precondition(has_feature("admin"))
    @rule(queue=s.operation_queues(), force=st.sampled_from([False, False, False, True]))
    def delete_queue(self, queue: str, force: bool) -> None:
        outcome = self.both("delete_queue", queue, force)
        event(f"delete_queue(force={force}): {outcome or 'deleted'}")

    @precondition(has_feature("admin"))
    @rule(queue=s.operation_queues(), paused=st.booleans())
    def pause_or_resume(self, queue: str, paused: bool) -> None:
        self.both("pause" if paused else "resume", queue)

    # ----------------------------------------------------------------- inspection

    @rule(
        queue=s.operation_queues(),
        state=st.sampled_from(JobState),
        page=st.integers(1, 3),
        page_size=st.integers(1, 3),
        group=s.group_choices(),
    )
    def list_jobs(self, queue: str, state: JobState, page: int, page_size: int, group: str | None) -> None:
        listed = self.both("list_jobs", queue, state, page, page_size, self.now, group)
        event(f"list_jobs: {listed if isinstance(listed, Raised) else min(len(listed), 2)}")

    @rule(queue=s.operation_queues())
    def server_reports(self, queue: str) -> None:
        """memory_usage and server_info are the driver's own figures: only their form,
        and memory_usage's errors, are compared."""
        problems = server_report_problems(self.portal.call(self.broker.server_info))
        assert not problems, "; ".join(problems)
        usage = self.portal.call(capture, self.broker.memory_usage, queue)
        if not self.broker.capabilities.memory_usage:
            assert usage == Raised(Unsupported), f"memory_usage without the capability: {usage!r}"
        elif queue not in self.model.list_queues():
            assert usage == Raised(QueueNotFound), f"memory_usage of an unknown queue: {usage!r}"
        else:
            assert isinstance(usage, int) and usage >= 0, f"memory_usage({queue!r}) should be bytes, got {usage!r}"

    # ----------------------------------------------------------------- aggregation

    @precondition(has_feature("aggregation"))
    @rule(queue=s.operation_queues())
    def list_groups(self, queue: str) -> None:
        self.both("list_groups", queue)

    @precondition(has_feature("aggregation"))
    @rule(target=staged, data=st.data(), policy=s.aggregation_specs())
    def aggregation_check(self, data: st.DataObject, policy: s.AggregationSpec) -> Any:
        now = self.now
        queue, group = self.pick_group(data)
        args = (queue, group, now, policy.grace, policy.max_delay, policy.max_size, policy.stage_for)
        got = self.portal.call(capture, self.broker.aggregation_check, *args)
        want = self.model.aggregation_check(*args)
        assert_same(f"aggregation_check{args!r} staged a set", got is not None, want is not None)
        if want is None:
            event("aggregation_check: not ready")
            return multiple()
        assert isinstance(got, str) and got, f"a staging set ID should be a non-empty str, got {got!r}"
        event("aggregation_check: staged")
        return StagedPair(queue, group, got, want)

    def _group_of(self, pair: StagedPair, other_group: bool) -> str:
        return next(g for g in s.GROUPS if g != pair.group) if other_group else pair.group

    @precondition(has_feature("aggregation"))
    @rule(pair=staged, other_group=st.booleans())
    def read_staged(self, pair: StagedPair, other_group: bool) -> None:
        group = self._group_of(pair, other_group)
        got = self.portal.call(capture, self.broker.read_staged, pair.queue, group, pair.driver)
        want = self.model.read_staged(pair.queue, group, pair.model)
        assert_same(f"read_staged({pair!r}, group={group!r})", got, want)
        event(f"read_staged: {min(len(want), 2)} members")

    @precondition(has_feature("aggregation"))
    @rule(pair=staged, spec=s.job_specs(), other_group=st.booleans())
    def commit_staged(self, pair: StagedPair, spec: s.JobSpec, other_group: bool) -> None:
        now = self.now
        group = self._group_of(pair, other_group)
        job = spec.build(now, self.fresh_id)
        got = self.portal.call(capture, self.broker.commit_staged, pair.queue, group, pair.driver, job, now)
        want = self.model.commit_staged(pair.queue, group, pair.model, job, now)
        assert_same(f"commit_staged({pair!r}, group={group!r}, {job!r})", got, want)
        event(f"commit_staged: {want.status}")

    @precondition(has_feature("aggregation"))
    @rule(queue=s.operation_queues())
    def reclaim_staged(self, queue: str) -> None:
        returned = self.both("reclaim_staged", queue, self.now)
        event(f"reclaim_staged: {min(returned, 2)} members back")

    # ----------------------------------------------------------------- coordination

    @precondition(has_feature("coordination"))
    @rule(key=st.sampled_from(s.CLAIM_KEYS), ttl=s.coordination_ttls(), skew=s.skews())
    def claim(self, key: str, ttl: float, skew: float) -> None:
        won = self.both("claim", key, self.now + skew, ttl)
        event(f"claim: {'won' if won else 'held'}")

    @precondition(has_feature("coordination"))
    @rule(
        key=st.sampled_from(s.BUCKETS),
        rate=st.sampled_from(s.RATES),
        burst=st.sampled_from(s.BURSTS),
        skew=s.skews(),
    )
    def take_tokens(self, key: str, rate: float, burst: int, skew: float) -> None:
        wait = self.both("take_tokens", key, rate, burst, self.now + skew)
        event(f"take_tokens: {'taken' if wait == 0 else 'wait'}")

    @precondition(has_feature("coordination"))
    @rule(
        kind=st.sampled_from(s.KINDS),
        member=st.sampled_from(s.MEMBERS),
        info=st.sampled_from(s.INFOS),
        ttl=s.coordination_ttls(),
    )
    def put_heartbeat(self, kind: str, member: str, info: bytes, ttl: float) -> None:
        self.both("put_heartbeat", kind, member, info, self.now, ttl)

    @precondition(has_feature("coordination"))
    @rule(kind=st.sampled_from(s.KINDS), member=st.sampled_from(s.MEMBERS))
    def remove_heartbeat(self, kind: str, member: str) -> None:
        self.both("remove_heartbeat", kind, member)

    @precondition(has_feature("coordination"))
    @rule(kind=st.sampled_from(s.KINDS))
    def list_heartbeats(self, kind: str) -> None:
        live = self.both("list_heartbeats", kind, self.now)
        event(f"list_heartbeats: {min(len(live), 2)} live")

    @precondition(has_feature("coordination"))
    @rule(stream=st.sampled_from(s.STREAMS), keep=st.integers(0, 3), skew=s.skews())
    def record_event(self, stream: str, keep: int, skew: float) -> None:
        # Events are unique bytes (the protocol's word); the counter makes them so.
        self.both("record_event", stream, f"e{next(self._events)}".encode(), self.now + skew, keep)

    @precondition(has_feature("coordination"))
    @rule(stream=st.sampled_from(s.STREAMS), limit=st.integers(0, 4))
    def list_events(self, stream: str, limit: int) -> None:
        self.both("list_events", stream, limit)

    # ----------------------------------------------------------------- metrics history

    @precondition(has_feature("metrics"))
    @rule(
        samples=st.lists(s.minute_metrics(), min_size=1, max_size=4),
        keep=st.sampled_from(s.METRIC_KEEPS),
        skew=s.skews(),
    )
    def record_metrics(self, samples: list[Any], keep: float, skew: float) -> None:
        self.both("record_metrics", samples, self.now + skew, keep)

    @precondition(has_feature("metrics"))
    @rule(
        queue=st.sampled_from(s.QUEUES),
        since=st.sampled_from(s.METRIC_MINUTES),
        span=st.integers(0, 3),
    )
    def read_metrics(self, queue: str, since: int, span: int) -> None:
        found = self.both("read_metrics", queue, since, since + 60 * span, self.now)
        event(f"read_metrics: {min(len(found), 2)} found")

    # ----------------------------------------------------------------- observation

    def kept_without_expiry(self) -> int:
        """Event histories belong to their schedules and have no delete: what the model
        keeps of them may stay (one unit per event is the most any storage needs)."""
        return sum(len(events) for events in self.model.events.values())

    def step_probes(self, now: float, touched: Sequence[tuple[str, str]], changed: set[str]) -> list[Probe]:
        probes = super().step_probes(now, touched, changed)
        if "aggregation" in self.features:
            # Group sizes: when the model's changed (queue_stats compares their sum).
            for queue in sorted(changed):
                groups = capture_sync(self.model.list_groups, queue)
                if self._groups_seen.get(queue) != groups:
                    self._groups_seen[queue] = groups
                    probes.append(("list_groups", (queue,)))
        return probes

    def final_probes(self, now: float) -> list[Probe]:
        probes = super().final_probes(now)
        for queue in s.QUEUES:
            probes += [
                ("list_jobs", (queue, state, 1, PAGE_ALL, now)) for state in JobState if state is not AGGREGATING
            ]
            probes += [("list_jobs", (queue, AGGREGATING, 1, PAGE_ALL, now, group)) for group in s.GROUPS]
        if "aggregation" in self.features:
            probes += [("list_groups", (queue,)) for queue in s.QUEUES]
        if "coordination" in self.features:
            probes += [("list_heartbeats", (kind, now)) for kind in s.KINDS]
            probes += [("list_events", (stream, PAGE_ALL)) for stream in s.STREAMS]
        if "metrics" in self.features:
            first, last = s.METRIC_MINUTES[0], s.METRIC_MINUTES[-1]
            probes += [("read_metrics", (queue, first, last, now)) for queue in s.QUEUES]
        return probes
