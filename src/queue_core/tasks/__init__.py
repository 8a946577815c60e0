"""Typed tasks: define a function once, enqueue it with checked arguments, await its result.

See ``registry`` (defining), ``task`` (enqueueing and awaiting), ``signature`` and
``codec`` (how arguments and results are checked and stored).
"""

from queue_core.tasks.registry import TaskDecorator, TaskRegistry
from queue_core.tasks.task import DEFAULT_RESULT_RETENTION, SyncTaskJob, Task, TaskCall, TaskJob

__all__ = ["DEFAULT_RESULT_RETENTION", "SyncTaskJob", "Task", "TaskCall", "TaskDecorator", "TaskJob", "TaskRegistry"]
