"""A task function's parameters and result, each with its codec.

Built once when the task is defined. ``encode`` binds enqueue arguments to the
signature and turns them into the payload (a JSON object of the arguments given, by
parameter name; defaults are left out, so the worker applies its own); ``decode`` turns
a stored payload back into the arguments to call the function with.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from queue_core import errors
from queue_core.tasks.codec import Codec, Mismatch, Unsupported, compile_codec, describe
from queue_core.worker.delivery import Delivery

_KINDS_TAKEN = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
    inspect.Parameter.KEYWORD_ONLY,
)


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    kind: inspect._ParameterKind
    codec: Codec
    has_default: bool


class Signature:
    """What a task takes and returns, checked at definition."""

    def __init__(self, name: str, fn: Callable[..., Any]) -> None:
        self.task = name
        self.signature = inspect.signature(fn)
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except Exception as exc:  # an annotation that does not resolve at definition
            raise errors.InvalidTaskDefinition(
                "annotations", fn, f"annotations that resolve at definition ({exc})"
            ) from None
        params = list(self.signature.parameters.values())
        #: the function's first parameter is annotated ``Delivery``: the worker passes it.
        self.wants_delivery = bool(params) and hints.get(params[0].name) is Delivery
        if self.wants_delivery:
            params = params[1:]
            self.signature = self.signature.replace(parameters=params)
        self.parameters: list[Parameter] = []
        for param in params:
            if param.kind not in _KINDS_TAKEN:
                raise errors.InvalidTaskDefinition(
                    param.name, str(param), "named parameters (no *args or **kwargs: each argument is stored by name)"
                )
            if hints.get(param.name) is Delivery:
                raise errors.InvalidTaskDefinition(param.name, str(param), "Delivery as the first parameter only")
            if param.name not in hints:
                raise errors.InvalidTaskDefinition(
                    param.name, str(param), "an annotated parameter (use Any to accept any JSON data)"
                )
            codec = _codec(param.name, hints[param.name])
            self.parameters.append(Parameter(param.name, param.kind, codec, param.default is not param.empty))
        self.result = _codec("return", hints.get("return", Any))
        self._by_name = {p.name: p for p in self.parameters}

    def __str__(self) -> str:
        shown = [f"{p.name}: {p.codec.name}{' = ...' if p.has_default else ''}" for p in self.parameters]
        return f"{self.task}({', '.join(shown)}) -> {self.result.name}"

    def encode(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The payload of a call, or ``InvalidTaskArguments`` naming the bad argument."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            shown = _shown(args, kwargs)
            raise errors.InvalidTaskArguments("arguments", shown, f"arguments of {self} ({exc})") from None
        payload = {}
        for name, value in bound.arguments.items():
            try:
                payload[name] = self._by_name[name].codec.encode(value, name)
            except Mismatch as exc:
                raise errors.InvalidTaskArguments(exc.where, exc.value, f"{exc.expected} (task {self})") from None
        return payload

    def decode(self, data: Any) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments for a stored payload, or
        ``TaskArgumentsMismatch`` saying what no longer fits."""
        if not isinstance(data, dict):
            raise self._mismatch(f"the payload is {type(data).__name__}, not an object of arguments")
        if unknown := sorted(set(data) - set(self._by_name)):
            raise self._mismatch(f"unknown argument(s) {', '.join(unknown)}")
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for param in self.parameters:
            if param.name not in data:
                if not param.has_default:
                    raise self._mismatch(f"missing argument {param.name!r}")
                continue
            try:
                value = param.codec.decode(data[param.name], param.name)
            except Mismatch as exc:
                raise self._mismatch(str(exc)) from None
            if param.kind is inspect.Parameter.POSITIONAL_ONLY:
                args.append(value)
            else:
                kwargs[param.name] = value
        return args, kwargs

    def encode_result(self, value: Any) -> Any:
        try:
            return self.result.encode(value, "result")
        except Mismatch as exc:
            raise errors.SerializationError(f"task {self.task} returned what its annotation refuses: {exc}") from None

    def decode_result(self, data: Any) -> Any:
        try:
            return self.result.decode(data, "result")
        except Mismatch as exc:
            raise errors.SerializationError(f"the stored result of task {self.task} does not fit: {exc}") from None

    def _mismatch(self, detail: str) -> errors.TaskArgumentsMismatch:
        return errors.TaskArgumentsMismatch(f"the payload no longer fits {self}: {detail}")


def _codec(name: str, hint: Any) -> Codec:
    try:
        return compile_codec(hint)
    except Unsupported as exc:
        raise errors.InvalidTaskDefinition(
            name,
            describe(hint),
            f"a supported annotation (not {exc}): JSON types, dataclasses, TypedDict, Enum, datetime, date, time, "
            "timedelta, UUID, Decimal, bytes, pydantic models, and lists, tuples, sets, dicts and unions of them",
        ) from None


def _shown(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"({', '.join(parts)})"
