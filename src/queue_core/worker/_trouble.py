"""Where a worker's loops report broker trouble: the run's one ``Outage`` (an unreachable
broker, see ``queue_core.outage``) and its ``DamagedQueues``.

Queues found damaged are left out of a worker's broker calls for a while.

A queue whose own keys were damaged (by hand or by a bug: its pending list replaced by a
string...) makes every call that touches it fail. The worker must go on serving its other
queues at full speed: the fetcher and the maintenance loops ask ``healthy()`` which queues
to name, and report a ``QueueDamaged`` here. The queue is left out for ``interval``
seconds, then tried again; the damage is logged once per interval, not at every poll.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from queue_core.errors import QueueDamaged
from queue_core.outage import Outage

#: how long a damaged queue is left out before it is tried (and, if still damaged,
#: reported) again.
DAMAGE_INTERVAL = 30.0


class DamagedQueues:
    def __init__(
        self,
        log: logging.Logger,
        *,
        interval: float = DAMAGE_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.interval = interval
        self._monotonic = monotonic
        #: queue -> when it is tried again.
        self._until: dict[str, float] = {}

    def found(self, exc: QueueDamaged) -> None:
        """``exc.queue`` failed with damage: leave it out, and say so once per interval."""
        now = self._monotonic()
        if self._until.get(exc.queue, -1.0) > now:
            return  # another loop reported it in this interval already
        self._until[exc.queue] = now + self.interval
        self.log.error(
            "queue %r is damaged and is skipped (the other queues are served); looking again in %.0fs: %s",
            exc.queue,
            self.interval,
            exc.reason,
        )

    def healthy(self, queues: Sequence[str]) -> list[str]:
        """``queues`` without those left out now, in the same order."""
        if not self._until:
            return list(queues)
        now = self._monotonic()
        for name, until in list(self._until.items()):
            if until <= now:
                del self._until[name]
        return [name for name in queues if name not in self._until]


@dataclass(frozen=True, slots=True)
class Trouble:
    """The run's reporters of broker trouble, shared by its loops."""

    outage: Outage
    damaged: DamagedQueues

    @classmethod
    def of(cls, log: logging.Logger, owner: str) -> Trouble:
        return cls(Outage(log, owner), DamagedQueues(log))
