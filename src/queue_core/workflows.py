"""Building blocks for workflows: chains and fan-in groups of jobs.

Both only prepare jobs (IDs given, ``depends_on`` filled in); nothing is written until
they are enqueued, best in one ``Client.enqueue_flow`` call, which stores every job of a
queue in one atomic step or none. Dependencies stay inside one queue, so every job of a
chain or a group shares the queue of its first job unless it names the same queue.

    flow = chain(Job.create("fetch", url), Job.create("parse"), Job.create("store"), pass_result=True)
    fan_in = group([Job.create("resize", n) for n in sizes], then=Job.create("publish"))
    await client.enqueue_flow([*flow, *fan_in])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import MappingProxyType

from queue_core import errors
from queue_core.job import PREVIOUS_HEADER, Job


def _linked(job: Job, depends_on: Sequence[str], queue: str, *, pass_result: bool = False) -> Job:
    if job.queue != queue:
        raise errors.InvalidDependency(
            "queue", job.queue, f"the queue of the flow's first job ({queue!r}): dependencies stay in one queue"
        )
    headers = dict(job.headers)
    if pass_result:
        headers[PREVIOUS_HEADER] = "1"
    job = job.with_id()
    merged = tuple(dict.fromkeys((*job.depends_on, *depends_on)))
    return job.with_options(depends_on=merged, headers=MappingProxyType(headers))


def chain(*jobs: Job, pass_result: bool = False) -> list[Job]:
    """The jobs, each waiting for the one before it (the first for nothing new).

    With ``pass_result`` every job after the first gets the previous job's result as
    the ``previous`` field of its decoded payload (``Delivery.decode``): the payload must
    decode to a mapping or to ``None``. Each job keeps its own ``on_dependency_failure``
    (default ``cancel``: a failed link cancels the rest of the chain).
    """
    if not jobs:
        raise errors.InvalidDependency("jobs", jobs, "at least one Job")
    queue = jobs[0].queue
    linked = [jobs[0].with_id()]
    for job in jobs[1:]:
        previous = linked[-1].job_id
        assert previous is not None
        linked.append(_linked(job, (previous,), queue, pass_result=pass_result))
    return linked


def group(jobs: Iterable[Job], *, then: Job) -> list[Job]:
    """Fan-out and fan-in: ``jobs`` run in parallel, ``then`` waits for all of them and
    reads their results through ``Delivery.dependency_results()``."""
    members = [job.with_id() for job in jobs]
    if not members:
        raise errors.InvalidDependency("jobs", members, "at least one Job")
    queue = members[0].queue
    for member in members:
        if member.queue != queue:
            raise errors.InvalidDependency("queue", member.queue, f"one queue for the whole group ({queue!r})")
    ids = [member.job_id for member in members if member.job_id is not None]
    return [*members, _linked(then, ids, queue)]
