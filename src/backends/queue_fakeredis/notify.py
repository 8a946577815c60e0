"""In-process publish/subscribe for memory:// brokers, across event loops and threads.

A subscription collects messages in its own inbox from the moment it subscribes, so a
message published between two waits is kept, as with a Redis subscription. A publisher
appends to the inbox of every subscriber of the channel and wakes it, scheduling the
wake-up on the subscriber's own loop when that loop runs on another thread (a
``SyncClient`` runs its loop on a portal thread). Nothing polls.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.lowlevel


class Subscription:
    def __init__(self, hub: LocalPubSub) -> None:
        self._hub = hub
        self._inbox: list[bytes] = []
        self._waiting: tuple[anyio.Event, Any, int] | None = None

    async def receive(self, channels: Sequence[str], timeout: float) -> list[bytes]:
        """Messages on ``channels`` (waiting up to ``timeout`` s for the first one)."""
        self._hub.subscribe(self, channels)
        event = anyio.Event()
        with self._hub.lock:
            if not self._inbox:
                self._waiting = (event, anyio.lowlevel.current_token().native_token, threading.get_ident())
        if self._waiting is not None:
            try:
                with anyio.move_on_after(timeout):
                    await event.wait()
            finally:
                with self._hub.lock:
                    self._waiting = None
        with self._hub.lock:
            messages, self._inbox = self._inbox, []
        return messages

    def deliver(self, data: bytes) -> None:
        """Called with the hub's lock held."""
        self._inbox.append(data)
        if self._waiting is None:
            return
        event, native, thread = self._waiting
        if thread == threading.get_ident():
            event.set()
            return
        try:
            if hasattr(native, "call_soon_threadsafe"):  # an asyncio loop
                native.call_soon_threadsafe(event.set)
            else:  # a trio.lowlevel.TrioToken
                native.run_sync_soon(event.set)
        except RuntimeError:
            pass  # that loop has closed; nobody is waiting any more

    def close(self) -> None:
        self._hub.unsubscribe(self)


class LocalPubSub:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._subscribers: dict[str, set[Subscription]] = {}

    def subscription(self) -> Subscription:
        return Subscription(self)

    def subscribe(self, subscription: Subscription, channels: Sequence[str]) -> None:
        with self.lock:
            for channel in channels:
                self._subscribers.setdefault(channel, set()).add(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        with self.lock:
            for subscribers in self._subscribers.values():
                subscribers.discard(subscription)

    def publish(self, channel: str, data: bytes) -> None:
        with self.lock:
            for subscription in self._subscribers.get(channel, ()):
                subscription.deliver(data)
