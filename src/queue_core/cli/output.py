"""How commands print: rich tables for people, JSON for scripts, and readable times.

Tables go to stdout; notes, prompts and progress go to stderr, so that ``--json`` output
can be piped as is. JSON keeps the library's field names and epoch-second times.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table


def console(*, err: bool = False) -> Console:
    """A console on the current stdout (or stderr); wide when not a terminal, so piped
    tables are not wrapped."""
    file = sys.stderr if err else sys.stdout
    width = None if file.isatty() else int(os.environ.get("COLUMNS") or 160)
    return Console(file=file, width=width, highlight=False, soft_wrap=False)


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses as objects, enums as their values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def print_json(data: Any) -> None:
    click.echo(json.dumps(plain(data), indent=2, ensure_ascii=False, default=str))


def table(*columns: str, title: str | None = None) -> Table:
    """A plain table; a column named with a leading ``>`` is right-aligned (numbers)."""
    grid = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False, show_edge=False)
    for column in columns:
        if column.startswith(">"):
            grid.add_column(column[1:], justify="right")
        else:
            grid.add_column(column)
    return grid


def details(rows: Iterable[tuple[str, Any]], *, title: str | None = None) -> Table:
    """A two-column ``field  value`` table for one object."""
    grid = Table(box=None, show_header=False, title=title, title_justify="left", pad_edge=False)
    grid.add_column(style="bold")
    grid.add_column()
    for name, value in rows:
        grid.add_row(name, "-" if value is None else str(value))
    return grid


def span(seconds: float | None) -> str:
    """A duration for people: 0.4s, 12s, 5m 3s, 2h 5m, 3d 4h."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if whole >= size:
            rest = (whole % size) // sub_size
            return f"{whole // size}{unit}" + (f" {rest}{sub}" if rest else "")
    return f"{whole}s"


def relative(at: float | None, now: float) -> str:
    """``in 5m`` or ``3s ago``."""
    if at is None:
        return "-"
    delta = at - now
    if abs(delta) < 0.05:
        return "now"
    return f"in {span(delta)}" if delta > 0 else f"{span(-delta)} ago"


def moment(at: float | None, now: float) -> str:
    """Local time with how far it is from now: ``2025-06-15 14:03:07 (3s ago)``."""
    if at is None:
        return "-"
    return f"{datetime.fromtimestamp(at).strftime('%Y-%m-%d %H:%M:%S')} ({relative(at, now)})"


def size(count: int | None) -> str:
    """Bytes for people: 512 B, 1.2 KiB, 3.4 MiB."""
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"
