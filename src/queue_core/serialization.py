"""Payload and result encoding. JSON by default; never pickle.

A ``Serializer`` turns a Python value into bytes and back. The bytes are stored as
given: drivers never re-encode them and Lua never looks inside.
"""

from __future__ import annotations

import json
from typing import Any, Protocol, runtime_checkable

from queue_core.errors import SerializationError


@runtime_checkable
class Serializer(Protocol):
    name: str

    def dumps(self, value: Any) -> bytes: ...

    def loads(self, data: bytes) -> Any: ...


class JsonSerializer:
    """Compact, deterministic JSON (sorted keys), so equal payloads have equal bytes.

    Deterministic bytes matter: the unique-job lock is keyed by a digest of them.
    """

    name = "json"

    def dumps(self, value: Any) -> bytes:
        try:
            text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False)
        except RecursionError as exc:
            raise SerializationError(too_deep(value, "JSON")) from exc
        except (TypeError, ValueError) as exc:
            raise SerializationError(
                f"cannot encode {type(value).__name__} as JSON ({exc}); "
                "pass JSON-compatible values (dict, list, str, int, float, bool, None) or use another serializer"
            ) from exc
        return text.encode()

    def loads(self, data: bytes) -> Any:
        if not data:
            return None
        try:
            return json.loads(data)
        except RecursionError as exc:
            raise SerializationError("stored JSON is nested too deeply to decode") from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise SerializationError(f"stored bytes are not valid JSON: {exc}") from exc


JSON = JsonSerializer()


def too_deep(value: Any, form: str) -> str:
    return (
        f"cannot encode {type(value).__name__} as {form}: it is nested too deeply (Python's recursion limit); "
        "flatten it, or store it elsewhere and pass a reference"
    )


def encode(serializer: Serializer, value: Any) -> bytes:
    """``serializer.dumps(value)``; a value nested past the recursion limit raises
    ``SerializationError`` whatever the serializer (a bare ``RecursionError`` would
    escape every handler of encoding failures)."""
    try:
        return serializer.dumps(value)
    except RecursionError as exc:
        raise SerializationError(too_deep(value, serializer.name)) from exc
