"""Hypothesis strategies: valid jobs, settlements, time steps, and invalid job arguments.

The state machine draws from small pools (a few queues, job IDs, unique keys, groups and
payloads) so that the interesting collisions happen often: ID conflicts, duplicate
unique jobs, several jobs due at once.

Every time and duration is a multiple of ``TICK`` (1/8 s): sub-second, yet exact in
binary floating point and in a 14-digit decimal rendering (what Lua's ``tostring``
produces), so a driver that keeps millisecond precision reproduces the model's times
exactly and boundaries such as ``deadline == now`` are hit deterministically.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from queue_core import HISTOGRAM_SLOTS, Job, Lease, MinuteMetrics, Settlement, ValidationError, errors

TICK = 0.125
#: 16 minutes 40 s before a UTC midnight, so large time steps cross into a new day.
START = 1_750_031_000.0

QUEUES = ("critical", "default")
TYPES = ("email", "resize")
JOB_IDS = ("j1", "j2", "j3")
UNIQUE_KEYS = ("k1", "k2")
UNIQUE_FOR = (0.5, 5.0, 60.0, 3600.0)
GROUPS = ("g1", "g2")
PAYLOADS = (b"", b"1", b'{"n":2}')
RESULTS = (b"", b"ok", b"\x00\xff")
WORKERS = ("w1", "w2")
ERRORS = ("boom", "timeout")
POLICIES = ("cancel", "run", "wait")
#: a dependency nobody enqueued: DEPENDENCY_MISSING, nothing written.
NO_SUCH_JOB = "j-none"


def ticks(low: float, high: float) -> st.SearchStrategy[float]:
    """Multiples of ``TICK`` from ``low`` to ``high`` inclusive."""
    return st.integers(math.ceil(low / TICK), math.floor(high / TICK)).map(lambda n: n * TICK)


#: Durations the pools use elsewhere (lease lengths, lock and retention times, archive
#: ages), so a time step often lands exactly on a boundary.
LANDMARKS = (0.125, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 3600.0, 86_400.0)


def time_steps() -> st.SearchStrategy[float]:
    """How far the clock moves in one step: not at all, exactly a landmark duration, a
    little, or far past leases, retention and schedules (up to two UTC days)."""
    return st.one_of(
        st.just(0.0),
        st.sampled_from(LANDMARKS),
        ticks(TICK, 10),
        ticks(10, 90),
        ticks(90, 2 * 86_400),
    )


def short_durations() -> st.SearchStrategy[float]:
    """Lease lengths and the like: sub-second to a minute."""
    return st.one_of(st.sampled_from([0.125, 1.0, 5.0, 30.0, 60.0]), ticks(TICK, 60))


def offsets() -> st.SearchStrategy[float]:
    """A time relative to now, for schedule_at, deadlines and retry_at: in the past,
    exactly now, soon, or later."""
    return st.one_of(st.sampled_from([0.0, -5.0, 0.5, 30.0]), ticks(-60, 3600))


def queue_orders() -> st.SearchStrategy[list[str]]:
    """A non-empty ordered selection of the pool's queues, as ``dequeue`` takes it."""
    return st.lists(st.sampled_from(QUEUES), min_size=1, max_size=len(QUEUES), unique=True)


# --------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class JobSpec:
    """A job to enqueue, with times relative to the moment it is enqueued.

    ``job_id=None`` means "a fresh ID": the machine supplies one, so pooled IDs collide
    and fresh ones never do.
    """

    queue: str
    type: str
    payload: bytes = b""
    job_id: str | None = None
    max_retries: int = 3
    delay: float | None = None
    schedule_in: float | None = None
    deadline_in: float | None = None
    timeout: float | None = None
    retention: float = 0.0
    unique_for: float | None = None
    unique_key: str | None = None
    group: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    on_dependency_failure: str = "cancel"

    def build(self, now: float, fresh_id: Callable[[], str]) -> Job:
        return Job(
            type=self.type,
            payload=self.payload,
            queue=self.queue,
            job_id=self.job_id if self.job_id is not None else fresh_id(),
            max_retries=self.max_retries,
            delay=self.delay,
            schedule_at=None if self.schedule_in is None else now + self.schedule_in,
            deadline=None if self.deadline_in is None else now + self.deadline_in,
            timeout=self.timeout,
            retention=self.retention,
            unique_for=self.unique_for,
            unique_key=self.unique_key if self.unique_for is not None else None,
            group=self.group,
            headers=self.headers,
            depends_on=self.depends_on,
            on_dependency_failure=self.on_dependency_failure,
        )


def occasionally(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``None`` three times in four, else a value of ``strategy``: most pooled jobs stay
    plain and due now, so queues have pending work for the processing rules."""
    return st.one_of(st.none(), st.none(), st.none(), strategy)


def job_specs(queues: tuple[str, ...] = QUEUES) -> st.SearchStrategy[JobSpec]:
    """Pooled jobs for the state machine (``None`` first, so examples shrink to plain jobs)."""
    return st.builds(
        JobSpec,
        queue=st.sampled_from(queues),
        type=st.sampled_from(TYPES),
        payload=st.sampled_from(PAYLOADS),
        job_id=st.none() | st.sampled_from(JOB_IDS),
        max_retries=st.sampled_from([0, 1, 3, 25]),
        delay=occasionally(st.just(0.0) | short_durations()),
        schedule_in=occasionally(offsets()),
        deadline_in=occasionally(offsets()),
        timeout=st.none() | short_durations(),
        retention=st.just(0.0) | st.sampled_from([1.0, 60.0, 3600.0]) | short_durations(),
        unique_for=st.none() | st.none() | st.sampled_from([0.5, 5.0, 60.0, 3600.0]),
        unique_key=st.none() | st.sampled_from(UNIQUE_KEYS),
        group=occasionally(st.sampled_from(GROUPS)),
        headers=st.just({}) | st.just({"trace": "t-1"}),
    )


_NAME_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-"
_names = st.text(_NAME_ALPHABET, min_size=1, max_size=40).filter(lambda s: s[0].isalnum())
_printable = st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=1, max_size=30).filter(str.isprintable)


def valid_jobs() -> st.SearchStrategy[Job]:
    """Any job a driver must store and give back unchanged: arbitrary payload bytes,
    unicode types and headers, every due-now option (no group, so it goes pending)."""
    return st.builds(
        Job,
        type=_printable,
        payload=st.binary(max_size=64),
        queue=_names,
        job_id=st.text(_NAME_ALPHABET, min_size=1, max_size=40),
        max_retries=st.integers(0, 100),
        timeout=st.none() | ticks(TICK, 3600),
        deadline=st.none() | ticks(START + 1, START + 86_400),
        retention=st.just(0.0) | ticks(TICK, 86_400),
        unique_for=st.none() | ticks(TICK, 3600),
        headers=st.dictionaries(_printable, st.text(max_size=20), max_size=4),
    )


# --------------------------------------------------------------------------- settlements


@dataclass(frozen=True)
class SettleSpec:
    """How to end an attempt, independent of which lease it is applied to."""

    kind: str
    error: str = "boom"
    retry_in: float = 0.0
    counts_as_failure: bool = True
    result: bytes | None = None
    release_unique: bool = False
    traceback: str | None = None

    def build(self, lease: Lease, now: float) -> Settlement:
        if self.kind == "complete":
            return Settlement.complete(lease, result=self.result)
        if self.kind == "retry":
            return Settlement.retry(
                lease,
                now + self.retry_in,
                self.error,
                counts_as_failure=self.counts_as_failure,
                traceback=self.traceback,
            )
        if self.kind == "archive":
            return Settlement.archive(lease, self.error, release_unique=self.release_unique, traceback=self.traceback)
        if self.kind == "requeue":
            return Settlement.requeue(lease)
        return Settlement.revoke(lease)


def settle_specs() -> st.SearchStrategy[SettleSpec]:
    errors_ = st.sampled_from(ERRORS)
    tracebacks = st.none() | st.just('Traceback (most recent call last):\n  File "h.py", line 1\nValueError: boom\n')
    return st.one_of(
        st.builds(SettleSpec, kind=st.just("complete"), result=st.none() | st.sampled_from(RESULTS)),
        st.builds(
            SettleSpec,
            kind=st.just("retry"),
            error=errors_,
            retry_in=st.sampled_from([0.0, 1.0]) | ticks(-5, 600),
            counts_as_failure=st.booleans(),
            traceback=tracebacks,
        ),
        st.builds(
            SettleSpec, kind=st.just("archive"), error=errors_, release_unique=st.booleans(), traceback=tracebacks
        ),
        st.builds(SettleSpec, kind=st.just("requeue")),
        st.builds(SettleSpec, kind=st.just("revoke")),
    )


# --------------------------------------------------------------------------- operations

#: A queue nobody enqueues to, so operator actions meet ``QueueNotFound`` too.
NOWHERE = "nowhere"
OPERATION_QUEUES = (*QUEUES, NOWHERE)
#: Operator actions on one job, by the Broker method that does each.
JOB_ACTIONS = {"run": "run_job", "archive": "archive_job", "delete": "delete_job", "cancel": "request_cancel"}
BULK_ACTIONS = ("run", "archive", "delete")
CLAIM_KEYS = ("tick-1", "tick-2")
BUCKETS = ("api", "db")
#: Powers of two: refills of 1/8 s steps stay exact in binary and in Lua's 14 digits.
RATES = (0.5, 1.0, 2.0, 4.0)
BURSTS = (1, 2, 3)
KINDS = ("worker", "scheduler")
MEMBERS = ("m1", "m2")
INFOS = (b"", b"up", b'{"jobs":1}')
STREAMS = ("s1", "s2")


def operation_queues() -> st.SearchStrategy[str]:
    """Mostly a pooled queue, at times one nobody enqueued to."""
    return st.sampled_from((*QUEUES, *QUEUES, *QUEUES, NOWHERE))


def group_choices() -> st.SearchStrategy[str | None]:
    """A group for a bulk action or a listing: a pooled one, none, or empty (refused
    for aggregating jobs, ignored for others)."""
    return st.one_of(st.sampled_from(GROUPS), st.sampled_from([None, ""]))


#: Metrics: minutes around the machine's start (a multiple of 60), and how long kept.
METRIC_MINUTES = tuple(int(START // 60) * 60 + 60 * offset for offset in (-1, 0, 1, 2))
METRIC_KEEPS = (30.0, 90.0, 3600.0)


@st.composite
def minute_metrics(draw: st.DrawFn) -> MinuteMetrics:
    """One sample of a worker's counts: a pooled queue, type and minute, small counts."""
    processed = draw(st.integers(0, 3))
    return MinuteMetrics(
        queue=draw(st.sampled_from(QUEUES)),
        job_type=draw(st.sampled_from(TYPES)),
        minute=draw(st.sampled_from(METRIC_MINUTES)),
        processed=processed,
        failed=draw(st.integers(0, processed)),
        runtime_us=draw(st.integers(0, 5_000_000)),
        histogram=tuple(draw(st.lists(st.integers(0, 2), min_size=HISTOGRAM_SLOTS, max_size=HISTOGRAM_SLOTS))),
    )


def skews() -> st.SearchStrategy[float]:
    """How far another caller's clock is from the machine's: mostly on time, sometimes
    behind (a clock that went back) or ahead."""
    return st.sampled_from([0.0, 0.0, 0.0, -1.0, -5.0, 0.5, 1.0])


def coordination_ttls() -> st.SearchStrategy[float]:
    """Claim and heartbeat lifetimes: the landmark durations, so expiry lands on a step."""
    return st.sampled_from([0.125, 1.0, 5.0, 30.0, 60.0])


@dataclass(frozen=True)
class AggregationSpec:
    """The policy arguments of one ``aggregation_check``."""

    grace: float
    max_delay: float | None
    max_size: int | None
    stage_for: float


def aggregation_specs() -> st.SearchStrategy[AggregationSpec]:
    """Policies a worker's aggregator may pass (grace >= 1 s, max_size >= 1), with
    durations among the time steps' landmarks so readiness and deadlines hit boundaries."""
    return st.builds(
        AggregationSpec,
        grace=st.sampled_from([1.0, 5.0, 30.0]),
        max_delay=st.none() | st.sampled_from([5.0, 60.0]),
        max_size=st.sampled_from([None, 1, 2, 3]),
        stage_for=st.sampled_from([1.0, 5.0, 30.0, 60.0]),
    )


# --------------------------------------------------------------------------- invalid input


@dataclass(frozen=True)
class InvalidInput:
    """Job arguments that must be refused with ``error`` naming ``field``."""

    field: str
    arguments: dict[str, Any]
    error: type[ValidationError]

    def build(self) -> Job:
        return Job(**{"type": "t", **self.arguments})


def _with_brace(name: str, brace: str, at: int) -> str:
    at = at % (len(name) + 1)
    return name[:at] + brace + name[at:]


def _bad_names() -> st.SearchStrategy[object]:
    """Names that must never reach a storage key: braces anywhere, empty, a leading
    symbol, characters outside the safe set, too long, not a string."""
    return st.one_of(
        st.builds(_with_brace, _names, st.sampled_from("{}"), st.integers(0, 40)),
        st.sampled_from(["", "-q", "_q", ".q", "a b", "q/1", "café", "x" * 129, "q\n"]),
        st.sampled_from([None, 7, b"q"]),
    )


def _bad_ids() -> st.SearchStrategy[object]:
    return st.one_of(
        st.builds(_with_brace, _names, st.sampled_from("{}"), st.integers(0, 40)),
        st.sampled_from(["", "a b", "id/1", "x" * 129, 7]),
    )


def _case(field_: str, error: type[ValidationError], values: st.SearchStrategy[Any], **extra: Any) -> Any:
    return values.map(lambda value: InvalidInput(field_, {field_: value, **extra}, error))


def invalid_inputs() -> st.SearchStrategy[InvalidInput]:
    """One bad argument at a time, with the ``ValidationError`` subclass it must raise."""
    negative = st.floats(max_value=-TICK, allow_nan=False, allow_infinity=False)
    not_finite = st.sampled_from([math.nan, math.inf, -math.inf])
    not_a_number = st.sampled_from(["5", True, None, [1]])
    naive = st.just(datetime(2030, 1, 1))
    return st.one_of(
        _case("type", errors.InvalidJobType, st.sampled_from(["", "a\nb", "\x00", "x" * 257, 5, None])),
        _case("queue", errors.InvalidQueueName, _bad_names()),
        _case("job_id", errors.InvalidJobId, _bad_ids()),
        _case("group", errors.InvalidGroupName, _bad_names().filter(lambda v: v is not None)),
        _case("payload", errors.InvalidPayload, st.sampled_from(["text", 5, None, [1]])),
        _case(
            "headers",
            errors.InvalidHeaders,
            st.sampled_from([{"": "v"}, {"k": 1}, {1: "v"}, ["k", "v"], {f"h{i}": "v" for i in range(65)}]),
        ),
        _case("max_retries", errors.InvalidMaxRetries, st.integers(max_value=-1) | st.sampled_from([True, 1.5, "3"])),
        _case("delay", errors.InvalidSchedule, negative | not_finite | not_a_number.filter(lambda v: v is not None)),
        _case("schedule_at", errors.InvalidSchedule, negative | not_finite | naive),
        _case("deadline", errors.InvalidDeadline, negative | not_finite | naive),
        _case("timeout", errors.InvalidTimeout, negative | not_finite | st.just(0)),
        _case("retention", errors.InvalidRetention, negative | not_finite | st.sampled_from(["1", None])),
        _case("unique_for", errors.InvalidUniqueOption, negative | not_finite | st.just(0)),
        _case("unique_key", errors.InvalidUniqueOption, st.sampled_from(["", "k\n", "k" * 257]), unique_for=5.0),
        # A unique key alone does nothing without a lock duration: refused, not ignored.
        _case("unique_key", errors.InvalidUniqueOption, st.just("k1")),
    )


# --------------------------------------------------------------------------- dependencies


def dependent_specs(queue: str, known: Sequence[str]) -> st.SearchStrategy[JobSpec]:
    """A job of ``queue`` waiting for some of ``known`` (that queue's stored jobs), at
    times for a job that does not exist, with a policy, maybe a delay and retention."""
    pool = [*known, NO_SUCH_JOB] if known else [NO_SUCH_JOB]
    return st.builds(
        JobSpec,
        queue=st.just(queue),
        type=st.sampled_from(TYPES),
        payload=st.sampled_from(PAYLOADS),
        job_id=st.none() | st.sampled_from(JOB_IDS),
        max_retries=st.integers(0, 2),
        schedule_in=st.none() | st.sampled_from([0.0, 30.0]),
        retention=st.sampled_from([0.0, 60.0]),
        depends_on=st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True).map(tuple),
        on_dependency_failure=st.sampled_from(POLICIES),
    )
