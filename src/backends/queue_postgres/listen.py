"""LISTEN/NOTIFY: one dedicated connection per broker that only listens.

Transitions announce with ``pg_notify`` (delivered when their transaction commits; a
rolled-back one announces nothing). Channels, per schema: ``<schema>.jobs`` (payload: a
queue that may have work), ``<schema>.done`` (payload: a nonce that keeps identical
announcements of one transaction apart, a queue, the ids of jobs that finished),
``<schema>.cancel`` (job ids to cancel).

The listening connection sends a query only to subscribe; while it waits it sends
nothing: the wait is on its socket (``anyio.wait_readable``), so an idle worker costs the
server nothing. Subscriptions are sticky: what arrives between two waits is kept for
the next. One caller at a time reads the socket; the others wait for what it hands out.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

from queue_core import BrokerUnavailable
from queue_postgres.errors import mapped_errors
from queue_postgres.extra import psycopg


class Subscription:
    """A channel and what a slot keeps of its notifications."""

    def __init__(self, channel: str, keep: Callable[[str], list[str]], *, unique: bool = False) -> None:
        self.channel = channel
        self.keep = keep  # payload -> the items this slot keeps (may be [])
        #: keep each item once until it is handed out (wake-ups: one per queue is enough,
        #: however many enqueues a busy worker did not wait for)
        self.unique = unique
        self.items: list[str] = []

    def add(self, payload: str) -> None:
        for item in self.keep(payload):
            if not (self.unique and item in self.items):
                self.items.append(item)


class Listener:
    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: Any = None
        self._listening: set[str] = set()
        self._slots: dict[str, Subscription] = {}
        self._reading = False
        self._changed = anyio.Event()
        self._closed = False
        self._subscribing = anyio.Lock()
        #: grows each time the connection is dropped: a wait that began on an older one
        #: may have missed notifications, so it raises instead of waiting on
        self._generation = 0

    async def wait(self, slot: str, subscription: Callable[[], Subscription], timeout: float) -> list[str]:
        """What ``slot`` kept, waiting up to ``timeout`` seconds for something when it kept
        nothing. The slot subscribes on its first call (``subscription()`` builds it)."""
        if slot not in self._slots:
            self._slots[slot] = subscription()
        sub = self._slots[slot]
        await self._subscribe(sub.channel)
        generation = self._generation
        deadline = anyio.current_time() + max(timeout, 0.0)
        while True:
            if self._generation != generation or self._conn is None:
                raise BrokerUnavailable("the PostgreSQL connection listening for notifications was lost")
            await self._read(0.0)
            if sub.items or anyio.current_time() >= deadline:
                items, sub.items = sub.items, []
                return items
            remaining = deadline - anyio.current_time()
            if not self._reading:
                await self._read(remaining)
            else:
                with anyio.move_on_after(remaining):
                    await self._changed.wait()

    async def _subscribe(self, channel: str) -> None:
        # One subscription at a time: two first waits (say, for jobs and for cancel
        # notices) would otherwise both connect, and one connection would be lost open.
        async with self._subscribing:
            if channel in self._listening and self._conn is not None:
                return
            if self._closed:
                raise BrokerUnavailable("the broker is closed")
            if self._conn is None:
                self._listening.clear()
                self._conn = await anyio.to_thread.run_sync(self._connect)
            conn = self._conn
            await anyio.to_thread.run_sync(self._execute, conn, f"LISTEN {_identifier(channel)}")
            self._listening.add(channel)

    def _connect(self) -> Any:
        with mapped_errors():
            return psycopg.connect(self._conninfo, autocommit=True)

    def _execute(self, conn: Any, sql: str) -> None:
        try:
            with mapped_errors():
                conn.execute(sql)
        except BrokerUnavailable:
            self._drop()
            raise

    async def _read(self, timeout: float) -> None:
        """Hand out what has arrived; with a timeout, wait up to it for the socket first.
        Only one caller reads at a time (the others wait on ``_changed``)."""
        if self._reading or self._conn is None:
            return
        self._reading = True
        try:
            if timeout > 0 and not self._drain():
                with anyio.move_on_after(timeout if math.isfinite(timeout) else None):
                    await anyio.wait_readable(self._conn.fileno())
                self._drain()
        finally:
            self._reading = False
            self._changed.set()
            self._changed = anyio.Event()

    def _drain(self) -> bool:
        """Dispatch every notification received so far, without waiting; True when any."""
        if self._conn is None:
            return False
        got = False
        try:
            with mapped_errors():
                for notify in self._conn.notifies(timeout=0):
                    got = True
                    for sub in self._slots.values():
                        if sub.channel == notify.channel:
                            sub.add(notify.payload)
        except BrokerUnavailable:
            self._drop()
            raise
        return got

    def _drop(self) -> None:
        """Forget a broken connection: the next wait connects and subscribes again."""
        conn, self._conn = self._conn, None
        self._listening.clear()
        self._generation += 1
        if conn is not None:
            # closing a broken connection may fail; it is gone either way
            with contextlib.suppress(Exception):
                conn.close()

    async def close(self) -> None:
        self._closed = True
        conn, self._conn = self._conn, None
        if conn is not None:
            if self._reading:
                anyio.notify_closing(conn.fileno())
            await anyio.to_thread.run_sync(conn.close)


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
