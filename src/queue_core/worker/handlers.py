"""The worker's handler table: job type -> handler with its options, middleware and groups.

Registration happens before the worker runs. At start the table is frozen and each
handler's chain is composed once (``routes``): worker middleware, then its group's,
then its own, around the call of the handler itself -- awaited for an ``async def``,
run on a worker thread (under the worker's thread limit) for a plain ``def``.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from queue_core import errors, validation
from queue_core.events import collect
from queue_core.retry import RetryPolicy
from queue_core.worker import ratelimit
from queue_core.worker.middleware import CallNext, Middleware, compose
from queue_core.worker.middleware import checked as checked_middleware
from queue_core.worker.ratelimit import RateLimit

if TYPE_CHECKING:
    from queue_core.worker.delivery import Delivery

#: ``async def handler(delivery) -> result`` -- or a plain ``def``, run on a worker thread.
Handler = Callable[["Delivery"], Awaitable[Any]] | Callable[["Delivery"], Any]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """A registered handler and its options."""

    type: str
    fn: Handler
    retry_delay: RetryPolicy | None = None
    #: False for a plain function, which runs on a worker thread.
    is_async: bool = True
    #: serve jobs of this type from this queue only (None: from every queue of the worker).
    queue: str | None = None
    #: seconds one attempt may run (the earliest of this, the job's timeout and deadline wins).
    timeout: float | None = None
    rate_limit: RateLimit | None = None
    middleware: tuple[Middleware, ...] = ()
    #: the middleware group it was registered through.
    group: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """A handler with its middleware chain, composed at start."""

    spec: HandlerSpec
    call: CallNext


class Group:
    """Handlers registered through one group share the group's middleware.

    ``worker.group(name)`` returns the same group for the same name. Middleware added
    with ``use`` applies to every handler of the group, also those registered before
    the ``use`` call: chains are composed when the worker starts.
    """

    def __init__(self, name: str, table: HandlerTable) -> None:
        self.name = name
        self._table = table
        self.middleware: list[Middleware] = []

    def use(self, *items: Middleware) -> Group:
        """Add middleware for this group's handlers (the first added is the outermost)."""
        self._table.check_open("add group middleware")
        self.middleware.extend(checked_middleware(items))
        return self

    def register(self, job_type: str, fn: Handler, **options: Any) -> HandlerSpec:
        """``worker.register`` for a handler of this group (same options)."""
        return self._table.add(job_type, fn, group=self.name, **options)

    def handler(self, job_type: str, **options: Any) -> Callable[[H], H]:
        """Decorator form of ``register``; returns the function unchanged."""

        def decorate(fn: H) -> H:
            self.register(job_type, fn, **options)
            return fn

        return decorate

    def __repr__(self) -> str:
        return f"<Group {self.name!r}: {len(self.middleware)} middleware>"


class HandlerTable:
    """Handlers by job type, the worker's and the groups' middleware; frozen at start."""

    def __init__(self, queues: Collection[str]) -> None:
        self.queues = list(queues)
        self._specs: dict[str, HandlerSpec] = {}
        self._middleware: list[Middleware] = []
        self._groups: dict[str, Group] = {}
        self._frozen = False

    # ----------------------------------------------------------------- registration

    def add(
        self,
        job_type: str,
        fn: Handler,
        *,
        retry_delay: RetryPolicy | None = None,
        queue: str | None = None,
        timeout: float | timedelta | None = None,
        rate_limit: RateLimit | None = None,
        middleware: Iterable[Middleware] = (),
        group: str | None = None,
    ) -> HandlerSpec:
        self.check_open(f"register a handler for {job_type!r}")
        validation.job_type(job_type)
        if not callable(fn):
            raise errors.InvalidWorkerOption("fn", fn, "a callable taking a Delivery (async def or def)")
        if retry_delay is not None and not callable(retry_delay):
            raise errors.InvalidWorkerOption(
                "retry_delay", retry_delay, "a callable (retried: int, error: BaseException) -> seconds"
            )
        if queue is not None:
            validation.queue_name(queue, "queue")
            if queue not in self.queues:
                served = ", ".join(repr(q) for q in self.queues)
                raise errors.InvalidWorkerOption(
                    "queue", queue, f"one of the queues this worker consumes ({served}); add it to Worker(queues=...)"
                )
        if timeout is not None:
            timeout = validation.seconds(timeout, "timeout", errors.InvalidWorkerOption, allow_zero=False)
        spec = HandlerSpec(
            job_type, fn, retry_delay, is_async=is_async_callable(fn), queue=queue, timeout=timeout,
            rate_limit=ratelimit.checked(rate_limit, "rate_limit"), middleware=checked_middleware(middleware),
            group=group,
        )  # fmt: skip
        if job_type in self._specs:
            raise errors.HandlerAlreadyRegistered(f"a handler for job type {job_type!r} is already registered")
        self._specs[job_type] = spec
        return spec

    def use(self, *items: Middleware) -> None:
        self.check_open("add worker middleware")
        self._middleware.extend(checked_middleware(items))

    def group(self, name: str) -> Group:
        if not isinstance(name, str) or not name:
            raise errors.InvalidWorkerOption("group", name, "a non-empty group name")
        if name not in self._groups:
            self.check_open(f"create group {name!r}")
            self._groups[name] = Group(name, self)
        return self._groups[name]

    def check_open(self, action: str) -> None:
        if self._frozen:
            raise errors.WorkerAlreadyStarted(f"cannot {action}: the worker is already running; do it before run()")

    # ----------------------------------------------------------------- at start

    def freeze(self) -> None:
        self._frozen = True

    def routes(self, threads: anyio.CapacityLimiter, outer: Sequence[Middleware] = ()) -> dict[str, Route]:
        """Each handler's chain, composed once: ``outer`` (the plugins'), then worker, group
        and handler middleware."""
        routes = {}
        for job_type, spec in self._specs.items():
            group = self._groups[spec.group].middleware if spec.group is not None else []
            chain = [*outer, *self._middleware, *group, *spec.middleware]
            routes[job_type] = Route(spec, compose(chain, _endpoint(spec, threads)))
        return routes

    def get(self, job_type: str) -> HandlerSpec | None:
        return self._specs.get(job_type)

    def types(self) -> list[str]:
        return sorted(self._specs)

    def __len__(self) -> int:
        return len(self._specs)


def _endpoint(spec: HandlerSpec, threads: anyio.CapacityLimiter) -> CallNext:
    fn: Any = spec.fn
    if spec.is_async:
        return fn  # type: ignore[no-any-return]

    async def in_thread(delivery: Delivery) -> Any:
        # Abandoned on cancel: a thread cannot be interrupted, so a timed-out or
        # cancelled attempt ends now and the thread's late return is ignored.
        result = await anyio.to_thread.run_sync(
            functools.partial(fn, delivery), abandon_on_cancel=True, limiter=threads
        )
        if inspect.isawaitable(result):  # a plain def that returned a coroutine
            result = await result
        return result

    return in_thread


def plugin_middleware(worker_id: str, queues: list[str], log: logging.Logger) -> list[Middleware]:
    """The middleware plugins give a starting worker (``queue_core_worker_middleware``);
    an item that is not middleware is logged and left out."""
    chain: list[Middleware] = []
    for items in collect("worker_middleware", log, worker_id=worker_id, queues=queues):
        for item in items:
            try:
                chain.extend(checked_middleware([item], "queue_core_worker_middleware"))
            except errors.QueueError as exc:
                log.error("plugin middleware left out: %s", exc)
    return chain


def is_async_callable(fn: Any) -> bool:
    # A callable object counts as async when its __call__ is a coroutine function.
    call = type(fn).__call__ if not inspect.isroutine(fn) else None
    return inspect.iscoroutinefunction(fn) or (call is not None and inspect.iscoroutinefunction(call))
