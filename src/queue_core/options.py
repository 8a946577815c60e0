"""What WorkerOptions and SchedulerOptions share: their fields stay readable on their owner."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


class Option(Generic[T]):
    """A field of ``owner.options``, read as an attribute of the owner: ``worker.concurrency``
    is ``worker.options.concurrency``. Read-only: the options are frozen."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, holder: Any, owner: type | None = None) -> T:
        return cast(T, getattr(holder.options, self.name))
