"""In-process wake-ups for memory:// brokers, across event loops and threads.

A waiter parks an ``anyio.Event`` on the channels it cares about; a publisher sets every
parked event, scheduling the set on the waiter's own loop when it lives on another
thread (a ``SyncClient`` runs its loop on a portal thread). Nothing polls.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel


@dataclass(eq=False)
class _Waiter:
    event: anyio.Event
    token: anyio.lowlevel.EventLoopToken
    thread: int = field(default_factory=threading.get_ident)

    def wake(self) -> None:
        if self.thread == threading.get_ident():
            self.event.set()
            return
        native: Any = self.token.native_token
        try:
            if hasattr(native, "call_soon_threadsafe"):  # asyncio loop
                native.call_soon_threadsafe(self.event.set)
            else:  # trio.lowlevel.TrioToken
                native.run_sync_soon(self.event.set)
        except RuntimeError:
            pass  # that loop has closed; its waiter is gone


class LocalNotifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[_Waiter]] = {}

    async def wait(self, channels: Sequence[str], timeout: float) -> None:
        waiter = _Waiter(anyio.Event(), anyio.lowlevel.current_token())
        with self._lock:
            for channel in channels:
                self._waiters.setdefault(channel, set()).add(waiter)
        try:
            with anyio.move_on_after(timeout):
                await waiter.event.wait()
        finally:
            with self._lock:
                for channel in channels:
                    self._waiters.get(channel, set()).discard(waiter)

    def publish(self, channel: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(channel, ()))
        for waiter in waiters:
            waiter.wake()
