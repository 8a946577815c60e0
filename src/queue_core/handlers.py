"""The worker's handler table: job type -> the function that runs it, with its options."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from queue_core import errors, validation
from queue_core.retry import RetryPolicy

if TYPE_CHECKING:
    from queue_core.delivery import Delivery

#: ``async def handler(delivery) -> result`` -- or a plain ``def``, run on a worker thread.
Handler = Callable[["Delivery"], Awaitable[Any]] | Callable[["Delivery"], Any]


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    type: str
    fn: Handler
    retry_delay: RetryPolicy | None = None
    #: False for a plain function, which runs on a worker thread.
    is_async: bool = True


class HandlerRegistry:
    """Handlers by job type; closed for changes once the worker starts."""

    def __init__(self) -> None:
        self._specs: dict[str, HandlerSpec] = {}
        self._frozen = False

    def add(self, job_type: str, fn: Handler, *, retry_delay: RetryPolicy | None = None) -> HandlerSpec:
        if self._frozen:
            raise errors.WorkerAlreadyStarted(
                f"cannot register a handler for {job_type!r}: the worker is already running; register before run()"
            )
        validation.job_type(job_type)
        if not callable(fn):
            raise errors.InvalidWorkerOption("fn", fn, "a callable taking a Delivery (async def or def)")
        if retry_delay is not None and not callable(retry_delay):
            raise errors.InvalidWorkerOption(
                "retry_delay", retry_delay, "a callable (retried: int, error: BaseException) -> seconds"
            )
        if job_type in self._specs:
            raise errors.HandlerAlreadyRegistered(f"a handler for job type {job_type!r} is already registered")
        spec = HandlerSpec(job_type, fn, retry_delay, is_async=_is_async(fn))
        self._specs[job_type] = spec
        return spec

    def get(self, job_type: str) -> HandlerSpec | None:
        return self._specs.get(job_type)

    def freeze(self) -> None:
        self._frozen = True

    def types(self) -> list[str]:
        return sorted(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


def _is_async(fn: Any) -> bool:
    # A callable object counts as async when its __call__ is a coroutine function.
    call = type(fn).__call__ if not inspect.isroutine(fn) else None
    return inspect.iscoroutinefunction(fn) or (call is not None and inspect.iscoroutinefunction(call))
