"""The broker that a Client, Manager, Worker or Scheduler works with, and the clock it judges time by.

A ``BrokerSession`` opens its broker from a URL (with the driver's ``broker_options``) and
closes it again, or takes a broker given ready-made and leaves it open for its owner. Long
runners (Worker, Scheduler) that were given no clock call ``sync_clock()`` once the broker is
open: from then on they judge time by the broker's clock, so machines whose clocks disagree
still agree on when a lease ran out or a tick was due.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Self

import anyio

from queue_core import errors
from queue_core.broker import Broker
from queue_core.broker_clock import BrokerClock
from queue_core.clock import Clock, SystemClock
from queue_core.registry import open_broker, scheme_of

__all__ = ["CLOCK_SKEW_WARNING", "BrokerHolder", "BrokerSession"]

#: a local clock this far off the broker's (seconds) is worth a warning.
CLOCK_SKEW_WARNING = 1.0


class BrokerSession:
    """One owner's broker: opened from a URL (and closed by ``close()``), or given (and left open)."""

    def __init__(
        self,
        broker_or_url: Broker | str,
        *,
        broker_options: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        if isinstance(broker_or_url, str):
            scheme_of(broker_or_url)  # a malformed URL fails here, not at the first call
            self.url: str | None = broker_or_url
            self._broker: Broker | None = None
        else:
            self.url = None
            self._broker = broker_or_url
        self._owns_broker = False
        self.broker_options = dict(broker_options or {})
        #: the clock the owner judges time by; see ``sync_clock``.
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._clock_given = clock is not None

    @property
    def is_open(self) -> bool:
        return self._broker is not None

    def broker(self, owner: str) -> Broker:
        """The open broker; ``owner`` names the object for the error when it is not open."""
        if self._broker is None:
            raise errors.NotOpen(
                f"{owner}({self.url!r}) is not open; use `async with {owner}(...)` or `await {owner.lower()}.open()`"
            )
        return self._broker

    async def open(self) -> Broker:
        """Open the broker from the URL (no-op when it is open or was given)."""
        if self._broker is None:
            assert self.url is not None
            self._broker = await open_broker(self.url, **self.broker_options)
            self._owns_broker = True
        return self._broker

    async def close(self) -> None:
        """Close the broker if this session opened it. Idempotent; never cancelled halfway."""
        if self._owns_broker and self._broker is not None:
            broker, self._broker, self._owns_broker = self._broker, None, False
            with anyio.CancelScope(shield=True):
                await broker.close()

    @asynccontextmanager
    async def opened(self) -> AsyncIterator[Broker]:
        """The broker for the length of a run: opened on entry, closed on exit if opened here."""
        broker = await self.open()
        try:
            yield broker
        finally:
            await self.close()

    async def sync_clock(self, log: logging.Logger, owner: str) -> BrokerClock | None:
        """With no clock given at construction, judge time by the broker's clock from now on.

        Returns the ``BrokerClock`` (its ``run()`` keeps it in step) or None: a clock was
        given, or the broker's cannot be read (then the local clock is used, with a warning).
        ``owner`` is e.g. "worker w1", for the log.
        """
        if self._clock_given:
            return None
        clock = BrokerClock(self.broker("BrokerSession"))
        try:
            offset = await clock.sync()
        except errors.QueueError as exc:
            log.warning("%s: cannot read the broker's clock (%s); using the local clock", owner, exc)
            self.clock = SystemClock()
            return None
        if abs(offset) > CLOCK_SKEW_WARNING:
            noun = owner.split(" ", 1)[0]
            log.warning("%s: this machine's clock is %+.3fs off the broker's; the %s uses the broker's",
                        owner, -offset, noun)  # fmt: skip
        self.clock = clock
        return clock


class BrokerHolder:
    """The base of Client and Manager: a ``BrokerSession`` used as ``async with Client(url) as
    client``, or through ``open()`` and ``aclose()``. Their clock is the session's (no sync:
    each call passes ``now`` from it)."""

    def __init__(
        self,
        broker_or_url: Broker | str,
        *,
        broker_options: Mapping[str, Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.session = BrokerSession(broker_or_url, broker_options=broker_options, clock=clock)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    @property
    def clock(self) -> Clock:
        return self.session.clock

    async def open(self) -> None:
        """Open the broker from the URL given at construction (no-op for a given broker)."""
        await self.session.open()

    async def aclose(self) -> None:
        """Close the broker if this object opened it. Idempotent."""
        await self.session.close()

    @property
    def broker(self) -> Broker:
        """The open broker; ``NotOpen`` (a ``RuntimeError``) before ``open()``."""
        return self.session.broker(type(self).__name__)

    async def ping(self) -> None:
        """Raise ``BrokerUnavailable`` unless the broker answers."""
        await self.broker.ping()
