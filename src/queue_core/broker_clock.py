"""One clock for every process: the broker's.

Leases, schedules and retries are judged by the ``now`` that callers pass to the
broker. When those callers run on machines whose clocks disagree, a worker with a fast
clock would recover its peers' jobs early and a slow scheduler would fire late. A
``BrokerClock`` reads the local clock but adds the offset to the broker's clock (Redis:
``TIME``), measured at start and refreshed, so every process judges time alike to within
a round trip.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio

from queue_core.broker import Lifecycle
from queue_core.errors import InvalidClockOption, QueueError
from queue_core.validation import is_number

LOGGER = logging.getLogger("queue_core.broker")

#: Samples per measurement; the one with the shortest round trip wins.
SAMPLES = 3


class BrokerClock:
    """Local time plus the measured offset to the broker's clock.

    Call ``await clock.sync()`` once before use (``now()`` is the local clock until then),
    and keep it fresh with ``tg.start_soon(clock.run)`` (every ``refresh_every`` seconds).
    A failed refresh keeps the last offset: clocks drift slowly, brokers come back.
    """

    def __init__(
        self,
        broker: Lifecycle,
        *,
        refresh_every: float = 60.0,
        local: Callable[[], float] = time.time,
    ) -> None:
        if not (is_number(refresh_every) and refresh_every > 0):
            raise InvalidClockOption("refresh_every", refresh_every, "a positive, finite number of seconds")
        self._broker = broker
        self._local = local
        self.refresh_every = refresh_every
        #: broker time minus local time, in seconds.
        self.offset = 0.0
        #: the round trip of the sample the offset came from (its uncertainty is half that).
        self.round_trip: float | None = None

    def now(self) -> float:
        return self._local() + self.offset

    async def sleep_until(self, deadline: float) -> None:
        # Re-check after waking: a refresh may have moved the offset while we slept.
        while (remaining := deadline - self.now()) > 0:
            await anyio.sleep(remaining)

    async def sync(self) -> float:
        """Measure the offset now; returns it."""
        best: tuple[float, float] | None = None
        for _ in range(SAMPLES):
            sent = self._local()
            server = await self._broker.server_time()
            received = self._local()
            round_trip = received - sent
            offset = server - (sent + received) / 2
            if best is None or round_trip < best[0]:
                best = (round_trip, offset)
        assert best is not None
        self.round_trip, self.offset = best
        return self.offset

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Refresh the offset every ``refresh_every`` seconds until cancelled."""
        task_status.started()
        while True:
            await anyio.sleep(self.refresh_every)
            try:
                await self.sync()
            except QueueError as exc:
                LOGGER.warning("could not refresh the broker clock offset (keeping %+.3fs): %s", self.offset, exc)
