"""The cancel listener: reacts to operators' cancel notices at once.

``Manager.cancel`` (``broker.request_cancel``) flags an active job in the broker and
announces its ID on the cancel channel. This loop waits on ``broker.wait_for_cancel``;
when an ID names a job this worker runs, it renews that lease right away, and the
renewal -- which reads the persisted flag -- stops the handler. The notice only makes it
quick: a notice that never arrives (a dropped connection) is made up for by the lease
keeper's regular renewal, which sees the same flag within ``lease_for / 3``. Going
through the flag also means a notice for a same-named job of another queue cancels
nothing here.
"""

from __future__ import annotations

import logging

import anyio

from queue_core.broker import Broker
from queue_core.errors import QueueError, Unsupported
from queue_core.outage import Outage, jittered
from queue_core.worker._leases import InFlight, LeaseKeeper

WAIT = 30.0
BACKOFF_MIN = 0.1
#: the longest wait between two tries while the broker is unreachable: a cancel sent
#: just after an outage stops its handler within about this much (docs/guarantees.md P8).
BACKOFF_MAX = 1.0


class CancelListener:
    def __init__(
        self, broker: Broker, inflight: InFlight, keeper: LeaseKeeper, log: logging.Logger, outage: Outage | None = None
    ) -> None:
        self.outage = outage or Outage(log, "worker")
        self._listens = self.outage.calls("wait_for_cancel", "cancel listener")
        self.broker = broker
        self.inflight = inflight
        self.keeper = keeper
        self.log = log

    async def run(self) -> None:
        backoff = BACKOFF_MIN
        while True:
            try:
                job_ids = await self.broker.wait_for_cancel(WAIT)
            except Unsupported as exc:
                self.log.info("no cancel notices from this broker (%s); cancels are seen at lease renewal", exc)
                return
            except QueueError as exc:
                delay = jittered(backoff)
                if not self._listens.failed(exc):
                    self.log.warning("cancel listener: %s; listening again in %.1fs", exc, delay)
                await anyio.sleep(delay)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_MIN
            self._listens.ok()
            mine = self.inflight.of_jobs(set(job_ids))
            if mine:
                await self.keeper.renew(mine)
