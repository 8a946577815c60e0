"""Fire-time arithmetic: cron specs in a time zone (across DST changes), fixed intervals,
and the errors that name a bad spec, interval or time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from queue_core.errors import InvalidCronSpec, InvalidInterval, InvalidTimezone, ValidationError
from queue_core.scheduling._spec import (
    DESCRIPTORS,
    CronSpec,
    EverySpec,
    parse_cron,
    parse_every,
    tick_text,
    to_ms,
    zone,
)

NEW_YORK = ZoneInfo("America/New_York")


def ticks_after(spec: CronSpec | EverySpec, start: datetime, count: int) -> list[int]:
    tick, out = to_ms(start.timestamp()), []
    for _ in range(count):
        tick = spec.next_after(tick)
        out.append(tick)
    return out


def utc(text: str) -> int:
    """An instant written in UTC ("2025-03-09 07:00") as a tick."""
    return to_ms(datetime.fromisoformat(text + "+00:00").timestamp())


# --------------------------------------------------------------------------- DST in America/New_York
# 2025-03-09: clocks jump from 02:00 EST (UTC-5) to 03:00 EDT (UTC-4).
# 2025-11-02: clocks go back from 02:00 EDT (UTC-4) to 01:00 EST (UTC-5).


def test_a_daily_job_in_the_skipped_hour_fires_when_the_gap_ends() -> None:
    spec = parse_cron("30 2 * * *", "America/New_York")
    fires = ticks_after(spec, datetime(2025, 3, 7, 12, tzinfo=NEW_YORK), 4)
    assert fires == [
        utc("2025-03-08 07:30"),  # 02:30 EST
        utc("2025-03-09 07:00"),  # 02:30 does not exist: 03:00 EDT, the end of the gap
        utc("2025-03-10 06:30"),  # 02:30 EDT
        utc("2025-03-11 06:30"),
    ]


def test_ticks_inside_the_skipped_hour_collapse_into_one_fire() -> None:
    spec = parse_cron("*/20 * * * *", "America/New_York")
    fires = ticks_after(spec, datetime(2025, 3, 9, 1, 30, tzinfo=NEW_YORK), 4)
    # 01:40 EST, then 02:00/02:20/02:40 (skipped) and 03:00 all fire once at 03:00 EDT.
    assert fires == [utc("2025-03-09 06:40"), utc("2025-03-09 07:00"), utc("2025-03-09 07:20"), utc("2025-03-09 07:40")]


def test_an_hourly_job_fires_every_real_hour_across_fall_back() -> None:
    spec = parse_cron("@hourly", "America/New_York")
    fires = ticks_after(spec, datetime(2025, 11, 1, 23, 30, tzinfo=NEW_YORK), 5)
    assert fires == [
        utc("2025-11-02 04:00"),  # 00:00 EDT
        utc("2025-11-02 05:00"),  # 01:00 EDT
        utc("2025-11-02 06:00"),  # 01:00 EST, the repeated hour
        utc("2025-11-02 07:00"),  # 02:00 EST
        utc("2025-11-02 08:00"),
    ]


def test_a_fixed_time_job_in_the_repeated_hour_fires_once() -> None:
    spec = parse_cron("30 1 * * *", "America/New_York")
    fires = ticks_after(spec, datetime(2025, 11, 1, 12, tzinfo=NEW_YORK), 3)
    assert fires == [utc("2025-11-02 05:30"), utc("2025-11-03 06:30"), utc("2025-11-04 06:30")]


def test_starting_inside_the_repeated_hour_finds_its_second_pass() -> None:
    hourly = parse_cron("*/30 * * * *", "America/New_York")
    # 01:10 EST (the second 01:10 of the night): next is 01:30 EST, not 02:00.
    assert hourly.next_after(utc("2025-11-02 06:10")) == utc("2025-11-02 06:30")
    assert hourly.prev_before(utc("2025-11-02 06:10")) == utc("2025-11-02 06:00")
    # 01:40 EDT (the first pass): the next is 01:00 EST, an hour of wall time "back".
    assert hourly.next_after(utc("2025-11-02 05:40")) == utc("2025-11-02 06:00")


@pytest.mark.parametrize(
    ("spec", "start"),
    [
        ("30 2 * * *", datetime(2025, 3, 1, tzinfo=NEW_YORK)),
        ("*/20 * * * *", datetime(2025, 3, 9, 0, tzinfo=NEW_YORK)),
        ("@hourly", datetime(2025, 11, 1, 20, tzinfo=NEW_YORK)),
        ("*/15 1 * * *", datetime(2025, 10, 30, tzinfo=NEW_YORK)),
        ("0 0 L * *", datetime(2024, 1, 1, tzinfo=NEW_YORK)),
        ("0 9 * * MON-FRI", datetime(2025, 1, 1, tzinfo=NEW_YORK)),
    ],
)
def test_prev_before_walks_back_over_the_same_ticks(spec: str, start: datetime) -> None:
    parsed = parse_cron(spec, "America/New_York")
    forward = ticks_after(parsed, start, 40)
    assert forward == sorted(set(forward))
    backward = [parsed.prev_before(tick) for tick in forward[1:]]
    assert backward == forward[:-1]
    assert all(parsed.next_after(tick, inclusive=True) == tick for tick in forward)
    assert all(parsed.prev_before(tick, inclusive=True) == tick for tick in forward)


def test_a_spec_is_read_in_its_time_zone() -> None:
    paris = parse_cron("0 9 * * *", "Europe/Paris")
    assert paris.next_after(utc("2025-06-15 00:00")) == utc("2025-06-15 07:00")
    assert parse_cron("0 9 * * *", "UTC").next_after(utc("2025-06-15 00:00")) == utc("2025-06-15 09:00")
    assert paris.timezone == "Europe/Paris"


@pytest.mark.parametrize(("descriptor", "expression"), sorted(DESCRIPTORS.items()))
def test_descriptors_are_their_five_field_equivalents(descriptor: str, expression: str) -> None:
    start = datetime(2025, 2, 3, 4, 5, tzinfo=ZoneInfo("UTC"))
    assert ticks_after(parse_cron(descriptor, "UTC"), start, 3) == ticks_after(parse_cron(expression, "UTC"), start, 3)


# --------------------------------------------------------------------------- fixed intervals


def test_intervals_tick_on_multiples_since_the_epoch() -> None:
    every = parse_every(90)
    assert every == EverySpec(90_000)
    assert every.next_after(utc("2025-06-15 12:00")) == utc("2025-06-15 12:01") + 30_000
    assert every.next_after(utc("2025-06-15 12:00"), inclusive=True) == utc("2025-06-15 12:00")
    assert every.prev_before(utc("2025-06-15 12:00")) == utc("2025-06-15 12:00") - 90_000
    assert parse_every(timedelta(minutes=5)) == EverySpec(300_000)
    assert parse_every(0.25).next_after(1_000_100) == 1_000_250
    assert every.text == "@every 90s" and every.timezone is None


@pytest.mark.parametrize("bad", [0, -1, -0.5, 0.0001, float("nan"), float("inf"), True, "5", None, timedelta(0)])
def test_a_bad_interval_is_refused(bad: object) -> None:
    with pytest.raises(InvalidInterval) as caught:
        parse_every(bad)
    assert "every" in str(caught.value) and "seconds" in str(caught.value)


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("61 * * * *", "out of range"),
        ("* * *", "3 fields"),
        ("* * * * * * *", "7 fields"),
        ("0 * * * * *", "6 fields"),
        ("\u0666 * * * *", "ASCII"),  # an Arabic-Indic digit six
        ("\uff11 * * * *", "ASCII"),  # a fullwidth digit one
        ("0 0 30 2 *", "no date"),
        ("@every 5m", "register_periodic"),
        ("@reboot", "unknown descriptor"),
        ("H * * * *", "hashed"),
        ("R 1 * * *", "random"),
        ("*/0 * * * *", "step"),
        ("0 25 * * *", "out of"),
        ("", "0 fields"),
        (5, "not a string"),
    ],
)
def test_a_bad_cron_spec_is_refused_naming_it_and_why(spec: object, reason: str) -> None:
    with pytest.raises(InvalidCronSpec) as caught:
        parse_cron(spec, "UTC")
    message = str(caught.value)
    assert repr(spec) in message
    assert reason in message
    assert "5 fields" in message  # the accepted form
    assert isinstance(caught.value, ValidationError) and caught.value.value == spec


@pytest.mark.parametrize("bad", ["Mars/Olympus", "", "../etc/passwd", 3, None, "Europe/Par\u00efs"])
def test_a_bad_time_zone_is_refused(bad: object) -> None:
    with pytest.raises(InvalidTimezone):
        zone(bad)
    with pytest.raises(InvalidTimezone):
        parse_cron("* * * * *", bad)  # type: ignore[arg-type]


def test_month_and_weekday_names_are_not_mistaken_for_hashed_fields() -> None:
    assert parse_cron("0 0 * MAR,APR THU-FRI", "UTC").expression == "0 0 * MAR,APR THU-FRI"


def test_tick_text_and_to_ms_agree_with_float_seconds() -> None:
    assert tick_text(1_750_000_000_000) == "1750000000"
    assert tick_text(1_750_000_000_500) == "1750000000.5"
    assert tick_text(1_750_000_000_123) == "1750000000.123"
    for seconds in (1_750_000_000.123, 1_750_000_000.1, 0.3, 1_750_000_000.9999):
        tick = to_ms(seconds)
        assert tick / 1000 <= seconds < (tick + 1) / 1000


def brute_force_ticks(expression: str, tz: ZoneInfo, first_day: datetime, days: int) -> list[int]:
    """Every fire instant over whole days, found minute by minute on the wall clock with
    the rules spelled out: a skipped wall time fires when its gap ends, a repeated one
    fires at its first pass (and at its second too when the hour field starts with *)."""
    from croniter import croniter

    both_passes = expression.split()[1].startswith("*")
    found: set[int] = set()
    wall = first_day.replace(tzinfo=None)
    for _ in range(days * 24 * 60):
        if croniter.match(expression, wall):
            first = wall.replace(tzinfo=tz, fold=0).timestamp()
            second = wall.replace(tzinfo=tz, fold=1).timestamp()
            if first == second:
                found.add(to_ms(first))
            elif first < second:
                found.add(to_ms(first))
                if both_passes:
                    found.add(to_ms(second))
            else:  # skipped: the first wall minute after the gap, as an instant
                after = wall
                while after.replace(tzinfo=tz, fold=0).timestamp() != after.replace(tzinfo=tz, fold=1).timestamp():
                    after += timedelta(minutes=1)
                found.add(to_ms(after.replace(tzinfo=tz).timestamp()))
        wall += timedelta(minutes=1)
    return sorted(found)


@pytest.mark.parametrize("zone_name", ["America/New_York", "Australia/Lord_Howe", "Europe/London"])
@pytest.mark.parametrize("expression", ["*/20 * * * *", "45 2 * * *", "10,50 1-3 * * *"])
def test_ticks_match_a_minute_by_minute_walk_over_clock_changes(zone_name: str, expression: str) -> None:
    tz = ZoneInfo(zone_name)
    # The eves of both clock changes of 2025 in each zone.
    windows = {
        "America/New_York": [datetime(2025, 3, 8, 12), datetime(2025, 11, 1, 12)],
        "Australia/Lord_Howe": [datetime(2025, 4, 5, 12), datetime(2025, 10, 4, 12)],  # 30-minute shifts
        "Europe/London": [datetime(2025, 3, 29, 12), datetime(2025, 10, 25, 12)],
    }[zone_name]
    spec = parse_cron(expression, zone_name)
    for day in windows:
        expected = brute_force_ticks(expression, tz, day, 1)
        inner = [tick for tick in expected if expected[0] < tick < expected[-1]]
        walked = ticks_after(spec, datetime.fromtimestamp(expected[0] / 1000, tz), len(inner))
        assert walked == inner
        assert [spec.prev_before(tick) for tick in walked] == expected[: len(walked)]
