"""Group aggregation: many small jobs of one group become one job.

A job enqueued with ``group=`` waits in that group of its queue (state ``aggregating``).
An ``Aggregator`` watches the groups of its queues; when a group is ready it hands the
members to your ``aggregate(group, members)`` and enqueues the job that returns into the
same queue, in place of the members::

    def digest(group: str, members: list[GroupMember]) -> Job:
        lines = [member.decode(dict)["text"] for member in members]
        return Job.create("email.digest", {"user": group, "lines": lines})

    aggregator = Aggregator(broker, ["notifications"], digest, grace=30, max_size=100)
    async with anyio.create_task_group() as tg:
        await tg.start(aggregator.run)

A group is ready when it holds ``max_size`` members (the oldest ``max_size`` go), when
its oldest member has waited ``max_delay``, or when its newest member has waited
``grace`` (nothing joined for that long).

**Crash safety.** The members of a ready group first move to a *staging set* that
expires ``stage_for`` seconds later; the aggregate job is then enqueued and the members
deleted in one atomic broker call (``commit_staged``). A process that dies in between
loses nothing: once the set has expired, the next pass of any aggregator (and any
worker's recovery loop, through ``reclaim_staging``) gives the members back to their
group. A set that was given back can no longer be committed, so each staged set
yields at most one aggregate job and no member ends up in two.
"""

from __future__ import annotations

import builtins
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypedDict, TypeVar, Unpack, overload

import anyio
from anyio.abc import TaskStatus

from queue_core import validation
from queue_core.broker import AggregationBroker, EnqueueStatus, JobRecord
from queue_core.clock import Clock, SystemClock
from queue_core.errors import InvalidAggregationOption, QueueError, QueueNotFound, Unsupported
from queue_core.events import LOGGER_NAME
from queue_core.job import Job
from queue_core.serialization import JSON, Serializer

# decode() must convert exactly as Delivery.decode does; one converter serves both.
from queue_core.worker.delivery import _convert

T = TypeVar("T")

DEFAULT_GRACE = 60.0
MIN_GRACE = 1.0
DEFAULT_STAGE_FOR = 120.0
MAX_CHECK_INTERVAL = 7.0
#: staged sets one group yields per pass; a group far above ``max_size`` drains over
#: several passes instead of starving the other groups.
MAX_SETS_PER_GROUP = 100


class GroupMember:
    """One job of a staged group, as ``aggregate`` receives it (read-only)."""

    __slots__ = ("_serializer", "record")

    def __init__(self, record: JobRecord, serializer: Serializer = JSON) -> None:
        #: the stored job, with every field the broker keeps.
        self.record = record
        self._serializer = serializer

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def type(self) -> str:
        return self.record.type

    @property
    def queue(self) -> str:
        return self.record.queue

    @property
    def group(self) -> str | None:
        return self.record.group

    @property
    def headers(self) -> Mapping[str, str]:
        return self.record.headers

    @property
    def payload(self) -> bytes:
        """The payload bytes exactly as stored."""
        return self.record.payload

    @property
    def enqueued_at(self) -> float:
        return self.record.enqueued_at

    @overload
    def decode(self) -> Any: ...

    @overload
    def decode(self, into: builtins.type[T]) -> T: ...

    def decode(self, into: builtins.type[Any] | None = None) -> Any:
        """The payload decoded by the aggregator's serializer; with ``into`` (a dataclass
        or one of ``str, int, float, bool, list, dict``), checked and converted as
        ``Delivery.decode`` does. Raises ``SerializationError`` on a mismatch."""
        value = self._serializer.loads(self.record.payload)
        return value if into is None else _convert(value, into, "payload")

    def __repr__(self) -> str:
        return f"<GroupMember {self.type} id={self.id} queue={self.queue} group={self.group}>"


class AggregationSettings(TypedDict, total=False):
    """``AggregationPolicy``'s options as keyword arguments of ``Aggregator(...)``."""

    grace: float | timedelta
    max_delay: float | timedelta | None
    max_size: int | None
    stage_for: float | timedelta
    check_interval: float | timedelta | None


#: ``aggregate(group, members) -> Job``, plain or async. ``members`` are oldest first.
AggregateFunction = Callable[[str, list[GroupMember]], Job | Awaitable[Job]]


@dataclass(frozen=True, slots=True)
class AggregationPolicy:
    """When groups are ready and what they become; validated on construction.

    A ``Worker`` can take one of these (it has no broker yet when it is built) and turn it
    into an ``Aggregator`` with ``Aggregator.from_policy`` once its broker is open.

    - ``aggregate(group, members) -> Job``: a plain function runs on a worker thread, an
      async one on the event loop. Called at most once per staged set that commits.
    - ``grace``: a group is ready once its newest member has waited this long (>= 1 s).
    - ``max_delay``: ... or once its oldest member has waited this long (None: no limit).
    - ``max_size``: ... or once it holds this many members; the oldest ``max_size`` go.
    - ``stage_for``: how long a staged set may take to become a job before it is given
      back to its group; ``aggregate`` is abandoned when it runs past this.
    - ``check_interval``: seconds between passes (default ``min(7, grace)``).
    """

    aggregate: AggregateFunction
    grace: float = DEFAULT_GRACE
    max_delay: float | None = None
    max_size: int | None = None
    stage_for: float = DEFAULT_STAGE_FOR
    check_interval: float | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not callable(self.aggregate):
            raise InvalidAggregationOption("aggregate", self.aggregate, "a callable (group, members) -> Job")
        grace = _seconds("grace", self.grace)
        if grace < MIN_GRACE:
            raise InvalidAggregationOption("grace", self.grace, f"at least {MIN_GRACE:g} second (or a timedelta)")
        set_(self, "grace", grace)
        if self.max_delay is not None:
            set_(self, "max_delay", _seconds("max_delay", self.max_delay))
        size = self.max_size
        if size is not None and (not validation.is_int(size) or size < 1):
            raise InvalidAggregationOption("max_size", size, "an integer >= 1, or None for no limit")
        set_(self, "stage_for", _seconds("stage_for", self.stage_for))
        if self.check_interval is not None:
            set_(self, "check_interval", _seconds("check_interval", self.check_interval))

    @property
    def interval(self) -> float:
        """Seconds between two passes."""
        return self.check_interval if self.check_interval is not None else min(MAX_CHECK_INTERVAL, self.grace)


@dataclass(frozen=True, slots=True)
class Aggregated:
    """One staged set that became a job."""

    queue: str
    group: str
    #: the aggregate job's ID.
    job_id: str
    #: the members' job IDs, oldest first (they are deleted now).
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What one pass did."""

    aggregated: tuple[Aggregated, ...] = ()
    #: members of expired staging sets given back to their groups.
    reclaimed: int = 0
    #: staged sets left for reclaim: ``aggregate`` raised, ran past ``stage_for`` or
    #: returned no ``Job``, or the broker refused the job (ID conflict, duplicate).
    failed: int = 0
    #: staged sets given back (by some aggregator's reclaim) before this one committed;
    #: their aggregate job was discarded.
    stale: int = 0


@dataclass
class _Tally:
    aggregated: list[Aggregated] = field(default_factory=list)
    reclaimed: int = 0
    failed: int = 0
    stale: int = 0

    def report(self) -> CheckReport:
        return CheckReport(tuple(self.aggregated), self.reclaimed, self.failed, self.stale)


class Aggregator:
    """Turns the ready groups of ``queues`` into one job each; see the module docstring.

    ``broker`` is any ``AggregationBroker`` (every ``Broker``). ``clock`` supplies ``now``
    (default ``SystemClock``); ``serializer`` decodes members' payloads for
    ``GroupMember.decode``; failures are logged to ``logger`` (default ``queue_core``).
    Options are those of ``AggregationPolicy``; a bad one raises
    ``InvalidAggregationOption`` naming it.
    """

    def __init__(
        self,
        broker: AggregationBroker,
        queues: str | Iterable[str],
        aggregate: AggregateFunction,
        *,
        clock: Clock | None = None,
        serializer: Serializer = JSON,
        logger: logging.Logger | None = None,
        **settings: Unpack[AggregationSettings],
    ) -> None:
        # Durations may be timedeltas here: the policy converts them on construction.
        given: dict[str, Any] = dict(settings)
        policy = AggregationPolicy(aggregate, **given)
        if not isinstance(broker, AggregationBroker):
            raise Unsupported(f"{type(broker).__name__} does not implement the AggregationBroker protocol")
        self.broker = broker
        self.queues = _queue_names(queues)
        self.policy = policy
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.serializer = serializer
        self.log = logger if logger is not None else logging.getLogger(f"{LOGGER_NAME}.aggregation")

    @classmethod
    def from_policy(
        cls,
        broker: AggregationBroker,
        queues: str | Iterable[str],
        policy: AggregationPolicy,
        *,
        clock: Clock | None = None,
        serializer: Serializer = JSON,
        logger: logging.Logger | None = None,
    ) -> Aggregator:
        """An aggregator applying ``policy`` (how a ``Worker`` builds one)."""
        return cls(
            broker, queues, policy.aggregate,
            grace=policy.grace, max_delay=policy.max_delay, max_size=policy.max_size,
            stage_for=policy.stage_for, check_interval=policy.check_interval,
            clock=clock, serializer=serializer, logger=logger,
        )  # fmt: skip

    # ----------------------------------------------------------------- running

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Make a pass every ``check_interval`` until cancelled; start it with
        ``await task_group.start(aggregator.run)``. Broker trouble and failing
        ``aggregate`` calls are logged and never end the loop."""
        task_status.started()
        while True:
            started = self.clock.now()
            await self.check_once()
            await self.clock.sleep_until(started + self.policy.interval)

    async def check_once(self) -> CheckReport:
        """One pass over every queue: give expired staging sets back to their groups,
        then stage each ready group and turn every staged set into its aggregate job.
        Never raises for broker trouble or a failing ``aggregate`` (both are logged)."""
        tally = _Tally()
        for queue in self.queues:
            try:
                await self._check_queue(queue, tally)
            except Exception as exc:
                self.log.warning(
                    "aggregator: pass over queue %r stopped: %s", queue, exc,
                    exc_info=not isinstance(exc, QueueError), extra={"queue": queue},
                )  # fmt: skip
        return tally.report()

    # ----------------------------------------------------------------- one pass

    async def _check_queue(self, queue: str, tally: _Tally) -> None:
        policy = self.policy
        reclaimed = await reclaim_staging(self.broker, [queue], self.clock.now())
        if reclaimed:
            tally.reclaimed += reclaimed
            self.log.warning(
                "aggregator: %d member(s) of expired staging sets went back to their groups in queue %r",
                reclaimed, queue, extra={"queue": queue},
            )  # fmt: skip
        try:
            groups = await self.broker.list_groups(queue)
        except QueueNotFound:
            return  # nothing was ever enqueued to it
        for group in sorted(groups):
            for _ in range(MAX_SETS_PER_GROUP):
                now = self.clock.now()
                set_id = await self.broker.aggregation_check(
                    queue, group, now, policy.grace, policy.max_delay, policy.max_size, policy.stage_for
                )
                if set_id is None or not await self._aggregate_set(queue, group, set_id, now + policy.stage_for, tally):
                    break

    async def _aggregate_set(self, queue: str, group: str, set_id: str, deadline: float, tally: _Tally) -> bool:
        """Turn one staged set into its job; True when it committed (the group may hold
        another ready set), False when the set is left for reclaim."""
        where = {"queue": queue, "group": group, "set_id": set_id}
        records = await self.broker.read_staged(queue, group, set_id)
        if not records:
            tally.failed += 1
            self.log.warning("aggregator: staged set %s of group %r in queue %r is empty", set_id, group, queue,
                             extra=where)  # fmt: skip
            return False
        members = [GroupMember(record, self.serializer) for record in records]
        try:
            job = await self._call_aggregate(group, members, deadline)
        except Exception:
            tally.failed += 1
            self.log.exception(
                "aggregator: aggregate(%r, <%d members>) raised; the set goes back to group %r of queue %r "
                "after stage_for=%gs", group, len(members), group, queue, self.policy.stage_for, extra=where,
            )  # fmt: skip
            return False
        if not isinstance(job, Job):
            tally.failed += 1
            what = "ran past stage_for" if job is _ABANDONED else f"returned {type(job).__name__}, not a Job"
            self.log.error("aggregator: aggregate(%r, <%d members>) %s; the set goes back to group %r of queue %r",
                           group, len(members), what, group, queue, extra=where)  # fmt: skip
            return False
        # The aggregate always goes to the group's own queue and never joins a group.
        job = job.with_options(queue=queue, group=None).with_id()
        assert job.job_id is not None
        outcome = await self.broker.commit_staged(queue, group, set_id, job, self.clock.now())
        if outcome.ok:
            tally.aggregated.append(Aggregated(queue, group, job.job_id, tuple(member.id for member in members)))
            self.log.info("aggregator: %d job(s) of group %r in queue %r became job %s (%s)",
                          len(members), group, queue, job.job_id, job.type, extra=where)  # fmt: skip
            return True
        if outcome.status is EnqueueStatus.STALE:
            tally.stale += 1
            self.log.warning(
                "aggregator: staged set %s of group %r in queue %r was given back before it could be committed; "
                "its aggregate job %s is discarded (the members are aggregated again)", set_id, group, queue,
                job.job_id, extra=where,
            )  # fmt: skip
            return False
        tally.failed += 1
        self.log.error(
            "aggregator: the broker refused aggregate job %s of group %r in queue %r (%s); the set goes back "
            "to its group", job.job_id, group, queue, outcome.status.value, extra=where,
        )  # fmt: skip
        return False

    async def _call_aggregate(self, group: str, members: list[GroupMember], deadline: float) -> object:
        """``aggregate``'s result, or ``_ABANDONED`` when it was still running at
        ``deadline`` (the set is about to be given back, so its job would be refused)."""
        result: object = _ABANDONED
        error: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watchdog, deadline, tg.cancel_scope)
            try:
                result = await self._invoke(group, members)
            except Exception as exc:  # kept apart so it leaves the task group unwrapped
                error = exc
            tg.cancel_scope.cancel()
        if error is not None:
            raise error
        return result

    async def _watchdog(self, deadline: float, scope: anyio.CancelScope) -> None:
        await self.clock.sleep_until(deadline)
        scope.cancel()

    async def _invoke(self, group: str, members: list[GroupMember]) -> object:
        fn = self.policy.aggregate
        if _is_async(fn):
            result: object = fn(group, members)
        else:
            result = await anyio.to_thread.run_sync(functools.partial(fn, group, members), abandon_on_cancel=True)
        if inspect.isawaitable(result):
            result = await result
        return result


async def reclaim_staging(broker: AggregationBroker, queues: Sequence[str], now: float) -> int:
    """Give the members of staging sets expired at ``now`` back to their groups, in every
    queue of ``queues``; returns how many went back. Idempotent and safe to run from every
    worker at once (a worker's recovery loop calls it whether or not it aggregates)."""
    returned = 0
    for queue in queues:
        returned += await broker.reclaim_staged(queue, now)
    return returned


_ABANDONED = object()


def _is_async(fn: object) -> bool:
    # A callable object counts as async when its __call__ is a coroutine function.
    call = type(fn).__call__ if not inspect.isroutine(fn) else None
    return inspect.iscoroutinefunction(fn) or (call is not None and inspect.iscoroutinefunction(call))


def _seconds(name: str, value: Any) -> float:
    # validation.seconds already refuses NaN and infinities.
    return validation.seconds(value, name, InvalidAggregationOption, allow_zero=False)


def _queue_names(queues: str | Iterable[str]) -> list[str]:
    names = [queues] if isinstance(queues, str) else list(queues)
    if not names:
        raise InvalidAggregationOption("queues", queues, "one queue name or more")
    return list(dict.fromkeys(validation.queue_name(name, "queues") for name in names))
