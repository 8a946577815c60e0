"""Queue selection: validation of the worker's queues and the weighted order per fetch."""

from __future__ import annotations

from collections import Counter

import pytest

from queue_core.errors import InvalidQueueName, InvalidWorkerOption
from queue_core.worker._queues import QueueOrder, parse_queues


def test_parse_accepts_weights_or_a_list() -> None:
    assert parse_queues({"a": 3, "b": 1}) == {"a": 3, "b": 1}
    assert parse_queues(["a", "b"]) == {"a": 1, "b": 1}


@pytest.mark.parametrize("queues", [{}, [], "default", {"a": 0}, {"a": 1.5}, {"a": True}, ["a", "a"], 5])
def test_parse_rejects_bad_queue_specs(queues: object) -> None:
    with pytest.raises(InvalidWorkerOption):
        parse_queues(queues)  # type: ignore[arg-type]


def test_parse_rejects_unsafe_names() -> None:
    with pytest.raises(InvalidQueueName):
        parse_queues({"{x}": 1})


def test_the_first_queue_tried_follows_the_weights_exactly() -> None:
    order = QueueOrder({"critical": 6, "default": 3, "low": 1})
    firsts = Counter(order.next()[0] for _ in range(1000))
    assert firsts == {"critical": 600, "default": 300, "low": 100}


def test_every_order_lists_every_queue_once_heaviest_first_after_the_pick() -> None:
    order = QueueOrder({"a": 1, "b": 5, "c": 2})
    for _ in range(16):
        names = order.next()
        assert sorted(names) == ["a", "b", "c"]
        rest = names[1:]
        assert rest == sorted(rest, key=lambda n: -order.weights[n])


def test_the_picks_are_interleaved_not_bunched() -> None:
    order = QueueOrder({"a": 1, "b": 1})
    assert [order.next()[0] for _ in range(6)] == ["a", "b", "a", "b", "a", "b"]


def test_a_single_queue_is_always_the_order() -> None:
    assert QueueOrder({"only": 4}).next() == ["only"]


@pytest.mark.parametrize(
    "weights", [{"critical": 6, "default": 3, "low": 1}, {"a": 5, "b": 2}, {"x": 1, "y": 1, "z": 3}]
)
def test_the_share_of_slots_asked_of_each_queue_follows_the_weights_whatever_the_batch_sizes(
    weights: dict[str, int],
) -> None:
    order = QueueOrder(weights)
    asked: Counter[str] = Counter()
    total = 0
    for batch in [1, 7, 3, 10, 1, 1, 25, 4] * 50:  # free slots vary from fetch to fetch
        plan = order.plan(batch)
        assert sum(count for _, count in plan) == batch
        for queues, count in plan:
            assert sorted(queues) == sorted(weights)  # the others follow to make up a shortfall
            asked[queues[0]] += count
        total += batch
    whole = sum(weights.values())
    for name, weight in weights.items():
        assert asked[name] / total == pytest.approx(weight / whole, abs=0.005)


def test_a_plan_asks_each_queue_once_with_its_share() -> None:
    order = QueueOrder({"critical": 6, "default": 3, "low": 1})
    plan = order.plan(10)
    assert {queues[0]: count for queues, count in plan} == {"critical": 6, "default": 3, "low": 1}
    assert plan[0][0] == ["critical", "default", "low"]


def test_strict_priority_always_asks_the_heaviest_first() -> None:
    order = QueueOrder({"low": 1, "critical": 6, "default": 3}, strict=True)
    assert [order.next() for _ in range(3)] == [["critical", "default", "low"]] * 3
    assert order.plan(8) == [(["critical", "default", "low"], 8)]


def test_strict_priority_with_equal_weights_keeps_the_listed_order() -> None:
    order = QueueOrder(parse_queues(["first", "second", "third"]), strict=True)
    assert order.next() == ["first", "second", "third"]
