"""Turning values into what a page shows: times, durations, sizes, payloads.

Everything returned here is plain text; the templates escape it.
"""

from __future__ import annotations

import json
import time
from typing import Any

#: the largest payload or result shown in full; longer ones are cut (and say so).
SHOW_BYTES = 64 * 1024


def utc(when: float | None) -> str:
    if when is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(when))


def span(seconds: float | None) -> str:
    """A duration for people: 850 ms, 12.3 s, 4 min 05 s, 3 h 12 min, 2 d 4 h."""
    if seconds is None:
        return "-"
    seconds = abs(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def relative(when: float | None, now: float) -> str:
    if when is None:
        return "-"
    delta = when - now
    if abs(delta) < 1:
        return "now"
    return f"in {span(delta)}" if delta > 0 else f"{span(delta)} ago"


def size(count: int | None) -> str:
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def number(value: int | float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def pretty_bytes(data: bytes) -> tuple[str, str]:
    """(kind, text) for stored bytes: JSON pretty-printed, else UTF-8 text, else a hex
    dump; cut after ``SHOW_BYTES``."""
    cut = len(data) > SHOW_BYTES
    shown = data[:SHOW_BYTES]
    note = f"\n… ({len(data) - SHOW_BYTES:,} more bytes not shown)" if cut else ""
    if not cut:
        try:
            decoded: Any = json.loads(data)
        except (UnicodeDecodeError, ValueError):
            pass
        else:
            return "json", json.dumps(decoded, indent=2, ensure_ascii=False, sort_keys=False)
    try:
        return "text", shown.decode() + note
    except UnicodeDecodeError:
        lines = [f"{i:08x}  {shown[i : i + 16].hex(' ')}" for i in range(0, min(len(shown), 4096), 16)]
        return "binary", "\n".join(lines) + note
