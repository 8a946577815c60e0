"""Capturing what a call did (a value or a queue-core error) and comparing two of them.

A driver and the model must agree on values and on errors alike: where the model raises
``JobNotFound`` the driver must raise ``JobNotFound`` too, not return ``None``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from queue_core import QueueError


@dataclass(frozen=True)
class Raised:
    """A call ended with this queue-core error class."""

    error: type[QueueError]

    def __repr__(self) -> str:
        return f"<raised {self.error.__name__}>"


def capture_sync(function: Callable[..., Any], *args: Any) -> Any:
    try:
        return function(*args)
    except QueueError as exc:
        return Raised(type(exc))


async def capture(function: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    try:
        return await function(*args)
    except QueueError as exc:
        return Raised(type(exc))


def plain(value: Any) -> Any:
    """``value`` with dataclasses as dicts and mappings as dicts, so a driver's
    ``dict`` and the model's ``MappingProxyType`` compare equal."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def differences(driver: Any, model: Any, path: str = "") -> list[str]:
    """Where two plain values differ, one line per leaf."""
    if isinstance(driver, dict) and isinstance(model, dict):
        lines: list[str] = []
        for key in sorted(set(driver) | set(model), key=str):
            lines += differences(driver.get(key, "<missing>"), model.get(key, "<missing>"), f"{path}.{key}")
        return lines
    if isinstance(driver, list) and isinstance(model, list) and len(driver) == len(model):
        return [
            line
            for i, (d, m) in enumerate(zip(driver, model, strict=True))
            for line in differences(d, m, f"{path}[{i}]")
        ]
    if driver == model:
        return []
    return [f"  {path or 'value'}: driver={driver!r} model={model!r}"]


def assert_same(what: str, driver: Any, model: Any) -> None:
    """Fail with a field-by-field account unless driver and model agree."""
    got, want = plain(driver), plain(model)
    if got != want:
        detail = "\n".join(differences(got, want)) or f"  driver={got!r}\n  model={want!r}"
        raise AssertionError(f"{what}: the driver disagrees with the reference model\n{detail}")
