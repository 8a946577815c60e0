"""What a handler receives: one attempt of one job.

::

    @worker.handler("email.send")
    async def send(delivery: Delivery) -> None:
        message = delivery.decode(Email)        # a dataclass, a TypedDict, or decode() for plain data
        delivery.progress(1, 3, "rendered")
        ...
        await delivery.write_result({"sent": True})

A ``Delivery`` is valid for the attempt it describes. Its writes are fenced by the
attempt's lease: once another worker owns the job, ``write_result`` raises ``LeaseLost``.
A plain ``def`` handler (on a worker thread) uses ``write_result_blocking``.
"""

from __future__ import annotations

import builtins
import dataclasses
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

import anyio.from_thread
import sniffio

from queue_core import validation
from queue_core.broker import Broker, JobRecord, Lease
from queue_core.errors import LeaseLost, SerializationError, ValidationError
from queue_core.serialization import Serializer, encode

T = TypeVar("T")


_UNSET: Any = object()


@dataclasses.dataclass(frozen=True, slots=True)
class Progress:
    """How far an attempt got, as its handler last reported."""

    done: float
    total: float | None = None
    message: str | None = None

    @property
    def fraction(self) -> float | None:
        """``done / total`` when a positive total is known."""
        return self.done / self.total if self.total else None


_PLAIN = (str, int, float, bool, list, dict, type(None))


class Delivery:
    """One attempt of one job, as the handler sees it."""

    __slots__ = ("_broker", "_lease", "_on_progress", "_previous", "_serializer", "deadline", "last_progress")

    def __init__(
        self,
        lease: Lease,
        *,
        broker: Broker,
        serializer: Serializer,
        deadline: float | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self._lease = lease
        self._broker = broker
        self._serializer = serializer
        self._on_progress = on_progress
        self._previous: Any = _UNSET
        #: epoch seconds by which this attempt must end: the earliest of the handler's
        #: timeout, the job's timeout and the job's deadline (30 minutes when none is set).
        self.deadline = deadline
        #: the last ``progress`` reported during this attempt.
        self.last_progress: Progress | None = None

    @property
    def record(self) -> JobRecord:
        return self._lease.record

    @property
    def lease(self) -> Lease:
        return self._lease

    @property
    def id(self) -> str:
        return self._lease.record.id

    @property
    def type(self) -> str:
        return self._lease.record.type

    @property
    def queue(self) -> str:
        return self._lease.record.queue

    @property
    def retried(self) -> int:
        """Retries used so far (failures before this attempt)."""
        return self._lease.record.retried

    @property
    def attempt(self) -> int:
        """1-based attempt number: ``retried + 1``. Transient bounces and crash
        recoveries do not advance it."""
        return self._lease.record.retried + 1

    @property
    def retry_count(self) -> int:
        """The same as ``retried``."""
        return self._lease.record.retried

    @property
    def max_retries(self) -> int:
        return self._lease.record.max_retries

    @property
    def headers(self) -> Mapping[str, str]:
        return self._lease.record.headers

    @property
    def payload(self) -> bytes:
        """The payload bytes exactly as stored."""
        return self._lease.record.payload

    @property
    def enqueued_at(self) -> float:
        return self._lease.record.enqueued_at

    @overload
    def decode(self) -> Any: ...

    @overload
    def decode(self, into: builtins.type[T]) -> T: ...

    def decode(self, into: builtins.type[Any] | None = None) -> Any:
        """The payload decoded by the worker's serializer; with ``into``, checked and
        converted to that type.

        ``into`` may be a dataclass (built from a decoded mapping; nested dataclass
        fields are built too), a ``TypedDict`` (the mapping, checked for its required
        and unknown keys) or one of ``str, int, float, bool, list, dict``. A payload that
        does not fit raises ``SerializationError`` naming the mismatch.
        """
        value = self._serializer.loads(self.payload)
        if self._previous is not _UNSET:
            if value is not None and not isinstance(value, Mapping):
                raise SerializationError(
                    f"payload: a chain link given the previous result must decode to a mapping or None, "
                    f"got {type(value).__name__}"
                )
            value = {**(value or {}), "previous": self._previous}
        if into is None:
            return value
        return _convert(value, into, "payload")

    async def dependency_results(self) -> dict[str, Any]:
        """The results of the jobs this one depended on, decoded, by job ID. A dependency
        that completed without a result is absent; one that failed under policy ``run``
        is absent too."""
        stored = await self._broker.dependency_results(self.queue, self.id)
        return {job_id: self._serializer.loads(data) for job_id, data in sorted(stored.items())}

    def dependency_results_blocking(self) -> dict[str, Any]:
        """``dependency_results`` for a plain ``def`` handler, which runs on a worker thread."""
        return anyio.from_thread.run(self.dependency_results)

    async def load_previous(self) -> None:
        """Read the previous link's result, which ``decode`` then adds to the payload as
        ``previous`` (for a job of ``chain(..., pass_result=True)``; the worker calls this
        before the handler). No result: ``previous`` is None."""
        results = await self.dependency_results()
        self._previous = next(iter(results.values()), None)

    async def write_result(self, value: Any) -> None:
        """Serialize ``value`` and store it as the job's result now.

        The result is kept with the job only if the job has retention (otherwise it is
        deleted with the job on success). Raises ``LeaseLost`` when this worker no longer
        holds the job, and ``SerializationError`` when ``value`` cannot be encoded.
        """
        data = encode(self._serializer, value)
        if not await self._broker.write_result(self._lease, data):
            raise LeaseLost(f"job {self.id!r} in queue {self.queue!r} is no longer held by this worker")

    def write_result_blocking(self, value: Any) -> None:
        """``write_result`` for a plain ``def`` handler, which runs on a worker thread."""
        anyio.from_thread.run(self.write_result, value)

    def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """Report how far the attempt got (``done`` of ``total``, with an optional message).

        Cheap and synchronous: the worker keeps the latest report, logs it at DEBUG and
        passes it to the ``queue_core_job_progress`` plugin hook. Callable from a worker
        thread too.
        """
        for name, number in (("done", done), ("total", total)):
            if number is None and name == "total":
                continue
            if not validation.is_number(number):
                raise ValidationError(name, number, "a finite number")
        if message is not None and not isinstance(message, str):
            raise ValidationError("message", message, "a string or None")
        report = Progress(float(done), None if total is None else float(total), message)
        self.last_progress = report
        if self._on_progress is None:
            return
        try:
            sniffio.current_async_library()
        except sniffio.AsyncLibraryNotFoundError:
            # On a worker thread: report on the event loop, where hooks and logging run.
            try:
                anyio.from_thread.run_sync(self._on_progress, report)
                return
            except RuntimeError:  # not an anyio worker thread (no loop to report to)
                pass
        self._on_progress(report)

    def __repr__(self) -> str:
        return f"<Delivery {self.type} id={self.id} queue={self.queue} attempt={self.attempt}>"


def _convert(value: Any, into: Any, where: str) -> Any:
    if dataclasses.is_dataclass(into) and isinstance(into, type):
        return _build_dataclass(value, into, where)
    if typing.is_typeddict(into):
        return _check_typeddict(value, into, where)
    if into is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if into in _PLAIN:
        if isinstance(value, into) and not (into is int and isinstance(value, bool)):
            return value
        raise SerializationError(f"{where}: expected {into.__name__}, got {type(value).__name__} {value!r:.60}")
    raise SerializationError(
        f"decode() cannot build {into!r}; pass a dataclass, a TypedDict or one of str, int, float, bool, list, dict"
    )


def _check_typeddict(value: Any, cls: Any, where: str) -> Any:
    name = cls.__name__
    if not isinstance(value, Mapping):
        raise SerializationError(f"{where}: expected a mapping for {name}, got {type(value).__name__}")
    missing = sorted(set(cls.__required_keys__) - set(value))
    if missing:
        raise SerializationError(f"{where}: missing key(s) {missing} for {name}")
    unknown = sorted(set(value) - set(cls.__required_keys__) - set(cls.__optional_keys__))
    if unknown:
        raise SerializationError(f"{where}: unknown key(s) {unknown} for {name}")
    return value


def _build_dataclass(value: Any, cls: type[Any], where: str) -> Any:
    if not isinstance(value, Mapping):
        raise SerializationError(f"{where}: expected a mapping for {cls.__name__}, got {type(value).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise SerializationError(f"{where}: unknown field(s) {unknown} for {cls.__name__}")
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable forward references: build without nested conversion
        hints = {}
    kwargs = {}
    for name, item in value.items():
        hint = hints.get(name)
        if dataclasses.is_dataclass(hint) and isinstance(hint, type) and isinstance(item, Mapping):
            item = _build_dataclass(item, hint, f"{where}.{name}")
        kwargs[name] = item
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a missing required field
        raise SerializationError(f"{where}: cannot build {cls.__name__}: {exc}") from exc
