"""The worker's heartbeat: who it is and what it runs, published with a time to live.

Every ``interval`` seconds (and at once when its status changes) the worker publishes a
``WorkerInfo`` -- host, pid, id, concurrency, queues and weights, strict flag, start
time, status and the jobs it is running with their start and deadline -- through
``broker.put_heartbeat("worker", id, info.to_json(), now, ttl)``. The Manager lists
live workers from these. A worker that dies simply stops beating and drops out after
``ttl``; one that stops cleanly removes its heartbeat on the way out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio

from queue_core._race import first_of
from queue_core.broker import Broker
from queue_core.clock import Clock
from queue_core.errors import QueueError, Unsupported
from queue_core.info import WORKER_HEARTBEAT, WorkerInfo
from queue_core.outage import Outage

DEFAULT_INTERVAL = 5.0
#: a heartbeat lives this many intervals, so one late beat does not drop the worker.
TTL_INTERVALS = 3
REMOVE_TIMEOUT = 2.0


class Heartbeat:
    def __init__(
        self,
        broker: Broker,
        clock: Clock,
        log: logging.Logger,
        *,
        worker_id: str,
        snapshot: Callable[[float], WorkerInfo],
        interval: float = DEFAULT_INTERVAL,
        outage: Outage | None = None,
    ) -> None:
        self.outage = outage or Outage(log, f"worker {worker_id}")
        self.broker = broker
        self.clock = clock
        self.log = log
        self._beats = self.outage.calls("heartbeat")
        self.worker_id = worker_id
        self.snapshot = snapshot
        self.interval = interval
        self.ttl = interval * TTL_INTERVALS
        self._changed = anyio.Event()

    def changed(self) -> None:
        """The worker's status changed: publish now rather than at the next beat."""
        self._changed.set()

    async def run(self) -> None:
        try:
            while True:
                self._changed = anyio.Event()
                if not await self.beat():
                    return
                await first_of(lambda: self.clock.sleep_until(self.clock.now() + self.interval), self._changed.wait)
        finally:
            with anyio.move_on_after(REMOVE_TIMEOUT, shield=True):
                try:
                    await self.broker.remove_heartbeat(WORKER_HEARTBEAT, self.worker_id)
                except QueueError as exc:
                    self.log.debug("could not remove the heartbeat of worker %s: %s", self.worker_id, exc)

    async def beat(self) -> bool:
        """Publish once; False when the broker cannot keep heartbeats at all."""
        now = self.clock.now()
        try:
            await self.broker.put_heartbeat(WORKER_HEARTBEAT, self.worker_id, self.snapshot(now).to_json(), now,
                                            self.ttl)  # fmt: skip
        except Unsupported as exc:
            self.log.info("worker %s publishes no heartbeat: %s", self.worker_id, exc)
            return False
        except QueueError as exc:
            if not self._beats.failed(exc):
                self.log.warning("worker %s: heartbeat failed: %s", self.worker_id, exc)
        else:
            self._beats.ok()
        return True
