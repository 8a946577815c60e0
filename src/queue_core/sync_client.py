"""A blocking Client for sync code: Django and Flask views, management commands, scripts.

::

    from queue_core import SyncClient

    client = SyncClient("redis://localhost:6379/0")       # once, at start-up
    info = client.enqueue("email.send", {"to": "a@example.com"})
    ...
    client.close()                                         # at shutdown

A ``SyncClient`` runs an event loop on its own daemon thread (an anyio blocking portal)
with an async ``Client`` on it; each call hands the work to that loop and blocks until
it is done. It is safe to share between threads: their calls run concurrently on the
one loop and its connection pool.

It opens its broker from a URL only: a ``Broker`` object belongs to the event loop that
opened it. On ``memory://`` it shares the process-wide in-memory server, so an async
``Worker`` in the same process sees its jobs at once.

Do not call it from ``async def`` code: it would block that event loop while it waits.
Use ``Client`` there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar, Unpack

from anyio.from_thread import BlockingPortal, start_blocking_portal

from queue_core import errors
from queue_core.broker import EnqueueOutcome, JobInfo
from queue_core.client import DEFAULT_CHUNK_SIZE, Client, ClientSettings, JobLike
from queue_core.extras import require_backend
from queue_core.job import DEFAULT_QUEUE, Job
from queue_core.registry import DEFAULT_URL

T = TypeVar("T")


class SyncClient:
    """The blocking twin of ``Client``: the same options and calls, without ``await``.

    ``backend`` is the event loop the portal thread runs ("asyncio" or "trio").
    The broker is opened here, so a wrong URL or an unreachable driver shows at
    start-up; ``close()`` (or leaving a ``with`` block) closes it and stops the thread.
    Every other option is ``Client``'s.
    """

    def __init__(
        self, url: str = DEFAULT_URL, *, backend: str = "asyncio", **client_options: Unpack[ClientSettings]
    ) -> None:
        if not isinstance(url, str):
            raise errors.InvalidBrokerURL(
                "url", url, "a URL string (a Broker object belongs to its own event loop; SyncClient opens its own)"
            )
        # Every option is checked here, before a thread is started.
        self._client = Client(url, **client_options)
        self._stack = contextlib.ExitStack()
        require_backend(backend)
        portal = self._stack.enter_context(start_blocking_portal(backend, name=f"queue-core SyncClient {url}"))
        try:
            portal.call(self._client.open)
        except BaseException:
            self._stack.close()
            raise
        self._portal: BlockingPortal | None = portal

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the broker and stop the event-loop thread. Idempotent."""
        portal, self._portal = self._portal, None
        if portal is None:
            return
        try:
            portal.call(self._client.aclose)
        finally:
            self._stack.close()

    @property
    def closed(self) -> bool:
        return self._portal is None

    @property
    def client(self) -> Client:
        """The async ``Client`` underneath (its ``clock``, ``serializer``, ``log``...)."""
        return self._client

    def _call(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        portal = self._portal
        if portal is None:
            raise errors.NotOpen("this SyncClient is closed; create a new one")
        return portal.call(function, *args)

    def run(self, function: Callable[[], Awaitable[T]]) -> T:
        """Run an async function on the client's event loop and return its result (for
        async helpers built on ``client``, such as a ``TaskJob``'s)."""
        return self._call(function)

    # ----------------------------------------------------------------- calls

    def ping(self) -> None:
        """Raise ``BrokerUnavailable`` unless the broker answers."""
        self._call(self._client.ping)

    def enqueue(self, type: str, payload: Any = None, *, connection: object = None, **job_options: Any) -> JobInfo:
        """``Client.enqueue``: encode ``payload``, enqueue one job, return its ``JobInfo``.
        ``connection``: a sync connection of the broker's database (for postgresql://, a
        psycopg ``Connection``, e.g. Django's): the job is written inside its open
        transaction and exists only if that commits."""

        async def enqueue() -> JobInfo:
            return await self._client.enqueue(type, payload, connection=connection, **job_options)

        return self._call(enqueue)

    def enqueue_job(self, job: Job, *, connection: object = None) -> JobInfo:
        """``Client.enqueue_job``: enqueue a built ``Job`` (``connection`` as ``enqueue``)."""

        async def enqueue_job() -> JobInfo:
            return await self._client.enqueue_job(job, connection=connection)

        return self._call(enqueue_job)

    def enqueue_many(
        self, jobs: Iterable[Job], chunk_size: int = DEFAULT_CHUNK_SIZE, *, connection: object = None
    ) -> list[EnqueueOutcome]:
        """``Client.enqueue_many``: one broker call per chunk, one outcome per job
        (``connection`` as ``enqueue``)."""
        listed = list(jobs)

        async def enqueue_many() -> list[EnqueueOutcome]:
            return await self._client.enqueue_many(listed, chunk_size, connection=connection)

        return self._call(enqueue_many)

    def wait(
        self, jobs: Iterable[JobLike], timeout: float | timedelta | None = None, *, queue: str = DEFAULT_QUEUE
    ) -> list[JobInfo | None]:
        """``Client.wait``: block until every job has finished; their final ``JobInfo``."""

        async def wait() -> list[JobInfo | None]:
            return await self._client.wait(list(jobs), timeout, queue=queue)

        return self._call(wait)

    def result(self, job: JobLike, timeout: float | timedelta | None = None, *, queue: str = DEFAULT_QUEUE) -> Any:
        """``Client.result``: block until the job has finished; its decoded result."""

        async def result() -> Any:
            return await self._client.result(job, timeout, queue=queue)

        return self._call(result)

    def result_bytes(
        self, job: JobLike, timeout: float | timedelta | None = None, *, queue: str = DEFAULT_QUEUE
    ) -> bytes | None:
        """``Client.result_bytes``: block until the job has finished; its stored result bytes."""

        async def result_bytes() -> bytes | None:
            return await self._client.result_bytes(job, timeout, queue=queue)

        return self._call(result_bytes)
