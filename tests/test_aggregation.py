"""The Aggregator: triggers (size, max delay, grace), order, scheduled members, at most one
aggregate per staged set, failures that leave the set staged, and the run loop.

Time moves only through a ``ManualClock``; every test runs on memory:// and Redis, on
asyncio and trio.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
import pytest

from queue_core import (
    Aggregator,
    Broker,
    BrokerUnavailable,
    CheckReport,
    Client,
    Delivery,
    GroupMember,
    InvalidAggregationOption,
    Job,
    JobState,
    ManualClock,
    OperationNotAllowed,
    Unsupported,
    Worker,
    reclaim_staging,
)
from queue_core.errors import InvalidQueueName
from queue_core.worker.aggregation import AggregationPolicy
from tests.worker_kit import NOW, PATIENCE, fresh_broker, running

Q = "notes"


@pytest.fixture
async def broker(broker_url: str) -> AsyncIterator[Broker]:
    async with fresh_broker(broker_url) as broker:
        yield broker


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def client(broker: Broker, clock: ManualClock) -> Client:
    return Client(broker, clock=clock)


def digest(group: str, members: list[GroupMember]) -> Job:
    """The aggregate used throughout: names every member and carries its payload."""
    return Job.create(
        "digest", {"group": group, "members": [m.id for m in members], "items": [m.decode() for m in members]}
    )


async def add(client: Client, group: str, item: Any, queue: str = Q, **options: Any) -> str:
    info = await client.enqueue("note", item, queue=queue, group=group, **options)
    return info.id


async def add_spaced(client: Client, clock: ManualClock, group: str, items: list[Any]) -> list[str]:
    """Enqueue ``items`` to ``group`` 0.1 s apart, so that they have an order (members that
    joined at the same instant are ordered by ID)."""
    ids = []
    for item in items:
        ids.append(await add(client, group, item))
        clock.advance(0.1)
    return ids


async def digests(broker: Broker, queue: str = Q) -> list[dict[str, Any]]:
    """The payloads of the queue's pending jobs (the aggregates), in dequeue order."""
    infos = await broker.list_jobs(queue, JobState.PENDING, 1, 1000, NOW)
    found = []
    for info in infos:
        assert info.type == "digest"
        found.append(json.loads(await broker.job_payload(queue, info.id)))
    return found


async def group_size(broker: Broker, group: str, queue: str = Q) -> int:
    return (await broker.list_groups(queue)).get(group, 0)


# --------------------------------------------------------------------------- options


async def test_options_are_validated_with_a_specific_error() -> None:
    async with fresh_broker("memory://") as broker:
        bad: list[dict[str, Any]] = [
            {"grace": 0.5},
            {"grace": 0},
            {"grace": timedelta(milliseconds=999)},
            {"grace": float("nan")},
            {"max_size": 0},
            {"max_size": True},
            {"max_size": 2.5},
            {"max_delay": 0},
            {"max_delay": -1},
            {"stage_for": 0},
            {"check_interval": float("inf")},
        ]
        for options in bad:
            with pytest.raises(InvalidAggregationOption) as caught:
                Aggregator(broker, [Q], digest, **options)
            assert caught.value.field == next(iter(options)), options
        with pytest.raises(InvalidAggregationOption, match=r"grace: 0\.5; expected at least 1 second"):
            Aggregator(broker, [Q], digest, grace=0.5)
        with pytest.raises(InvalidAggregationOption, match="aggregate"):
            Aggregator(broker, [Q], "digest")  # type: ignore[arg-type]
        with pytest.raises(InvalidAggregationOption, match="queues"):
            Aggregator(broker, [], digest)
        with pytest.raises(InvalidQueueName):
            Aggregator(broker, ["no{way}"], digest)


async def test_defaults_timedeltas_and_the_check_interval() -> None:
    async with fresh_broker("memory://") as broker:
        aggregator = Aggregator(broker, Q, digest)
        assert aggregator.queues == [Q]
        assert (aggregator.policy.grace, aggregator.policy.stage_for, aggregator.policy.interval) == (60.0, 120.0, 7.0)
        assert aggregator.policy.max_delay is None and aggregator.policy.max_size is None
        short = Aggregator(
            broker, {Q: 3, "other": 1}, digest, grace=timedelta(seconds=2), max_delay=timedelta(minutes=1)
        )
        assert short.queues == [Q, "other"]
        assert (short.policy.grace, short.policy.max_delay, short.policy.interval) == (2.0, 60.0, 2.0)
        assert Aggregator(broker, Q, digest, check_interval=0.5).policy.interval == 0.5
        policy = AggregationPolicy(digest, grace=5, max_size=10)
        built = Aggregator.from_policy(broker, [Q], policy)
        assert built.policy == policy


def test_a_broker_without_aggregation_is_refused() -> None:
    with pytest.raises(Unsupported, match="AggregationBroker"):
        Aggregator(object(), [Q], digest)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- triggers


async def test_grace_a_group_is_aggregated_once_its_newest_member_waited_the_grace_period(
    broker: Broker, client: Client, clock: ManualClock
) -> None:
    aggregator = Aggregator(broker, [Q], digest, grace=30, clock=clock)
    ids = []
    for i in range(3):
        ids.append(await add(client, "alice", {"n": i}))
        clock.advance(10)
    # The newest member joined at NOW + 20: the group is not ready before NOW + 50.
    clock.set(NOW + 49.9)
    report = await aggregator.check_once()
    assert report.aggregated == () and await group_size(broker, "alice") == 3

    clock.set(NOW + 50)
    report = await aggregator.check_once()
    assert [(a.group, a.members) for a in report.aggregated] == [("alice", tuple(ids))]
    assert await digests(broker) == [{"group": "alice", "members": ids, "items": [{"n": 0}, {"n": 1}, {"n": 2}]}]
    assert await broker.list_groups(Q) == {}
    stats = await broker.queue_stats(Q, clock.now())
    assert (stats.pending, stats.aggregating) == (1, 0)
    # The members are gone with their records.
    with pytest.raises(Exception, match=r"not found|JobNotFound|no job"):
        await broker.job_info(Q, ids[0], clock.now())


async def test_max_size_takes_the_oldest_members_in_sets_of_max_size(
    broker: Broker, client: Client, clock: ManualClock
) -> None:
    aggregator = Aggregator(broker, [Q], digest, grace=60, max_size=3, clock=clock)
    ids = []
    for i in range(7):
        ids.append(await add(client, "bob", i))
        clock.advance(1)
    report = await aggregator.check_once()
    # Ready by size only: two full sets, the seventh member keeps waiting for its grace.
    assert [a.members for a in report.aggregated] == [tuple(ids[0:3]), tuple(ids[3:6])]
    assert [d["items"] for d in await digests(broker)] == [[0, 1, 2], [3, 4, 5]]
    assert await broker.list_groups(Q) == {"bob": 1}
    listed = await broker.list_jobs(Q, JobState.AGGREGATING, 1, 10, clock.now(), "bob")
    assert [info.id for info in listed] == [ids[6]]


async def test_max_delay_aggregates_a_group_that_keeps_growing(
    broker: Broker, client: Client, clock: ManualClock
) -> None:
    patient = Aggregator(broker, [Q], digest, grace=30, clock=clock)
    bounded = Aggregator(broker, [Q], digest, grace=30, max_delay=60, clock=clock)
    ids = []
    for i in range(4):  # a member every 20 s: the grace period never runs out
        ids.append(await add(client, "carol", i))
        if i < 3:
            clock.advance(19.9)
            assert (await bounded.check_once()).aggregated == ()
            clock.advance(0.1)
    assert clock.now() == NOW + 60
    assert (await patient.check_once()).aggregated == ()  # without max_delay it would wait on
    report = await bounded.check_once()
    assert [a.members for a in report.aggregated] == [tuple(ids)]
    assert [d["items"] for d in await digests(broker)] == [[0, 1, 2, 3]]


async def test_max_delay_still_stages_at_most_max_size(broker: Broker, client: Client, clock: ManualClock) -> None:
    aggregator = Aggregator(broker, [Q], digest, grace=30, max_delay=10, max_size=100, clock=clock)
    for i in range(3):
        await add(client, "dave", i)
    clock.advance(10)
    report = await aggregator.check_once()
    assert len(report.aggregated) == 1 and len(report.aggregated[0].members) == 3


async def test_groups_and_queues_are_aggregated_separately(broker: Broker, client: Client, clock: ManualClock) -> None:
    aggregator = Aggregator(broker, [Q, "other"], digest, grace=5, clock=clock)
    await add(client, "a", "a1")
    await add(client, "b", "b1")
    clock.advance(1)
    await add(client, "a", "a2")
    await add(client, "a", "x1", queue="other")
    clock.advance(5)
    report = await aggregator.check_once()
    assert sorted((a.queue, a.group, len(a.members)) for a in report.aggregated) == [
        (Q, "a", 2),
        (Q, "b", 1),
        ("other", "a", 1),
    ]
    assert sorted(d["items"] for d in await digests(broker)) == [["a1", "a2"], ["b1"]]
    assert [d["items"] for d in await digests(broker, "other")] == [["x1"]]


async def test_members_are_handed_over_oldest_first_and_decode_like_a_delivery(
    broker: Broker, client: Client, clock: ManualClock
) -> None:
    @dataclass
    class Note:
        text: str
        urgent: bool = False

    seen: list[GroupMember] = []

    async def collect(group: str, members: list[GroupMember]) -> Job:
        seen.extend(members)
        notes = [m.decode(Note) for m in members]
        return Job.create(
            "digest", {"group": group, "members": [m.id for m in members], "items": [n.text for n in notes]}
        )

    aggregator = Aggregator(broker, [Q], collect, grace=1, clock=clock)
    texts = ["first", "second", "third", "fourth"]
    for text in texts:
        await add(client, "erin", {"text": text}, headers={"lang": "en"})
        clock.advance(0.25)
    clock.advance(1)
    await aggregator.check_once()
    assert [m.decode(Note).text for m in seen] == texts
    assert [m.enqueued_at for m in seen] == [NOW, NOW + 0.25, NOW + 0.5, NOW + 0.75]
    member = seen[0]
    assert (member.type, member.queue, member.group, dict(member.headers)) == ("note", Q, "erin", {"lang": "en"})
    assert member.payload == b'{"text":"first"}' and member.record.id == member.id
    assert repr(member).startswith("<GroupMember note id=")
    assert [d["items"] for d in await digests(broker)] == [texts]


async def test_the_aggregate_always_goes_pending_into_the_group_queue(
    broker: Broker, client: Client, clock: ManualClock
) -> None:
    def elsewhere(group: str, members: list[GroupMember]) -> Job:
        return Job.create("digest", {"members": [m.id for m in members]}, queue="elsewhere", group="again")

    aggregator = Aggregator(broker, [Q], elsewhere, grace=1, clock=clock)
    await add(client, "frank", 1)
    clock.advance(1)
    (made,) = (await aggregator.check_once()).aggregated
    info = await broker.job_info(Q, made.job_id, clock.now())
    assert (info.queue, info.state, info.group, info.type) == (Q, JobState.PENDING, None, "digest")
    assert "elsewhere" not in await broker.list_queues()


async def test_a_scheduled_job_with_a_group_joins_its_group_when_due(
    broker: Broker, client: Client, clock: ManualClock
) -> None:
    aggregator = Aggregator(broker, [Q], digest, grace=10, clock=clock)
    later = await client.enqueue("note", "later", queue=Q, group="gina", delay=30)
    assert later.state is JobState.SCHEDULED
    now_id = await add(client, "gina", "now")
    clock.advance(10)
    # Only the member already in the group is aggregated; the scheduled one is not due.
    assert [a.members for a in (await aggregator.check_once()).aggregated] == [(now_id,)]

    clock.set(NOW + 30)
    assert await broker.forward_due([Q], clock.now()) == 1
    assert await broker.list_groups(Q) == {"gina": 1}
    assert (await broker.job_info(Q, later.id, clock.now())).state is JobState.AGGREGATING
    clock.advance(9.9)
    assert (await aggregator.check_once()).aggregated == ()  # its grace counts from when it joined
    clock.advance(0.1)
    assert [a.members for a in (await aggregator.check_once()).aggregated] == [(later.id,)]
    assert [d["items"] for d in await digests(broker)] == [["now"], ["later"]]


async def test_a_group_emptied_by_an_operator_is_not_aggregated(
    broker: Broker, client: Client, clock: ManualClock
) -> None:
    aggregator = Aggregator(broker, [Q], digest, grace=1, clock=clock)
    for group in ("run", "archive", "delete"):
        for i in range(2):
            await add(client, group, i)
    assert await broker.run_all(Q, JobState.AGGREGATING, clock.now(), group="run") == 2
    assert await broker.archive_all(Q, JobState.AGGREGATING, clock.now(), group="archive") == 2
    assert await broker.delete_all(Q, JobState.AGGREGATING, clock.now(), group="delete") == 2
    clock.advance(5)
    assert await aggregator.check_once() == CheckReport()
    stats = await broker.queue_stats(Q, clock.now())
    assert (stats.pending, stats.archived, stats.aggregating, stats.groups) == (2, 2, 0, 0)


async def test_a_queue_nobody_enqueued_to_is_skipped_quietly(
    broker: Broker, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    aggregator = Aggregator(broker, ["never-used"], digest, grace=1, clock=clock)
    with caplog.at_level(logging.DEBUG, logger="queue_core"):
        report = await aggregator.check_once()
    assert report.aggregated == () and report.failed == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# --------------------------------------------------------------------------- at most once


async def test_a_set_given_back_before_its_commit_is_aggregated_once(
    broker: Broker, client: Client, clock: ManualClock
) -> None:
    """A slow aggregator loses its staged set to another one's reclaim: its commit is
    refused (stale), so exactly one aggregate holds every member."""
    ids = await add_spaced(client, clock, "hank", list(range(5)))
    clock.advance(1)
    entered, release = anyio.Event(), anyio.Event()

    async def slow(group: str, members: list[GroupMember]) -> Job:
        entered.set()
        await release.wait()
        return digest(group, members)

    # Two processes with their own clocks; the slow one's clock has not reached the deadline.
    slow_aggregator = Aggregator(broker, [Q], slow, grace=1, stage_for=30, clock=clock)
    other_clock = ManualClock(clock.now() + 30)
    other = Aggregator(broker, [Q], digest, grace=1, stage_for=30, clock=other_clock)

    reports = []
    async with anyio.create_task_group() as tg:

        async def slow_pass() -> None:
            reports.append(await slow_aggregator.check_once())

        tg.start_soon(slow_pass)
        with anyio.fail_after(PATIENCE):
            await entered.wait()
        assert await broker.list_groups(Q) == {}  # all five are staged
        taken = await other.check_once()
        assert taken.reclaimed == 5
        assert [a.members for a in taken.aggregated] == [tuple(ids)]
        release.set()

    (slow_report,) = reports
    assert (slow_report.aggregated, slow_report.stale, slow_report.failed) == ((), 1, 0)
    assert [d["members"] for d in await digests(broker)] == [ids]
    assert await broker.list_groups(Q) == {}


async def test_racing_aggregators_never_put_a_member_in_two_aggregates(
    broker: Broker, client: Client, clock: ManualClock
) -> None:
    async def yielding(group: str, members: list[GroupMember]) -> Job:
        await anyio.sleep(0)  # let the other aggregators interleave
        return digest(group, members)

    groups = [f"g{i}" for i in range(6)]
    everyone = []
    for group in groups:
        for i in range(7):
            everyone.append(await add(client, group, i))
    clock.advance(5)
    aggregators = [Aggregator(broker, [Q], yielding, grace=5, max_size=3, clock=clock) for _ in range(3)]
    reports = []
    async with anyio.create_task_group() as tg:
        for aggregator in aggregators:

            async def one_pass(aggregator: Aggregator = aggregator) -> None:
                reports.append(await aggregator.check_once())

            tg.start_soon(one_pass)

    made = [a for report in reports for a in report.aggregated]
    assert sum(report.stale + report.failed for report in reports) == 0
    assert len(made) == len(groups) * 3  # 7 members in sets of at most 3: 3, 3, 1
    members = [m for a in made for m in a.members]
    assert sorted(members) == sorted(everyone)  # each member exactly once
    stored = await digests(broker)
    assert len(stored) == len(made)
    assert sorted(m for d in stored for m in d["members"]) == sorted(everyone)
    assert await broker.list_groups(Q) == {}


# --------------------------------------------------------------------------- failures


async def test_a_failing_aggregate_leaves_the_set_staged_until_it_is_reclaimed(
    broker: Broker, client: Client, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def flaky(group: str, members: list[GroupMember]) -> Job:
        calls.append([m.id for m in members])
        if len(calls) == 1:
            raise RuntimeError("mail template missing")
        return digest(group, members)

    aggregator = Aggregator(broker, [Q], flaky, grace=1, stage_for=60, clock=clock)
    ids = await add_spaced(client, clock, "ivy", [0, 1, 2])
    clock.advance(1)
    with caplog.at_level(logging.ERROR, logger="queue_core"):
        report = await aggregator.check_once()
    assert (report.aggregated, report.failed) == ((), 1)
    assert "mail template missing" in caplog.text and "raised" in caplog.text
    assert await broker.list_groups(Q) == {}  # still staged, not back in the group yet
    assert (await broker.queue_stats(Q, clock.now())).pending == 0

    clock.advance(59.9)
    report = await aggregator.check_once()
    assert (report.reclaimed, report.aggregated, len(calls)) == (0, (), 1)

    clock.advance(0.1)  # the staging set has expired: reclaimed and aggregated in one pass
    report = await aggregator.check_once()
    assert report.reclaimed == 3
    assert [a.members for a in report.aggregated] == [tuple(ids)]
    assert calls == [ids, ids]


async def test_an_aggregate_that_returns_no_job_is_logged_and_retried_after_stage_for(
    broker: Broker, client: Client, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    results: list[Any] = [None, "digest"]

    def forgetful(group: str, members: list[GroupMember]) -> Any:
        return results.pop(0) if results else digest(group, members)

    aggregator = Aggregator(broker, [Q], forgetful, grace=1, stage_for=10, clock=clock)
    await add(client, "jack", 1)
    clock.advance(1)
    with caplog.at_level(logging.ERROR, logger="queue_core"):
        assert (await aggregator.check_once()).failed == 1
        clock.advance(10)
        assert (await aggregator.check_once()).failed == 1
    assert "returned NoneType, not a Job" in caplog.text and "returned str, not a Job" in caplog.text
    clock.advance(10)
    assert len((await aggregator.check_once()).aggregated) == 1


async def test_an_aggregate_running_past_stage_for_is_abandoned(
    broker: Broker, client: Client, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    entered = anyio.Event()
    hung: list[bool] = []

    async def hangs_once(group: str, members: list[GroupMember]) -> Job:
        if not hung:
            hung.append(True)
            entered.set()
            await anyio.sleep_forever()
        return digest(group, members)

    aggregator = Aggregator(broker, [Q], hangs_once, grace=1, stage_for=20, clock=clock)
    await add(client, "kim", 1)
    clock.advance(1)
    reports = []
    with caplog.at_level(logging.ERROR, logger="queue_core"):
        async with anyio.create_task_group() as tg:

            async def one_pass() -> None:
                reports.append(await aggregator.check_once())

            tg.start_soon(one_pass)
            with anyio.fail_after(PATIENCE):
                await entered.wait()
            clock.advance(20)
    assert reports[0].failed == 1 and "ran past stage_for" in caplog.text
    report = await aggregator.check_once()
    assert report.reclaimed == 1 and len(report.aggregated) == 1


async def test_a_refused_aggregate_job_leaves_the_members_to_be_given_back(
    broker: Broker, client: Client, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    taken = await client.enqueue("taken", None, queue=Q, job_id="fixed-id")
    calls: list[str] = []

    def with_fixed_id(group: str, members: list[GroupMember]) -> Job:
        calls.append(group)
        job = digest(group, members)
        return job.with_options(job_id="fixed-id") if len(calls) == 1 else job  # later calls: a fresh ID

    aggregator = Aggregator(broker, [Q], with_fixed_id, grace=1, clock=clock)
    ids = await add_spaced(client, clock, "liz", [0, 1])
    clock.advance(1)
    with caplog.at_level(logging.ERROR, logger="queue_core"):
        report = await aggregator.check_once()
    assert (report.aggregated, report.failed) == ((), 1)
    assert "refused" in caplog.text and "id_conflict" in caplog.text
    # The set is due back at once (the broker re-registered it with deadline "now").
    report = await aggregator.check_once()
    assert report.reclaimed == 2 and [a.members for a in report.aggregated] == [tuple(ids)]
    assert (await broker.job_info(Q, taken.id, clock.now())).type == "taken"


class FlakyBroker:
    """Delegates to a broker, but ``list_groups`` fails while ``down`` is set."""

    def __init__(self, inner: Broker) -> None:
        self._inner = inner
        self.down = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def list_groups(self, queue: str) -> dict[str, int]:
        if self.down:
            raise BrokerUnavailable("connection refused")
        return await self._inner.list_groups(queue)


async def test_broker_trouble_is_logged_and_the_next_queue_still_checked(
    broker: Broker, client: Client, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FlakyBroker(broker)
    aggregator = Aggregator(flaky, [Q], digest, grace=1, clock=clock)  # type: ignore[arg-type]
    await add(client, "max", 1)
    clock.advance(1)
    with caplog.at_level(logging.WARNING, logger="queue_core"):
        report = await aggregator.check_once()
    assert report.aggregated == () and "connection refused" in caplog.text
    flaky.down = False
    assert len((await aggregator.check_once()).aggregated) == 1


# --------------------------------------------------------------------------- the loop


async def test_run_makes_a_pass_every_check_interval_on_the_clock(
    broker: Broker, client: Client, clock: ManualClock
) -> None:
    made: list[list[str]] = []
    changed = anyio.Event()

    async def record(group: str, members: list[GroupMember]) -> Job:
        made.append([m.id for m in members])
        changed.set()
        return digest(group, members)

    aggregator = Aggregator(broker, [Q], record, grace=5, clock=clock)
    async with anyio.create_task_group() as tg:
        await tg.start(aggregator.run)
        first = await add(client, "nina", 1)
        clock.advance(5)
        with anyio.fail_after(PATIENCE):
            await changed.wait()
        changed = anyio.Event()
        second = await add(client, "nina", 2)
        clock.advance(5)
        with anyio.fail_after(PATIENCE):
            await changed.wait()
        tg.cancel_scope.cancel()
    assert made == [[first], [second]]


async def test_run_survives_a_failing_aggregate(broker: Broker, client: Client, clock: ManualClock) -> None:
    calls: list[int] = []
    called = anyio.Event()

    async def fails_first(group: str, members: list[GroupMember]) -> Job:
        nonlocal called
        calls.append(len(members))
        called.set()
        if len(calls) == 1:
            raise ValueError("boom")
        return digest(group, members)

    aggregator = Aggregator(broker, [Q], fails_first, grace=1, stage_for=15, clock=clock)
    await add(client, "olga", 1)
    async with anyio.create_task_group() as tg:
        await tg.start(aggregator.run)
        clock.advance(1)
        with anyio.fail_after(PATIENCE):
            await called.wait()
        called = anyio.Event()
        clock.advance(15)  # the failed set expires; the loop reclaims and tries again
        with anyio.fail_after(PATIENCE):
            await called.wait()
        with anyio.fail_after(PATIENCE):
            while len(await digests(broker)) < 1:
                await anyio.sleep(0)
        tg.cancel_scope.cancel()
    assert calls == [1, 1]


async def test_an_aggregator_beside_a_worker_feeds_it_the_aggregates(
    broker: Broker, client: Client, clock: ManualClock
) -> None:
    handled: list[dict[str, Any]] = []
    done = anyio.Event()
    worker = Worker(broker, queues=[Q], clock=clock, shutdown_timeout=1)

    @worker.handler("digest")
    async def send_digest(delivery: Delivery) -> None:
        handled.append(delivery.decode(dict))
        done.set()

    aggregator = Aggregator(broker, [Q], digest, grace=2, clock=clock, logger=worker.log)
    ids = await add_spaced(client, clock, "pat", [{"n": i} for i in range(4)])
    async with running(worker), anyio.create_task_group() as tg:
        await tg.start(aggregator.run)
        clock.advance(2)
        with anyio.fail_after(PATIENCE):
            await done.wait()
        tg.cancel_scope.cancel()
    assert handled == [{"group": "pat", "members": ids, "items": [{"n": i} for i in range(4)]}]


# --------------------------------------------------------------------------- operators vs staging
# Operator actions on a member while it is staged (between aggregation_check and
# commit_staged): the member leaves the staging set, so it is never both run and aggregated.


async def test_running_a_staged_member_never_also_aggregates_it(
    broker: Broker, client: Client, clock: ManualClock
) -> None:
    entered, release = anyio.Event(), anyio.Event()

    async def slow(group: str, members: list[GroupMember]) -> Job:
        entered.set()
        await release.wait()
        return digest(group, members)

    ids = await add_spaced(client, clock, "quinn", [0, 1])
    aggregator = Aggregator(broker, [Q], slow, grace=1, clock=clock)
    clock.advance(1)
    reports = []
    async with anyio.create_task_group() as tg:

        async def one_pass() -> None:
            reports.append(await aggregator.check_once())

        tg.start_soon(one_pass)
        with anyio.fail_after(PATIENCE):
            await entered.wait()
        ran = True
        try:
            await broker.run_job(Q, ids[0], clock.now())
        except OperationNotAllowed:
            ran = False
        release.set()
    aggregated = [m for report in reports for a in report.aggregated for m in a.members]
    pending = await broker.list_jobs(Q, JobState.PENDING, 1, 100, clock.now())
    # No pending entry without its job, and a member either ran or was aggregated.
    assert (await broker.queue_stats(Q, clock.now())).pending == len(pending)
    assert (ids[0] in [info.id for info in pending]) == ran
    assert (ids[0] in aggregated) != ran


async def test_members_deleted_while_staged_do_not_come_back(
    broker: Broker, client: Client, clock: ManualClock
) -> None:
    def refuse(group: str, members: list[GroupMember]) -> Job:
        raise RuntimeError("not now")

    ids = await add_spaced(client, clock, "ruth", [0, 1])
    aggregator = Aggregator(broker, [Q], refuse, grace=1, stage_for=10, clock=clock)
    clock.advance(1)
    assert (await aggregator.check_once()).failed == 1  # both members are staged
    deleted = 0
    for job_id in ids:
        try:
            await broker.delete_job(Q, job_id, clock.now())
            deleted += 1
        except OperationNotAllowed:
            pass
    clock.advance(10)
    assert await reclaim_staging(broker, [Q], clock.now()) == len(ids) - deleted
    assert await broker.list_groups(Q) == ({"ruth": len(ids) - deleted} if deleted < len(ids) else {})
