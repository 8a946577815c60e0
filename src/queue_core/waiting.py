"""Waiting for jobs to finish, woken by the broker's announcements instead of polling.

A job has finished when it is completed or archived, or gone (deleted: completed
without retention, revoked, purged, deleted by an operator). ``Broker.wait_for_finished``
announces each such job on its queue; a ``FinishWatch`` shares those announcements
among every task of one Client that waits, because a broker serves one call per queue
at a time:

- the first waiter of a queue subscribes (a zero-timeout call), and only then looks at
  its jobs, so a job that finishes between the look and the wait is announced to it;
- one waiter at a time listens on a queue and hands each announced ID to the waiters
  of that job; when it stops listening (its own jobs finished, or its time ran out),
  it wakes the others so that one of them takes over;
- a waiter that hears its job announced looks at it again (an ID may exist in another
  state by then, or in another queue).

A lost subscription (``BrokerUnavailable``) may have lost announcements: every waiter of
the queue looks at its jobs again after the next subscription.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import anyio

from queue_core import errors
from queue_core.broker import Broker, JobInfo
from queue_core.states import JobState

FINAL_STATES = frozenset({JobState.COMPLETED, JobState.ARCHIVED})


@dataclass(frozen=True, slots=True)
class JobRef:
    """A job by queue and ID."""

    queue: str
    id: str


@dataclass(eq=False)
class _Waiter:
    """One task waiting for some jobs of one queue."""

    ids: set[str]
    #: IDs announced (or to look at again) since the waiter last looked.
    heard: set[str] = field(default_factory=set)
    wake: anyio.Event = field(default_factory=anyio.Event)

    def notify(self, ids: Iterable[str] = ()) -> None:
        self.heard.update(ids)
        self.wake.set()


@dataclass(eq=False)
class _QueueWatch:
    subscribed: bool = False
    listening: bool = False
    waiters: set[_Waiter] = field(default_factory=set)


class FinishWatch:
    """Waits for jobs to finish, for every task of one broker user (a Client)."""

    def __init__(self, broker: Callable[[], Broker], now: Callable[[], float]) -> None:
        self._broker = broker
        self._now = now
        self._queues: dict[str, _QueueWatch] = {}

    async def wait(self, refs: Sequence[JobRef], timeout: float | None) -> dict[JobRef, JobInfo | None]:
        """Each job's final ``JobInfo`` (None for a job that is gone), once all have
        finished. Raises ``ResultTimeout`` naming the unfinished ones after ``timeout``
        seconds (None: no limit)."""
        deadline = anyio.current_time() + timeout if timeout is not None else None
        by_queue: dict[str, set[str]] = {}
        for ref in refs:
            by_queue.setdefault(ref.queue, set()).add(ref.id)
        finished: dict[JobRef, JobInfo | None] = {}

        async def one_queue(queue: str, ids: set[str]) -> None:
            finished.update(await self._wait_queue(queue, ids, deadline))

        with anyio.move_on_after(timeout if timeout is not None else float("inf")):
            async with anyio.create_task_group() as tasks:
                for queue, ids in by_queue.items():
                    tasks.start_soon(one_queue, queue, ids)
        unfinished = [ref for ref in dict.fromkeys(refs) if ref not in finished]
        if unfinished:
            queues = sorted({ref.queue for ref in unfinished})
            shown = ", ".join(repr(ref.id) for ref in unfinished[:5]) + (" ..." if len(unfinished) > 5 else "")
            raise errors.ResultTimeout(
                f"job(s) {shown} in queue {', '.join(map(repr, queues))} did not finish within {timeout:g}s",
                job_ids=[ref.id for ref in unfinished],
                queue=queues[0],
            )
        return finished

    async def _wait_queue(self, queue: str, ids: set[str], deadline: float | None) -> dict[JobRef, JobInfo | None]:
        watch = self._queues.setdefault(queue, _QueueWatch())
        waiter = _Waiter(set(ids))
        watch.waiters.add(waiter)
        finished: dict[JobRef, JobInfo | None] = {}
        to_look = set(ids)
        try:
            while True:
                if not watch.subscribed:
                    await self._subscribe(queue, watch, waiter)
                for job_id in sorted(to_look & waiter.ids):
                    done, info = await self._look(queue, job_id)
                    if done:
                        finished[JobRef(queue, job_id)] = info
                        waiter.ids.discard(job_id)
                if not waiter.ids or (deadline is not None and anyio.current_time() >= deadline):
                    return finished
                if not waiter.heard:
                    if not watch.listening:
                        await self._listen(queue, watch, _remaining(deadline))
                    else:
                        waiter.wake = anyio.Event()
                        await waiter.wake.wait()
                to_look, waiter.heard = set(waiter.heard), set()
        finally:
            watch.waiters.discard(waiter)

    async def _subscribe(self, queue: str, watch: _QueueWatch, waiter: _Waiter) -> None:
        """Return once the queue is subscribed (by this waiter or by another)."""
        while not watch.subscribed:
            if watch.listening:
                waiter.wake = anyio.Event()
                await waiter.wake.wait()
            else:
                await self._listen(queue, watch, 0.0)

    async def _listen(self, queue: str, watch: _QueueWatch, timeout: float) -> None:
        """One call to the broker for the queue, its announcements handed to the waiters;
        then every waiter of the queue is woken, so one of them listens next."""
        watch.listening = True
        heard: list[str] = []
        lost = False
        try:
            heard = await self._broker().wait_for_finished(queue, timeout)
            watch.subscribed = True
        except errors.BrokerUnavailable:
            # Announcements may have been lost with the subscription: everyone looks again
            # once subscribed anew. Failing to subscribe at all is the caller's error.
            lost, watch.subscribed = watch.subscribed, False
            if not lost:
                raise
        finally:
            watch.listening = False
            for other in list(watch.waiters):
                other.notify(other.ids if lost else [job_id for job_id in heard if job_id in other.ids])

    async def _look(self, queue: str, job_id: str) -> tuple[bool, JobInfo | None]:
        """Whether the job has finished, and its info (None when it is gone)."""
        try:
            info = await self._broker().job_info(queue, job_id, self._now())
        except errors.JobNotFound:
            return True, None
        return info.state in FINAL_STATES, info


def _remaining(deadline: float | None) -> float:
    # The broker call needs a finite timeout; without a deadline a listener comes back
    # every minute (and listens again): nothing is polled, it only renews its call.
    if deadline is None:
        return 60.0
    return max(0.0, deadline - anyio.current_time())


#: the reason the worker and ``Broker.request_cancel`` archive a cancelled job with.
CANCELLED = "cancelled"


async def final_result(broker: Broker, ref: JobRef, info: JobInfo | None) -> bytes | None:
    """The stored result bytes of a finished job (None when it returned nothing), or the
    error its outcome calls for: ``JobCancelled``, ``JobFailed`` with its stored error,
    or ``JobNotFound`` for a job deleted before its result was read."""
    if info is None:
        gone = errors.JobNotFound(ref.queue, ref.id)
        gone.args = (
            f"job {ref.id!r} in queue {ref.queue!r} is gone: it was deleted (completed without retention, "
            "revoked, purged after its retention, or deleted by an operator) before its result was read",
        )
        raise gone
    if info.state is JobState.ARCHIVED:
        if info.last_error == CANCELLED:
            raise errors.JobCancelled(f"job {ref.id!r} in queue {ref.queue!r} was cancelled", job_id=ref.id,
                                      queue=ref.queue)  # fmt: skip
        raise errors.JobFailed(
            f"job {ref.id!r} ({info.type}) in queue {ref.queue!r} failed: {info.last_error or 'archived'}",
            job_id=ref.id,
            queue=ref.queue,
            error=info.last_error,
        )
    if not info.has_result:
        return None
    return await broker.job_result(ref.queue, ref.id)
