"""Option types: durations, instants, ``name=weight`` queues, ``key=value`` headers, states."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import click

from queue_core.states import JobState

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class Duration(click.ParamType[float]):
    """Seconds: ``90``, ``1.5``, ``90s``, ``5m``, ``2h``, ``1d``, ``1h30m``, ``250ms``."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip().lower()
        try:
            return float(text)
        except ValueError:
            pass
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(number + unit for number, unit in parts) != text:
            self.fail(f"{value!r} is not a duration; use seconds (90) or units: 250ms, 90s, 5m, 2h, 1d, 1h30m")
        return sum(float(number) * _UNITS[unit] for number, unit in parts)


class Instant(click.ParamType[float]):
    """A point in time: epoch seconds, or ISO 8601 (``2025-06-15T14:00``, local time
    unless it names an offset such as ``Z`` or ``+02:00``)."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            self.fail(f"{value!r} is not a time; use ISO 8601 (2025-06-15T14:00, 2025-06-15T12:00Z) or epoch seconds")


class QueueWeight(click.ParamType[tuple[str, int | None]]):
    """``name`` or ``name=weight``."""

    name = "name[=weight]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, int | None]:
        if isinstance(value, tuple):
            return value
        name, sep, weight = str(value).partition("=")
        if not sep:
            return name, None
        try:
            return name, int(weight)
        except ValueError:
            self.fail(f"{value!r}: the weight after '=' must be an integer >= 1, as in critical=6")


class KeyValue(click.ParamType[tuple[str, str]]):
    """``key=value``."""

    name = "key=value"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value
        key, sep, text = str(value).partition("=")
        if not sep or not key:
            self.fail(f"{value!r} is not key=value")
        return key, text


DURATION = Duration()
INSTANT = Instant()
QUEUE_WEIGHT = QueueWeight()
KEY_VALUE = KeyValue()
STATE = click.Choice([state.value for state in JobState])
