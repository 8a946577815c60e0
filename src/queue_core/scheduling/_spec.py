"""When a schedule fires: cron specs in a time zone, and fixed intervals.

Fire times ("ticks") are whole epoch **milliseconds** (``int``), so every scheduler
process computes the very same ticks from the same spec and can agree on who fires each
one. ``to_ms`` turns a clock reading into the tick scale consistently with comparing
``tick / 1000 <= now``.

Cron specs are standard 5-field expressions (``minute hour day-of-month month
day-of-week``, with croniter's extensions such as ``L`` and ``#``) or one of the
descriptors ``@yearly @annually @monthly @weekly @daily @midnight @hourly``. croniter
walks the **wall clock** of the schedule's time zone; this module maps each matching wall
time to real instants, with the classic cron rules for daylight-saving changes:

- a wall time that does not exist (spring forward: 02:30 on the day clocks jump from
  02:00 to 03:00) fires once, at the first instant after the gap (03:00 new time);
  several skipped ticks collapse into that one fire;
- a wall time that happens twice (fall back: 01:00-01:59 again) fires at its first
  occurrence only, unless the spec's hour field starts with ``*`` (an hourly or finer
  job), which then fires at both occurrences, so it keeps running every real hour.

Fixed intervals (``every``) are multiples of the interval since the Unix epoch: any
process, started at any time, finds the same ticks. Time zones do not apply to them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from queue_core import errors, validation

#: epoch milliseconds
Tick = int

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
CRON_FORM = "5 fields (minute hour day-of-month month day-of-week) or one of " + ", ".join(DESCRIPTORS)
EVERY_FORM = "a number of seconds >= 0.001 or a timedelta"
TIMEZONE_FORM = "an IANA time zone name such as 'UTC' or 'Europe/Paris', or a zoneinfo.ZoneInfo"
MIN_EVERY_MS = 1
# Clock changes shift wall time by at most this much (real ones: 30 min to 2 h).
_SHIFT_WINDOW = timedelta(hours=3)
# A spec whose ticks need more croniter steps than this to find the next one is
# treated as never firing (e.g. "0 0 30 2 *"); real specs need a handful.
_MAX_STEPS = 10_000


def to_ms(seconds: float) -> Tick:
    """The largest tick ``t`` with ``t / 1000 <= seconds`` (float division, as used for
    sleeping until a tick)."""
    ms = math.floor(seconds * 1000)
    while ms / 1000 > seconds:
        ms -= 1
    while (ms + 1) / 1000 <= seconds:
        ms += 1
    return ms


def to_seconds(tick: Tick) -> float:
    return tick / 1000


def tick_text(tick: Tick) -> str:
    """A tick as decimal epoch seconds without trailing zeros: ``1750000000``, ``1750000000.5``."""
    whole, frac = divmod(tick, 1000)
    return str(whole) if not frac else f"{whole}.{frac:03d}".rstrip("0")


def zone(value: Any, field: str = "timezone") -> ZoneInfo:
    """A ``ZoneInfo`` from an IANA name (or a ``ZoneInfo``), else ``InvalidTimezone``."""
    if isinstance(value, ZoneInfo):
        return value
    if not isinstance(value, str) or not value or not value.isascii():
        raise errors.InvalidTimezone(field, value, TIMEZONE_FORM)
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise errors.InvalidTimezone(field, value, TIMEZONE_FORM) from None


@dataclass(frozen=True, slots=True)
class CronSpec:
    """A cron expression evaluated on the wall clock of ``zone``. Build with ``parse_cron``."""

    text: str
    expression: str
    zone: ZoneInfo
    #: the hour field starts with ``*``: repeated wall times (fall back) fire twice.
    repeat_in_fold: bool = field(default=False, compare=False)

    @property
    def timezone(self) -> str | None:
        return self.zone.key

    @property
    def every(self) -> float | None:
        return None

    def next_after(self, tick: Tick, *, inclusive: bool = False) -> Tick:
        """The first fire time after ``tick`` (or at it, when ``inclusive``)."""
        steps = croniter(self.expression, self._wall(tick, widen=-_SHIFT_WINDOW) - timedelta(seconds=1))
        best: Tick | None = None
        try:
            for _ in range(_MAX_STEPS):
                instants = self._instants(steps.get_next(datetime))
                for candidate in instants:
                    if (candidate > tick or (inclusive and candidate == tick)) and (best is None or candidate < best):
                        best = candidate
                # The earliest instant of each later wall time is no earlier than this one's.
                if best is not None and instants[0] >= best:
                    return best
        except (CroniterError, ValueError, OverflowError):
            pass
        raise _never_fires(self.text)

    def prev_before(self, tick: Tick, *, inclusive: bool = False) -> Tick | None:
        """The last fire time before ``tick`` (or at it, when ``inclusive``); None if none."""
        steps = croniter(self.expression, self._wall(tick, widen=_SHIFT_WINDOW) + timedelta(seconds=1))
        best: Tick | None = None
        try:
            for _ in range(_MAX_STEPS):
                instants = self._instants(steps.get_prev(datetime))
                for candidate in instants:
                    if (candidate < tick or (inclusive and candidate == tick)) and (best is None or candidate > best):
                        best = candidate
                if best is not None and instants[-1] <= best:
                    return best
        except (CroniterError, ValueError, OverflowError):
            return best
        return best

    def _wall(self, tick: Tick, *, widen: timedelta) -> datetime:
        """Where to start walking the wall clock from ``tick`` (whole seconds, naive).

        Near a clock change, wall times on the far side of ours can still fire on our
        side of ``tick`` (a repeated hour's second pass, a skipped hour's catch-up
        instant): then the walk starts ``widen`` further out.
        """
        seconds, window = tick // 1000, _SHIFT_WINDOW.total_seconds()
        here = datetime.fromtimestamp(seconds, self.zone)
        offsets = {datetime.fromtimestamp(seconds + delta, self.zone).utcoffset() for delta in (-window, window)}
        wall = here.replace(tzinfo=None)
        return wall if offsets == {here.utcoffset()} else wall + widen

    def _instants(self, wall: datetime) -> tuple[Tick, ...]:
        """The fire instants of one matching wall time, earliest first."""
        first = wall.replace(tzinfo=self.zone, fold=0).timestamp()
        second = wall.replace(tzinfo=self.zone, fold=1).timestamp()
        if first == second:
            return (round(first * 1000),)
        if first < second:  # the wall time happens twice (clocks went back)
            if self.repeat_in_fold:
                return (round(first * 1000), round(second * 1000))
            return (round(first * 1000),)
        # The wall time does not exist (clocks jumped forward): fire when the gap ends.
        return (_gap_end(self.zone, second, first),)


@dataclass(frozen=True, slots=True)
class EverySpec:
    """Every ``every_ms`` milliseconds, on multiples of it since the Unix epoch."""

    every_ms: int

    @property
    def text(self) -> str:
        return f"@every {tick_text(self.every_ms)}s"

    @property
    def timezone(self) -> str | None:
        return None

    @property
    def every(self) -> float | None:
        return self.every_ms / 1000

    def next_after(self, tick: Tick, *, inclusive: bool = False) -> Tick:
        if inclusive and tick % self.every_ms == 0:
            return tick
        return (tick // self.every_ms + 1) * self.every_ms

    def prev_before(self, tick: Tick, *, inclusive: bool = False) -> Tick | None:
        if inclusive and tick % self.every_ms == 0:
            return tick
        return ((tick - 1) // self.every_ms) * self.every_ms


Spec = CronSpec | EverySpec


def parse_cron(spec: Any, timezone: tzinfo | str, field: str = "spec") -> CronSpec:
    """Check a cron spec and bind it to a time zone; ``InvalidCronSpec`` names the spec and why."""
    tz = zone(timezone)
    if not isinstance(spec, str):
        raise errors.InvalidCronSpec(field, spec, CRON_FORM, "not a string")
    if not spec.isascii() or not spec.isprintable():
        raise errors.InvalidCronSpec(field, spec, CRON_FORM, "only printable ASCII characters are allowed")
    text = spec.strip()
    if text.startswith("@"):
        expression = DESCRIPTORS.get(text.lower())
        if expression is None:
            hint = " (use register_periodic for fixed intervals)" if text.lower().startswith("@every") else ""
            raise errors.InvalidCronSpec(field, spec, CRON_FORM, f"unknown descriptor {text.split()[0]!r}{hint}")
    else:
        fields = text.split()
        if len(fields) != 5:
            raise errors.InvalidCronSpec(field, spec, CRON_FORM, f"{len(fields)} fields instead of 5")
        # No month or weekday name starts with H or R, so such a term is croniter's random
        # (R) or hashed (H) syntax.
        if any(term[:1] in "HhRr" for part in fields for term in part.replace("-", ",").split(",")):
            # Random or hashed fields would let schedulers disagree on fire times, and
            # exactly-once needs every process to compute the same ticks.
            raise errors.InvalidCronSpec(field, spec, CRON_FORM, "random (R) and hashed (H) fields are not supported")
        expression = " ".join(fields)
    try:
        croniter(expression, datetime(2000, 1, 1))
    except (CroniterError, ValueError, KeyError) as exc:
        raise errors.InvalidCronSpec(field, spec, CRON_FORM, str(exc) or type(exc).__name__) from None
    parsed = CronSpec(text, expression, tz, repeat_in_fold=expression.split()[1].startswith("*"))
    parsed.next_after(to_ms(datetime(2000, 1, 1, tzinfo=tz).timestamp()))  # raises if it never fires
    return parsed


def parse_every(every: Any, field: str = "every") -> EverySpec:
    """A fixed interval from seconds (>= 1 ms) or a ``timedelta``; else ``InvalidInterval``."""
    seconds = every.total_seconds() if isinstance(every, timedelta) else every
    if not validation.is_number(seconds):
        raise errors.InvalidInterval(field, every, EVERY_FORM)
    every_ms = round(seconds * 1000)
    if seconds <= 0 or every_ms < MIN_EVERY_MS:
        raise errors.InvalidInterval(field, every, EVERY_FORM)
    return EverySpec(every_ms)


def _gap_end(tz: ZoneInfo, before: float, after: float) -> Tick:
    """The instant a clock change happened, between ``before`` (old offset) and ``after``."""
    target = datetime.fromtimestamp(after, tz).utcoffset()
    low, high = math.floor(before), math.ceil(after)
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == target:
            high = middle
        else:
            low = middle
    return high * 1000


def _never_fires(spec: str) -> errors.InvalidCronSpec:
    return errors.InvalidCronSpec("spec", spec, CRON_FORM, "no date ever matches it")
