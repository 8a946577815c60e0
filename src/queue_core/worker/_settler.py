"""Writing attempts' outcomes to the broker, several per call when several are ready.

Each attempt hands its ``Settlement`` to the settler and waits for the answer. The
settler's loop takes everything that is waiting and writes it with one
``broker.settle`` call (the Redis driver sends one script per queue and kind, in one
round trip), so a busy worker settles many jobs per round trip while a lone settlement
is written at once -- nothing waits for a batch to fill.

It stays correct under crashes and lost leases:

- an attempt is reported done only once the broker applied its settlement; a worker
  that dies first leaves the job active, and the recoverer puts it back;
- every settlement carries its lease token, and the broker refuses one whose lease
  was lost (fencing), batched or not;
- a failed call is tried again (a settlement applied by a call whose reply was lost is
  then refused as fenced: never applied twice), until the lease of the attempt would
  run out (``until``): a broker outage shorter than that re-runs nothing, because the
  finished job's outcome is kept and written once the broker answers;
- waits are shielded from cancellation and bounded, so shutdown never loses an outcome
  halfway and an unreachable broker never holds the worker.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

import anyio

from queue_core.broker import Broker, Settlement
from queue_core.clock import Clock
from queue_core.errors import QueueError
from queue_core.outage import Outage

SETTLE_TIMEOUT = 10.0
SETTLE_TRIES = 3
MAX_BATCH = 200
FIRST_RETRY_DELAY = 0.2
#: the longest wait between two tries of an outcome write while the broker is unreachable.
MAX_RETRY_DELAY = 1.0


@dataclass(eq=False)
class _Waiting:
    settlement: Settlement
    #: tries go on until then (the lease's expiry); None: ``tries`` tries only.
    until: float | None = None
    done: anyio.Event = field(default_factory=anyio.Event)
    #: True applied, False refused (lease lost), None not written (broker trouble).
    result: bool | None = None


class Settler:
    def __init__(
        self,
        broker: Broker,
        clock: Clock,
        log: logging.Logger,
        *,
        timeout: float = SETTLE_TIMEOUT,
        tries: int = SETTLE_TRIES,
        max_batch: int = MAX_BATCH,
        outage: Outage | None = None,
    ) -> None:
        self.outage = outage or Outage(log, "worker")
        self.broker = broker
        self.clock = clock
        self.log = log
        self._settles = self.outage.calls("settle", "writing outcomes")
        self.timeout = timeout
        self.tries = tries
        self.max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._ready = anyio.Event()
        self._running = False

    async def settle(self, settlement: Settlement, *, until: float | None = None) -> bool | None:
        """Write one settlement: True applied, False refused because the lease was lost,
        None when the broker could not be reached in time (the job is then recovered
        when its lease runs out). With ``until`` (the lease's expiry on the settler's
        clock) a broker that cannot be reached is tried again until then."""
        item = _Waiting(settlement, until)
        wait = self.timeout if until is None else max(self.timeout, until - self.clock.now() + 1.0)
        with anyio.move_on_after(wait, shield=True):
            if self._running:
                self._waiting.append(item)
                self._ready.set()
                await item.done.wait()
            else:  # no loop (a Runner used on its own): write it now
                await self._write([item])
        return item.result

    async def run(self) -> None:
        """The loop: write whatever is waiting, one call per batch."""
        self._running = True
        try:
            while True:
                await self._ready.wait()
                self._ready = anyio.Event()
                while self._waiting:
                    batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
                    await self._write(batch)
        finally:
            self._running = False
            for item in self._waiting:  # only reached when cancelled with work left
                item.done.set()

    async def _write(self, batch: list[_Waiting]) -> None:
        delay = FIRST_RETRY_DELAY
        tries = 0
        deadlines = [item.until for item in batch if item.until is not None]
        until = min(deadlines) if len(deadlines) == len(batch) else None
        try:
            while True:
                tries += 1
                try:
                    results = await self.broker.settle([item.settlement for item in batch], self.clock.now())
                except QueueError as exc:
                    told = self._settles.failed(exc)
                    more = tries < self.tries or (until is not None and self.clock.now() + delay < until)
                    if not more:
                        self.log.error("could not settle %d job(s) after %d tries: %s", len(batch), tries, exc)
                        return
                    if tries == 1 and not told:
                        self.log.warning("settling %d job(s) failed: %s; trying again until their leases run out",
                                         len(batch), exc)  # fmt: skip
                    await anyio.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(delay * 2, MAX_RETRY_DELAY)
                    continue
                self._settles.ok()
                if tries > 1:
                    self.log.info("settled %d job(s) after %d tries", len(batch), tries)
                for item, applied in zip(batch, results, strict=True):
                    item.result = bool(applied)
                return
        finally:
            for item in batch:
                item.done.set()
