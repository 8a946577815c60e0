"""Values to JSON and back, guided by a type annotation: a task's arguments and result.

Each annotation is compiled once (when the task is defined) into a ``Codec``: ``encode``
checks a value against the annotation and turns it into plain JSON data; ``decode``
checks JSON data and builds the annotated value. Both raise ``Mismatch`` naming where
(``to``, ``items[2].name``) and what was expected. An annotation outside this list is
refused when the task is defined.

=====================================  ===========================================
annotation                             stored as
=====================================  ===========================================
``str``, ``int``, ``float``, ``bool``,  itself (an ``int`` is accepted for ``float``;
``None``                               ``bool`` is never taken for ``int``)
``list[T]``, ``Sequence[T]``,           a JSON array (sets sorted, so equal sets are
``tuple[T, ...]``, ``tuple[A, B]``,     stored alike)
``set[T]``, ``frozenset[T]``
``dict[str, T]``, ``Mapping[str, T]``   a JSON object
``X | Y``, ``Optional[X]``              the first member the value fits (decoding tries
                                       the members in order)
``Literal[...]``                       the literal
an ``Enum``                            its ``value``
a dataclass                            an object of its init fields
a ``TypedDict``                        an object of its keys
a pydantic model (when installed)      ``model_dump(mode="json")``; read back with
                                       ``model_validate``
``datetime``, ``date``, ``time``       ISO 8601 text (``datetime.isoformat()``; an
                                       aware datetime keeps its offset)
``timedelta``                          seconds, a number
``UUID``                               its canonical text
``Decimal``                            its text (exact: never through a float)
``bytes``                              base64 text
``Any``, ``object``                    plain JSON data, unchecked beyond that
=====================================  ===========================================
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

#: the JSON types a value of annotation ``Any`` may be made of.
_JSON_SCALARS = (str, int, float, bool, type(None))


class Mismatch(Exception):
    """A value that does not fit its annotation: ``where`` it is, what was ``expected``."""

    def __init__(self, where: str, expected: str, value: Any) -> None:
        self.where = where
        self.expected = expected
        self.value = value
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        super().__init__(f"{where}: expected {expected}, got {type(value).__name__} {shown}")


class Unsupported(Exception):
    """An annotation no codec is known for."""


@dataclass(frozen=True, slots=True)
class Codec:
    """How one annotation is stored: ``encode(value, where)`` and ``decode(data, where)``."""

    name: str
    encode: Callable[[Any, str], Any]
    decode: Callable[[Any, str], Any]


def describe(hint: Any) -> str:
    """An annotation as a reader writes it: ``list[int]``, ``Email``, ``str | None``."""
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__qualname__
    return repr(hint).replace("typing.", "").replace("collections.abc.", "")


def compile_codec(hint: Any) -> Codec:
    """The codec of ``hint``; raises ``Unsupported`` naming the part that has none."""
    hint = _unwrap(hint)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint is object:
        return Codec("any JSON data", _json_data, _json_data)
    if hint is None or hint is type(None):
        return _exact(None)
    if origin is typing.Union or origin is types.UnionType:
        return _union([compile_codec(arg) for arg in args], describe(hint))
    if origin is typing.Literal:
        return _literal(args, describe(hint))
    if origin in (list, tuple, set, frozenset, Sequence, Set, typing.Sequence, typing.AbstractSet):
        return _collection(hint, origin, args)
    if origin in (dict, Mapping, typing.Mapping):
        return _mapping(hint, args)
    if origin is not None:
        raise Unsupported(describe(hint))
    if not isinstance(hint, type):
        raise Unsupported(describe(hint))
    if hint in _SCALARS:
        return _SCALARS[hint]
    if issubclass(hint, enum.Enum):
        return _enum(hint)
    if dataclasses.is_dataclass(hint):
        return _dataclass(hint)
    if typing.is_typeddict(hint):
        return _typeddict(hint)
    if _is_pydantic_model(hint):
        return _pydantic(hint)
    raise Unsupported(describe(hint))


# --------------------------------------------------------------------------- building blocks


def _unwrap(hint: Any) -> Any:
    """``Annotated[T, ...]`` is ``T``; a ``NewType`` is its supertype."""
    while True:
        if typing.get_origin(hint) is typing.Annotated:
            hint = typing.get_args(hint)[0]
        elif hasattr(hint, "__supertype__"):
            hint = hint.__supertype__
        else:
            return hint


def _json_data(value: Any, where: str) -> Any:
    if isinstance(value, _JSON_SCALARS):
        if isinstance(value, float) and not math.isfinite(value):
            raise Mismatch(where, "a finite number", value)
        return value
    if isinstance(value, list | tuple):
        return [_json_data(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise Mismatch(f"{where} key", "str keys (JSON objects)", key)
            out[key] = _json_data(item, f"{where}.{key}")
        return out
    raise Mismatch(where, "JSON data (str, int, float, bool, None, list, dict)", value)


def _exact(expected: None) -> Codec:
    def check(value: Any, where: str) -> Any:
        if value is not expected:
            raise Mismatch(where, "None", value)
        return value

    return Codec("None", check, check)


def _scalar(kind: type, name: str) -> Codec:
    def check(value: Any, where: str) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise Mismatch(where, name, value)
        if kind is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, kind):
            raise Mismatch(where, name, value)
        if isinstance(value, float) and not math.isfinite(value):
            raise Mismatch(where, "a finite float", value)
        return value

    return Codec(name, check, check)


def _text_codec(kind: type, name: str, to_text: Callable[[Any], str], parse: Callable[[str], Any]) -> Codec:
    def encode(value: Any, where: str) -> Any:
        # A datetime is a date: a ``date`` annotation takes no datetime (it would lose
        # the time of day silently).
        if not isinstance(value, kind) or (kind is date and isinstance(value, datetime)):
            raise Mismatch(where, name, value)
        return to_text(value)

    def decode(data: Any, where: str) -> Any:
        if not isinstance(data, str):
            raise Mismatch(where, f"{name} as text", data)
        try:
            return parse(data)
        except (ValueError, InvalidOperation, binascii.Error):
            raise Mismatch(where, name, data) from None

    return Codec(name, encode, decode)


def _timedelta_encode(value: Any, where: str) -> Any:
    if not isinstance(value, timedelta):
        raise Mismatch(where, "timedelta", value)
    return value.total_seconds()


def _timedelta_decode(data: Any, where: str) -> Any:
    if isinstance(data, bool) or not isinstance(data, int | float):
        raise Mismatch(where, "timedelta as seconds", data)
    return timedelta(seconds=data)


def _decimal(text: str) -> Decimal:
    return Decimal(text)


_SCALARS: dict[type, Codec] = {
    str: _scalar(str, "str"),
    int: _scalar(int, "int"),
    float: _scalar(float, "float"),
    bool: _scalar(bool, "bool"),
    datetime: _text_codec(datetime, "datetime", datetime.isoformat, datetime.fromisoformat),
    date: _text_codec(date, "date", date.isoformat, date.fromisoformat),
    time: _text_codec(time, "time", time.isoformat, time.fromisoformat),
    timedelta: Codec("timedelta", _timedelta_encode, _timedelta_decode),
    UUID: _text_codec(UUID, "UUID", str, UUID),
    Decimal: _text_codec(Decimal, "Decimal", str, _decimal),
    bytes: _text_codec(
        bytes, "bytes", lambda b: base64.b64encode(b).decode(), lambda s: base64.b64decode(s, validate=True)
    ),
}


def _union(members: list[Codec], name: str) -> Codec:
    def encode(value: Any, where: str) -> Any:
        for member in members:
            try:
                return member.encode(value, where)
            except Mismatch:
                continue
        raise Mismatch(where, name, value)

    def decode(data: Any, where: str) -> Any:
        for member in members:
            try:
                return member.decode(data, where)
            except Mismatch:
                continue
        raise Mismatch(where, name, data)

    return Codec(name, encode, decode)


def _literal(choices: tuple[Any, ...], name: str) -> Codec:
    def check(value: Any, where: str) -> Any:
        # ``True == 1``: compare the type too, so Literal[1] does not take True.
        if any(value == choice and type(value) is type(choice) for choice in choices):
            return value.value if isinstance(value, enum.Enum) else value
        raise Mismatch(where, name, value)

    def decode(data: Any, where: str) -> Any:
        for choice in choices:
            plain = choice.value if isinstance(choice, enum.Enum) else choice
            if data == plain and type(data) is type(plain):
                return choice
        raise Mismatch(where, name, data)

    return Codec(name, check, decode)


def _collection(hint: Any, origin: Any, args: tuple[Any, ...]) -> Codec:
    name = describe(hint)
    if origin is tuple and args and args[-1] is not Ellipsis:
        items = [compile_codec(arg) for arg in args]

        def encode_fixed(value: Any, where: str) -> Any:
            if not isinstance(value, tuple | list) or len(value) != len(items):
                raise Mismatch(where, name, value)
            pairs = enumerate(zip(items, value, strict=True))
            return [codec.encode(item, f"{where}[{i}]") for i, (codec, item) in pairs]

        def decode_fixed(data: Any, where: str) -> Any:
            if not isinstance(data, list) or len(data) != len(items):
                raise Mismatch(where, name, data)
            pairs = enumerate(zip(items, data, strict=True))
            return tuple(codec.decode(item, f"{where}[{i}]") for i, (codec, item) in pairs)

        return Codec(name, encode_fixed, decode_fixed)
    item = compile_codec(args[0] if args else Any)
    unordered = origin in (set, frozenset, Set, typing.AbstractSet)
    accepted: tuple[type, ...] = (set, frozenset) if unordered else (list, tuple)
    build: Callable[[list[Any]], Any] = {tuple: tuple, set: set, frozenset: frozenset}.get(origin, list)
    if origin in (Set, typing.AbstractSet):
        build = frozenset

    def encode(value: Any, where: str) -> Any:
        if not isinstance(value, accepted):
            raise Mismatch(where, name, value)
        elements: Iterable[Any] = typing.cast(Iterable[Any], value)
        encoded = [item.encode(element, f"{where}[{i}]") for i, element in enumerate(elements)]
        # Equal sets must give equal bytes (the unique-job digest hashes them).
        return sorted(encoded, key=repr) if unordered else encoded

    def decode(data: Any, where: str) -> Any:
        if not isinstance(data, list):
            raise Mismatch(where, name, data)
        return build([item.decode(element, f"{where}[{i}]") for i, element in enumerate(data)])

    return Codec(name, encode, decode)


def _mapping(hint: Any, args: tuple[Any, ...]) -> Codec:
    name = describe(hint)
    key, value_hint = args if args else (str, Any)
    if _unwrap(key) is not str:
        raise Unsupported(f"{name} (JSON objects have str keys)")
    values = compile_codec(value_hint)

    def encode(value: Any, where: str) -> Any:
        if not isinstance(value, Mapping):
            raise Mismatch(where, name, value)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise Mismatch(f"{where} key", "str", k)
            out[k] = values.encode(v, f"{where}[{k!r}]")
        return out

    def decode(data: Any, where: str) -> Any:
        if not isinstance(data, dict):
            raise Mismatch(where, name, data)
        return {k: values.decode(v, f"{where}[{k!r}]") for k, v in data.items()}

    return Codec(name, encode, decode)


def _enum(cls: type[enum.Enum]) -> Codec:
    name = f"{cls.__qualname__} (an Enum)"

    def encode(value: Any, where: str) -> Any:
        if not isinstance(value, cls):
            raise Mismatch(where, name, value)
        return _json_data(value.value, where)

    def decode(data: Any, where: str) -> Any:
        try:
            return cls(data)
        except ValueError:
            raise Mismatch(where, f"a value of {name}: {[m.value for m in cls]}", data) from None

    return Codec(name, encode, decode)


def _fields_codec(name: str, hints: dict[str, Any]) -> dict[str, Codec]:
    try:
        return {key: compile_codec(hint) for key, hint in hints.items()}
    except Unsupported as exc:
        raise Unsupported(f"{exc} (in {name})") from None


def _dataclass(cls: type[Any]) -> Codec:
    name = f"{cls.__qualname__} (a dataclass)"
    hints = typing.get_type_hints(cls, include_extras=True)
    init = [f for f in dataclasses.fields(cls) if f.init]
    codecs = _fields_codec(cls.__qualname__, {f.name: hints.get(f.name, Any) for f in init})
    required = {f.name for f in init if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}

    def encode(value: Any, where: str) -> Any:
        if not isinstance(value, cls):
            raise Mismatch(where, name, value)
        return {key: codec.encode(getattr(value, key), f"{where}.{key}") for key, codec in codecs.items()}

    def decode(data: Any, where: str) -> Any:
        if not isinstance(data, dict):
            raise Mismatch(where, name, data)
        _check_keys(data, set(codecs), required, where, name)
        return cls(**{key: codecs[key].decode(item, f"{where}.{key}") for key, item in data.items()})

    return Codec(name, encode, decode)


def _typeddict(cls: Any) -> Codec:
    name = f"{cls.__qualname__} (a TypedDict)"
    codecs = _fields_codec(cls.__qualname__, typing.get_type_hints(cls, include_extras=True))
    required = set(cls.__required_keys__)

    def convert(value: Any, where: str, step: Callable[[Codec, Any, str], Any]) -> Any:
        if not isinstance(value, Mapping):
            raise Mismatch(where, name, value)
        _check_keys(value, set(codecs), required, where, name)
        return {key: step(codecs[key], item, f"{where}[{key!r}]") for key, item in value.items()}

    return Codec(
        name,
        lambda value, where: convert(value, where, lambda c, v, w: c.encode(v, w)),
        lambda data, where: convert(data, where, lambda c, v, w: c.decode(v, w)),
    )


def _check_keys(data: Mapping[str, Any], known: set[str], required: set[str], where: str, name: str) -> None:
    if missing := sorted(required - set(data)):
        raise Mismatch(where, f"{name} with {', '.join(missing)}", dict(data))
    if unknown := sorted(set(data) - known):
        raise Mismatch(where, f"{name} without unknown key(s) {', '.join(unknown)}", dict(data))


def _is_pydantic_model(cls: type) -> bool:
    # Looked up by name, never imported here: pydantic stays an optional dependency.
    return any(
        base.__name__ == "BaseModel" and base.__module__.startswith("pydantic") for base in cls.__mro__
    ) and hasattr(cls, "model_validate")


def _pydantic(cls: Any) -> Codec:
    name = f"{cls.__qualname__} (a pydantic model)"

    def encode(value: Any, where: str) -> Any:
        if not isinstance(value, cls):
            raise Mismatch(where, name, value)
        return value.model_dump(mode="json")

    def decode(data: Any, where: str) -> Any:
        try:
            return cls.model_validate(data)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            first = exc.errors()[0] if hasattr(exc, "errors") and exc.errors() else {}
            detail = f"{name}: {first.get('msg', exc)} at {first.get('loc', ())}"
            raise Mismatch(where, detail, data) from None

    return Codec(name, encode, decode)
