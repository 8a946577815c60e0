"""Checks for names and IDs that end up inside broker keys.

Queue names, group names and job IDs become part of storage keys, so they are held to
a safe character set and a bounded length, and may never contain ``{`` or ``}`` (which
would move a key out of its queue's hash slot and let one name reach another's keys).
Group names may not contain ``:`` either (a group's keys are followed by ``:s:<set>``).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from queue_core import errors

MAX_NAME_LENGTH = 128
MAX_TYPE_LENGTH = 256

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]*")
# A group's keys are '<queue>:g:<group>' and its staging sets '<queue>:g:<group>:s:<set>':
# a ':' in a group name could name another group's staging set, so groups have none.
_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_ID = re.compile(r"[A-Za-z0-9_.:\-]+")
NAME_FORM = f"1-{MAX_NAME_LENGTH} characters from A-Z a-z 0-9 _ . : - starting with a letter or digit"
GROUP_FORM = f"1-{MAX_NAME_LENGTH} characters from A-Z a-z 0-9 _ . - starting with a letter or digit"
ID_FORM = f"1-{MAX_NAME_LENGTH} characters from A-Z a-z 0-9 _ . : -"


def _name(value: Any, field: str, error: type[errors.ValidationError], pattern: re.Pattern[str], form: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH or not pattern.fullmatch(value):
        raise error(field, value, form)
    return value


def queue_name(value: Any, field: str = "queue") -> str:
    return _name(value, field, errors.InvalidQueueName, _NAME, NAME_FORM)


def group_name(value: Any, field: str = "group") -> str:
    return _name(value, field, errors.InvalidGroupName, _GROUP, GROUP_FORM)


def job_id(value: Any, field: str = "job_id") -> str:
    return _name(value, field, errors.InvalidJobId, _ID, ID_FORM)


def job_type(value: Any, field: str = "type") -> str:
    form = f"a non-empty string of at most {MAX_TYPE_LENGTH} printable characters"
    if not isinstance(value, str) or not value or len(value) > MAX_TYPE_LENGTH or not value.isprintable():
        raise errors.InvalidJobType(field, value, form)
    return value


def is_int(value: object) -> TypeGuard[int]:
    """An ``int`` and not a ``bool`` (which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite ``int`` or ``float``, not a ``bool``."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def integer(value: Any, field: str, error: type[errors.ValidationError], *, minimum: int = 0) -> int:
    """An ``int`` (never a ``bool``) of at least ``minimum``."""
    if not is_int(value) or value < minimum:
        raise error(field, value, f"an integer >= {minimum}")
    return value


def flag(value: Any, field: str, error: type[errors.ValidationError]) -> bool:
    """``True`` or ``False``, nothing truthy in their place."""
    if not isinstance(value, bool):
        raise error(field, value, "True or False")
    return value


def seconds(value: Any, field: str, error: type[errors.ValidationError], *, allow_zero: bool = True) -> float:
    """A duration as float seconds, from a number or a ``timedelta``."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    lower = ">= 0" if allow_zero else "> 0"
    form = f"a number of seconds {lower} or a timedelta"
    if not is_number(value):
        raise error(field, value, form)
    if value < 0 or (value == 0 and not allow_zero):
        raise error(field, value, form)
    return float(value)


def epoch(value: Any, field: str, error: type[errors.ValidationError]) -> float:
    """A point in time as epoch seconds, from a number or a timezone-aware ``datetime``."""
    form = "epoch seconds (a finite number) or a timezone-aware datetime"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise error(field, value, form)
        return value.timestamp()
    if not is_number(value) or value < 0:
        raise error(field, value, form)
    return float(value)


def page(number: Any, size: Any, max_size: int = 1000) -> tuple[int, int]:
    if not is_int(number) or number < 1:
        raise errors.InvalidPagination("page", number, "an integer >= 1 (pages are 1-based)")
    if not is_int(size) or not 1 <= size <= max_size:
        raise errors.InvalidPagination("page_size", size, f"an integer from 1 to {max_size}")
    return number, size
