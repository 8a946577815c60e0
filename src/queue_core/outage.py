"""Broker outages, seen from a long runner (worker, scheduler): waiting for the broker at
start, and one story per outage in the log instead of a line per failed call.

At start ``wait_until_reachable`` pings the broker until it answers or ``connect_timeout``
passes (then ``BrokerUnavailable``: the command line exits 2 with one line), so a runner
reports itself started only once it can work.

Once running, each loop reports its broker calls through a ``BrokerCalls`` of the run's one
``Outage``. Every failed call fires the ``broker_error`` hook (plugins count them) and the
first success after them ``broker_reconnected``; an unreachable broker is told to the
``Outage`` instead of being logged by the loop: the outage is logged once when it begins,
then a summary at most every ``SUMMARY_INTERVAL`` seconds, and once when a call succeeds
again. The loops back off meanwhile (at most 1 s between tries, jittered; see
docs/guarantees.md P8).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

import anyio

from queue_core.broker import Broker
from queue_core.errors import BrokerAuthError, BrokerUnavailable, QueueError
from queue_core.events import emit

#: how long a runner waits for its broker at start, unless told otherwise.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: at most one "still unreachable" line per this many seconds.
SUMMARY_INTERVAL = 30.0
#: the longest wait between two tries while the broker is unreachable.
MAX_BACKOFF = 1.0


def jittered(backoff: float) -> float:
    """Somewhere in the upper half of ``backoff``, so that processes that lost the broker
    together do not all come back in the same instant."""
    return backoff * random.uniform(0.5, 1.0)


async def wait_until_reachable(broker: Broker, timeout: float, log: logging.Logger, owner: str) -> None:
    """Return once ``broker`` answers a ping; ``BrokerUnavailable`` naming ``owner`` and
    ``timeout`` when it has not within ``timeout`` seconds. Refused credentials are not
    waited out."""
    deadline = time.monotonic() + timeout
    backoff = 0.1
    warned = False
    while True:
        try:
            # A ping may itself retry a refused connection for a while: bounded by what
            # is left of the timeout.
            with anyio.fail_after(max(deadline - time.monotonic(), 0.1)):
                await broker.ping()
            if warned:
                log.info("%s: the broker answers", owner)
            return
        except BrokerAuthError:
            raise
        except (BrokerUnavailable, TimeoutError) as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrokerUnavailable(f"{owner} could not reach the broker within {timeout:g}s: {exc}") from exc
            if not warned:
                warned = True
                log.debug("%s: the broker does not answer (%s); trying for up to %gs", owner, exc, timeout)
            await anyio.sleep(min(jittered(backoff), left))
            backoff = min(backoff * 2, MAX_BACKOFF)


class Outage:
    """The one place a run reports that its broker is unreachable (see the module doc)."""

    def __init__(
        self,
        log: logging.Logger,
        owner: str,
        *,
        summary_interval: float = SUMMARY_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.owner = owner
        self.summary_interval = summary_interval
        self._monotonic = monotonic
        #: when the current outage began (monotonic), or None while the broker answers.
        self.since: float | None = None
        self._failures = 0
        self._summary_at = 0.0
        self._last = ""

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, what: str, exc: BrokerUnavailable) -> None:
        """A call (``what``: "dequeue", "heartbeat"...) found the broker unreachable."""
        now = self._monotonic()
        self._last = f"{what}: {exc}"
        if self.since is None:
            self.since, self._failures, self._summary_at = now, 1, now
            self.log.warning(
                "%s: the broker is unreachable (%s); trying again at most %gs apart, a summary every %gs",
                self.owner, self._last, MAX_BACKOFF, self.summary_interval,
            )  # fmt: skip
            return
        self._failures += 1
        if now - self._summary_at >= self.summary_interval:
            self._summary_at = now
            self.log.warning(
                "%s: the broker is still unreachable after %.0fs (%d failed calls; last %s)",
                self.owner, now - self.since, self._failures, self._last,
            )  # fmt: skip

    def recovered(self) -> None:
        """A call succeeded: ends the outage, if there was one."""
        if self.since is None:
            return
        lasted, self.since = self._monotonic() - self.since, None
        self.log.warning(
            "%s: the broker answers again after %.1fs (%d failed calls)", self.owner, lasted, self._failures
        )

    def calls(self, operation: str, label: str | None = None) -> BrokerCalls:
        """The reporter of one kind of call (``operation``: the hook's name for it, such as
        ``"dequeue"``; ``label``: how the log story names it, ``operation`` by default)."""
        return BrokerCalls(self, operation, label or operation)


class BrokerCalls:
    """One kind of broker call a runner makes, and what its failures tell: plugins hear
    of every failure and of the first success after them; an unreachable broker goes into
    the run's ``Outage`` story. Other failures are the caller's to log: only it knows what
    failing means there."""

    __slots__ = ("_failing", "label", "operation", "outage")

    def __init__(self, outage: Outage, operation: str, label: str) -> None:
        self.outage = outage
        self.operation = operation
        self.label = label
        self._failing = False

    def failed(self, error: QueueError) -> bool:
        """A call failed with ``error``. True when the outage story has taken it (the broker
        is unreachable), False when the caller should say what went wrong."""
        self._failing = True
        emit("broker_error", self.outage.log, operation=self.operation, error=error)
        if isinstance(error, BrokerUnavailable):
            self.outage.failed(self.label, error)
            return True
        return False

    def ok(self) -> None:
        """A call succeeded: ends this operation's failures and the run's outage, if any."""
        if self._failing:
            self._failing = False
            emit("broker_reconnected", self.outage.log, operation=self.operation)
        self.outage.recovered()
