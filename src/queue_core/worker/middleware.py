"""Middleware: async code wrapped around every attempt of a handler.

::

    async def timing(delivery: Delivery, call_next: CallNext) -> Any:
        started = time.perf_counter()
        try:
            return await call_next(delivery)
        finally:
            log.info("%s took %.3fs", delivery.type, time.perf_counter() - started)

    worker.use(timing)                          # every handler
    worker.group("billing").use(audit)          # handlers registered through that group
    worker.register("pay", pay, middleware=[idempotency])   # one handler

A middleware gets the delivery and ``call_next``, the rest of the chain (the next
middleware, the handler at the end). It may:

- **short-circuit**: return a value without calling ``call_next``; the value is the
  job's result, exactly as if the handler had returned it;
- **wrap errors**: catch what ``call_next`` raises and raise something else (for
  example ``SkipRetry`` for an error it knows is permanent);
- **time, trace, log** around ``call_next``.

Whatever a middleware raises is the attempt's failure, recorded on the job like a
handler's. Chains are composed once, when the worker starts; the order is fixed:
worker middleware outermost, then the group's, then the handler's own, and within each
level the first added is the outermost.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from queue_core import errors

if TYPE_CHECKING:
    from queue_core.worker.delivery import Delivery

#: the rest of the chain: ``await call_next(delivery)`` runs it and returns the result.
CallNext = Callable[["Delivery"], Awaitable[Any]]
#: ``async def middleware(delivery, call_next) -> result``.
Middleware = Callable[["Delivery", CallNext], Awaitable[Any]]


def checked(middleware: Iterable[Any], field: str = "middleware") -> tuple[Middleware, ...]:
    """The given middleware as a tuple, each checked to be an async callable."""
    if callable(middleware):
        raise errors.InvalidWorkerOption(field, middleware, "a list of middleware, not a single callable")
    items = tuple(middleware)
    for item in items:
        if not _is_async_callable(item):
            raise errors.InvalidWorkerOption(
                field, item, "an async callable: async def middleware(delivery, call_next) -> result"
            )
    return items


def compose(middleware: Sequence[Middleware], endpoint: CallNext) -> CallNext:
    """One callable running ``middleware`` around ``endpoint``, the first outermost."""
    call = endpoint
    for item in reversed(middleware):
        call = _link(item, call)
    return call


def _link(middleware: Middleware, call_next: CallNext) -> CallNext:
    async def step(delivery: Delivery) -> Any:
        return await middleware(delivery, call_next)

    return step


def _is_async_callable(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 -- a callable object's own __call__
    return callable(fn) and not inspect.isroutine(fn) and inspect.iscoroutinefunction(call)
