"""One focused example per rule of the metrics history (docs/broker-protocol.md,
Metrics history), for drivers that declare the ``metrics`` feature. Each docstring
quotes the rule it checks; every time is the caller's ``now``.
"""

from __future__ import annotations

import pytest

from queue_conformance.helpers import T0, require_feature
from queue_core import HISTOGRAM_SLOTS, Broker, MinuteMetrics, minute_of

pytestmark = pytest.mark.anyio

M0 = minute_of(T0)
KEEP = 3600.0


@pytest.fixture(autouse=True)
def _metrics(broker: Broker) -> None:
    require_feature(broker, "metrics")


def sample(queue: str, job_type: str, minute: int, processed: int, failed: int = 0, slot: int = 0) -> MinuteMetrics:
    histogram = tuple(processed if index == slot else 0 for index in range(HISTOGRAM_SLOTS))
    return MinuteMetrics(queue, job_type, minute, processed, failed, 1000 * processed, histogram)


async def test_samples_add_up_per_queue_type_and_minute(broker: Broker) -> None:
    """record_metrics: "Add each sample's counts ... to the stored counts of its queue,
    job type and minute"; read_metrics: "ordered by minute, then job type"."""
    await broker.record_metrics([sample("q", "resize", M0, 2, 1), sample("q", "email", M0, 1)], T0, KEEP)
    await broker.record_metrics([sample("q", "resize", M0, 3, 0, slot=4), sample("q", "email", M0 + 60, 5)], T0, KEEP)
    await broker.record_metrics([sample("other", "email", M0, 7)], T0, KEEP)
    found = await broker.read_metrics("q", M0 - 60, M0 + 120, T0)
    assert [(m.minute, m.job_type, m.processed, m.failed) for m in found] == [
        (M0, "email", 1, 0),
        (M0, "resize", 5, 1),
        (M0 + 60, "email", 5, 0),
    ]
    resize = found[1]
    assert resize.runtime_us == 5000
    assert resize.histogram[0] == 2 and resize.histogram[4] == 3 and sum(resize.histogram) == 5
    assert [m.processed for m in await broker.read_metrics("other", M0, M0, T0)] == [7]


async def test_reads_cover_the_range_both_ends_included(broker: Broker) -> None:
    """read_metrics: "every minute from since to until (both included)"."""
    await broker.record_metrics([sample("q", "t", M0 + 60 * i, i + 1) for i in range(4)], T0, KEEP)
    found = await broker.read_metrics("q", M0 + 60, M0 + 120, T0)
    assert [(m.minute, m.processed) for m in found] == [(M0 + 60, 2), (M0 + 120, 3)]


async def test_a_minute_expires_at_minute_plus_keep_by_the_readers_clock(broker: Broker) -> None:
    """ "A queue's minute stays readable while the reader's now is before its expiry,
    minute + keep (the largest recorded into it)"."""
    await broker.record_metrics([sample("q", "t", M0, 1)], T0, 100)
    await broker.record_metrics([sample("q", "t", M0, 1)], T0, 50)  # a shorter keep does not shorten
    assert len(await broker.read_metrics("q", M0, M0, M0 + 99.875)) == 1
    assert await broker.read_metrics("q", M0, M0, M0 + 100) == []


async def test_counts_added_to_an_expired_minute_start_from_nothing(broker: Broker) -> None:
    """ "Counts added to a minute whose expiry has been reached (<= now) start again from
    nothing"."""
    await broker.record_metrics([sample("q", "t", M0, 4)], T0, 60)
    await broker.record_metrics([sample("q", "t", M0, 1)], M0 + 60, 600)
    [found] = await broker.read_metrics("q", M0, M0, M0 + 61)
    assert found.processed == 1


async def test_an_unknown_queue_has_no_metrics(broker: Broker) -> None:
    """read_metrics: "[] for a queue with none (never QueueNotFound)"."""
    assert await broker.read_metrics("nobody", M0 - 3600, M0, T0) == []
