"""Which queues a worker serves, and in which order it asks for work.

Weighted priority (the default): with weights ``{"critical": 6, "default": 3, "low": 1}``,
out of every ten jobs the worker takes, six are asked of ``critical``, three of
``default`` and one of ``low``, deterministically (smooth weighted round-robin, as nginx
balances upstreams). So while every queue has work, the shares of dequeues follow the
weights exactly, not merely "tried first more often". A queue that has nothing gives its
turn to the others, heaviest first, so a fetch never comes back empty while any served
queue has work.

Strict priority (``strict=True``): always the heaviest queue first (for a list of names,
the order given); a lighter queue is served only while every heavier one is empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from queue_core import errors, validation


def parse_queues(queues: Mapping[str, int] | Iterable[str]) -> dict[str, int]:
    """Validate ``queues`` (names -> weights, or a list of names of weight 1)."""
    form = "a non-empty mapping of queue names to integer weights >= 1, or a non-empty list of queue names"
    if isinstance(queues, str):
        raise errors.InvalidWorkerOption("queues", queues, form)
    if isinstance(queues, Mapping):
        items: list[tuple[Any, Any]] = list(queues.items())
    else:
        try:
            items = [(name, 1) for name in queues]
        except TypeError:
            raise errors.InvalidWorkerOption("queues", queues, form) from None
    if not items:
        raise errors.InvalidWorkerOption("queues", queues, form)
    weights: dict[str, int] = {}
    for name, weight in items:
        validation.queue_name(name, "queues")
        if not validation.is_int(weight) or weight < 1:
            raise errors.InvalidWorkerOption(f"queues[{name!r}]", weight, "an integer weight >= 1")
        if name in weights:
            raise errors.InvalidWorkerOption("queues", name, "each queue name once")
        weights[name] = weight
    return weights


class QueueOrder:
    """Decides which queue each free slot asks first."""

    def __init__(self, weights: Mapping[str, int], *, strict: bool = False) -> None:
        self.weights = dict(weights)
        self.strict = strict
        self.names = list(self.weights)
        # sorted() is stable: equal weights keep the order given.
        self._by_weight = sorted(self.names, key=lambda name: -self.weights[name])
        self._total = sum(self.weights.values())
        self._current = dict.fromkeys(self.names, 0)

    def next(self) -> list[str]:
        """The order to try the queues in for one job."""
        if self.strict or len(self.names) == 1:
            return self._by_weight
        return self._after(self._pick())

    def plan(self, slots: int) -> list[tuple[list[str], int]]:
        """How to fill ``slots`` free slots: ``(order, count)`` per dequeue call.

        Weighted: the slots are dealt out one by one by the round-robin, and each
        queue's share is asked of it first, the other queues after it (heaviest first)
        to make up for a queue that has less. Strict: one call in priority order.
        """
        if self.strict or len(self.names) == 1 or slots == 1:
            return [(self.next(), slots)]
        counts: dict[str, int] = {}
        for _ in range(slots):
            first = self._pick()
            counts[first] = counts.get(first, 0) + 1
        return [(self._after(first), count) for first, count in counts.items()]

    def _pick(self) -> str:
        for name in self.names:
            self._current[name] += self.weights[name]
        first = max(self.names, key=lambda name: self._current[name])
        self._current[first] -= self._total
        return first

    def _after(self, first: str) -> list[str]:
        return [first, *(name for name in self._by_weight if name != first)]
