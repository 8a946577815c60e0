"""Job states and the legal transitions between them.

This table is the single source for the reference model, the drivers' tests and the
Manager's errors. Each entry reads "from -> to: trigger".
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import NoReturn

from queue_core.errors import InvalidDependency, InvalidJobState, OperationNotAllowed


class JobState(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    RETRY = "retry"
    COMPLETED = "completed"
    ARCHIVED = "archived"
    AGGREGATING = "aggregating"
    #: enqueued with dependencies that have not all completed yet.
    WAITING = "waiting"

    @classmethod
    def parse(cls, value: str | JobState) -> JobState:
        try:
            return cls(value)
        except ValueError:
            accepted = ", ".join(s.value for s in cls)
            raise InvalidJobState("state", value, f"one of {accepted}") from None


# ``None`` stands for "no job" (before enqueue, after deletion).
Transition = tuple[JobState | None, JobState | None]

TRANSITIONS: dict[Transition, str] = {
    (None, JobState.PENDING): "enqueue, due now",
    (None, JobState.SCHEDULED): "enqueue with delay or schedule_at in the future",
    (None, JobState.AGGREGATING): "enqueue with a group, due now",
    (None, JobState.WAITING): "enqueue with a dependency not yet completed",
    (None, JobState.ARCHIVED): "enqueue after a dependency already archived, policy 'cancel'",
    (JobState.WAITING, JobState.PENDING): (
        "the last dependency completed (or failed under policy 'run'), in the same transition; or run by operator"
    ),
    (JobState.WAITING, JobState.SCHEDULED): "as waiting -> pending, the job's process time still ahead",
    (JobState.WAITING, JobState.ARCHIVED): (
        "a dependency was archived or deleted under policy 'cancel'; or archive (or cancel) by operator"
    ),
    (JobState.WAITING, None): "delete by operator",
    (JobState.SCHEDULED, JobState.PENDING): "forward_due: process time reached",
    (JobState.RETRY, JobState.PENDING): "forward_due: retry time reached",
    (JobState.SCHEDULED, JobState.AGGREGATING): "forward_due: process time reached, job has a group",
    (JobState.RETRY, JobState.AGGREGATING): "forward_due: retry time reached, job has a group",
    (JobState.PENDING, JobState.ACTIVE): "dequeue (queue not paused)",
    (JobState.PENDING, JobState.ARCHIVED): "dequeue found the deadline passed; or archive (or cancel) by operator",
    (JobState.ACTIVE, None): "success without retention; or Revoke",
    (JobState.ACTIVE, JobState.COMPLETED): "success with retention",
    (JobState.ACTIVE, JobState.RETRY): "failure with retries left; or a transient bounce",
    (JobState.ACTIVE, JobState.ARCHIVED): "failure with no retries left; SkipRetry; cancel",
    (JobState.ACTIVE, JobState.PENDING): "requeue at shutdown; or lease expired (recover_expired)",
    (JobState.COMPLETED, None): "retention elapsed (purge_expired); or delete by operator",
    (JobState.ARCHIVED, None): "archive cap by count or age (purge_expired); or delete by operator",
    (JobState.ARCHIVED, JobState.PENDING): "run by operator",
    (JobState.SCHEDULED, JobState.ARCHIVED): "archive (or cancel) by operator",
    (JobState.RETRY, JobState.ARCHIVED): "archive (or cancel) by operator",
    (JobState.AGGREGATING, JobState.ARCHIVED): "archive (or cancel) by operator",
    (JobState.AGGREGATING, JobState.PENDING): "run by operator",
    (JobState.AGGREGATING, None): "aggregated into a new job; or delete by operator",
    (JobState.PENDING, None): "delete by operator",
    (JobState.SCHEDULED, None): "delete by operator",
    (JobState.RETRY, None): "delete by operator",
}


def is_legal(source: JobState | None, target: JobState | None) -> bool:
    return (source, target) in TRANSITIONS


# Which operator action is allowed on a job in each state (the Manager's matrix).
#: Running a waiting job releases it by hand, whatever its dependencies.
RUNNABLE = frozenset({JobState.SCHEDULED, JobState.RETRY, JobState.ARCHIVED, JobState.AGGREGATING, JobState.WAITING})
ARCHIVABLE = frozenset({JobState.PENDING, JobState.SCHEDULED, JobState.RETRY, JobState.AGGREGATING, JobState.WAITING})
DELETABLE = frozenset(s for s in JobState if s is not JobState.ACTIVE)
#: Cancelling an active job stops its handler; any other of these is archived as cancelled.
CANCELLABLE = frozenset(
    {JobState.ACTIVE, JobState.PENDING, JobState.SCHEDULED, JobState.RETRY, JobState.AGGREGATING, JobState.WAITING}
)

#: Each operator action with the states it accepts, in the order the Manager lists them.
ACTIONS: dict[str, frozenset[JobState]] = {
    "run": RUNNABLE,
    "archive": ARCHIVABLE,
    "delete": DELETABLE,
    "cancel": CANCELLABLE,
}


class DependencyPolicy(StrEnum):
    """What a waiting job does when one of its dependencies is archived, cancelled or deleted."""

    CANCEL = "cancel"  # archived as cancelled; its own dependents apply their policies in turn
    RUN = "run"  # the dependency counts as finished; released once the others complete
    WAIT = "wait"  # keeps waiting: for the dependency to be run again, or for an operator

    @classmethod
    def parse(cls, value: str | DependencyPolicy) -> DependencyPolicy:
        try:
            return cls(value)
        except ValueError:
            raise InvalidDependency("on_dependency_failure", value, "one of cancel, run, wait") from None


def allowed_actions(state: JobState) -> tuple[str, ...]:
    """The operator actions a job in ``state`` accepts (empty for none)."""
    return tuple(action for action, states in ACTIONS.items() if state in states)


#: How a bulk action names itself in ``GroupRequired`` (the Manager's words).
GERUNDS = {"run": "running", "archive": "archiving", "delete": "deleting"}


def refuse(
    action: str, queue: str, state: JobState, allowed: Collection[JobState], job_id: str | None = None
) -> NoReturn:
    """Raise the ``OperationNotAllowed`` every driver gives when ``action`` meets a job (or,
    without ``job_id``, a bulk action meets a state) outside ``allowed``."""
    names = tuple(sorted(s.value for s in allowed))
    instead = allowed_actions(state)
    if job_id:
        subject = f"cannot {action} job {job_id!r} in queue {queue!r}: it is {state.value}"
        article = "an" if state.value[0] in "aeiou" else "a"
        hint = f"; {article} {state.value} job can be: {', '.join(instead)}"
    else:
        subject = f"cannot {action} all {state.value} jobs of queue {queue!r}"
        hint = "; cancel active jobs instead" if state is JobState.ACTIVE and action != "cancel" else ""
    raise OperationNotAllowed(
        f"{subject}; {action} is allowed for {', '.join(names)} jobs{hint}",
        action=action,
        state=state.value,
        allowed=names,
        allowed_actions=instead,
        queue=queue,
        job_id=job_id,
    )
