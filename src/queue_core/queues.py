"""Which queues a worker serves, and in which order it asks for work.

Weighted priority: with weights ``{"critical": 6, "default": 3, "low": 1}``, out of every
ten fetches ``critical`` is tried first six times, ``default`` three times and ``low``
once, deterministically (smooth weighted round-robin, as nginx balances upstreams), and
the remaining queues follow in weight order so a fetch never comes back empty while any
served queue has work.
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
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
            raise errors.InvalidWorkerOption(f"queues[{name!r}]", weight, "an integer weight >= 1")
        if name in weights:
            raise errors.InvalidWorkerOption("queues", name, "each queue name once")
        weights[name] = weight
    return weights


class QueueOrder:
    """Yields the order to try the queues in, one order per fetch."""

    def __init__(self, weights: Mapping[str, int]) -> None:
        self.weights = dict(weights)
        self.names = list(self.weights)
        self._by_weight = sorted(self.names, key=lambda name: -self.weights[name])
        self._total = sum(self.weights.values())
        self._current = dict.fromkeys(self.names, 0)

    def next(self) -> list[str]:
        if len(self.names) == 1:
            return self.names
        for name in self.names:
            self._current[name] += self.weights[name]
        first = max(self.names, key=lambda name: self._current[name])
        self._current[first] -= self._total
        return [first, *(name for name in self._by_weight if name != first)]
