"""The task registry: where tasks are defined, shared by producers and workers.

::

    tasks = TaskRegistry()

    @tasks.task(name="email.send", queue="emails", max_retries=3, timeout=30)
    async def send_email(to: str, subject: str) -> bool: ...

    worker = Worker(url, tasks=tasks)      # registers every task; consumes their queues

A module of tasks imports nothing but queue-core: the producer imports it to enqueue,
the worker to run.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Concatenate, overload

from queue_core import errors, validation
from queue_core.job import DEFAULT_MAX_RETRIES, DEFAULT_QUEUE
from queue_core.retry import RetryPolicy
from queue_core.tasks.task import DEFAULT_RESULT_RETENTION, P, R, Task
from queue_core.worker.delivery import Delivery

if TYPE_CHECKING:
    from queue_core.worker.handlers import HandlerSpec


class TaskDecorator:
    """``@registry.task(...)``: turns the function into a ``Task`` and registers it.

    The task's parameters are the function's; an ``async def`` task's result is what its
    coroutine returns. A function whose first parameter is annotated ``Delivery`` gets
    the worker's ``Delivery`` there and takes the rest from the producer.
    """

    def __init__(self, registry: TaskRegistry, name: str, options: dict[str, Any], retry_delay: RetryPolicy | None):
        self._registry = registry
        self._name = name
        self._options = options
        self._retry_delay = retry_delay

    # The overloads are tried in order and overlap on purpose (a coroutine function also
    # fits ``Callable[P, R]``, a Delivery-first function also fits ``Callable[P, R]``):
    # the first that fits is the precise one.
    @overload
    def __call__(self, fn: Callable[Concatenate[Delivery, P], Coroutine[Any, Any, R]]) -> Task[P, R]: ...

    @overload
    def __call__(self, fn: Callable[Concatenate[Delivery, P], R]) -> Task[P, R]: ...

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]]) -> Task[P, R]: ...

    @overload
    def __call__(self, fn: Callable[P, R]) -> Task[P, R]: ...

    def __call__(self, fn: Callable[..., Any]) -> Task[Any, Any]:
        if not callable(fn):
            raise errors.InvalidTaskDefinition("fn", fn, "a function (async def or def)")
        task: Task[Any, Any] = Task(self._name, fn, self._options, retry_delay=self._retry_delay)
        self._registry.add(task)
        return task


class TaskRegistry:
    """Tasks by name. ``@registry.task(...)`` defines one; ``Worker(tasks=registry)``
    runs them all. Iterating gives the tasks in definition order."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task[Any, Any]] = {}

    def task(
        self,
        *,
        name: str,
        queue: str = DEFAULT_QUEUE,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float | timedelta | None = None,
        retention: float | timedelta = DEFAULT_RESULT_RETENTION,
        retry_delay: RetryPolicy | None = None,
        **job_options: Any,
    ) -> TaskDecorator:
        """Define a task of job type ``name``.

        - ``queue``, ``max_retries`` (0: no retries), ``timeout`` (seconds per attempt):
          as for ``Job``, on every job of the task.
        - ``retention``: how long a completed job and its result are kept (default one
          hour, so results can be awaited); 0 keeps nothing and ``result()`` is refused.
        - ``retry_delay(retried, error) -> seconds``: the worker's backoff for this task.
        - ``job_options``: any other ``Job`` option for every job (``deadline``,
          ``unique_for``, ``headers``...); ``Task.with_options`` changes them per call.

        Raises ``InvalidTaskDefinition`` for a name already defined here, a parameter
        without a supported annotation, ``*args``/``**kwargs``, or a bad option.
        """
        validation.job_type(name)
        if name in self._tasks:
            raise errors.InvalidTaskDefinition("name", name, "a task name not defined yet in this registry")
        if retry_delay is not None and not callable(retry_delay):
            raise errors.InvalidTaskDefinition("retry_delay", retry_delay, "a callable (retried, error) -> seconds")
        options = {"queue": queue, "max_retries": max_retries, "retention": retention, **job_options}
        if timeout is not None:
            options["timeout"] = timeout
        return TaskDecorator(self, name, options, retry_delay)

    def add(self, task: Task[Any, Any]) -> None:
        """Register a ``Task`` built elsewhere (``@registry.task`` does this)."""
        if task.name in self._tasks:
            raise errors.InvalidTaskDefinition("name", task.name, "a task name not defined yet in this registry")
        self._tasks[task.name] = task

    def __getitem__(self, name: str) -> Task[Any, Any]:
        return self._tasks[name]

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self) -> Iterator[Task[Any, Any]]:
        return iter(list(self._tasks.values()))

    def __len__(self) -> int:
        return len(self._tasks)

    def queues(self) -> list[str]:
        """The queues the tasks go to, in definition order."""
        return list(dict.fromkeys(task.queue for task in self._tasks.values()))

    def register_with(self, register: Callable[..., HandlerSpec]) -> None:
        """Register every task's handler through ``register`` (``Worker.register``)."""
        for task in self._tasks.values():
            register(task.name, task.handler(), retry_delay=task.retry_delay, timeout=task.timeout)

    def __repr__(self) -> str:
        return f"<TaskRegistry {', '.join(self._tasks) or 'empty'}>"
