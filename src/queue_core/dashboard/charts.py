"""Charts as server-rendered SVG: the geometry is worked out here, the template draws it.

A ``BarChart`` stacks succeeded and failed counts per point; a ``LineChart`` draws one
or more series (run-time p50 and p95). Both scale to a round maximum and label a few
ticks. Coordinates are numbers and labels are text the template escapes, so a chart
holds no markup from outside.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from queue_core.metrics import MinuteMetrics

WIDTH = 1200
HEIGHT = 200
LEFT = 56
RIGHT = 8
TOP = 10
BOTTOM = 22


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value``."""
    if value <= 0:
        return 1.0
    power: float = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    ok_y: float
    ok_height: float
    failed_y: float
    failed_height: float
    title: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class TimeLabel:
    x: float
    label: str


@dataclass(frozen=True)
class Series:
    name: str
    css: str
    points: str  # "x,y x,y ..." for a polyline


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    plot_bottom: float = HEIGHT - BOTTOM
    plot_right: float = WIDTH - RIGHT
    bars: list[Bar] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)
    times: list[TimeLabel] = field(default_factory=list)
    empty: bool = True
    unit: str = ""


def _time_label(minute: int, step: int) -> str:
    pattern = "%H:%M" if step < 3600 else "%d %b %H:%M"
    return time.strftime(pattern, time.gmtime(minute))


def _frame(points: Sequence[MinuteMetrics], top: float, unit: str, fmt: str, height: int = HEIGHT) -> Chart:
    chart = Chart(unit=unit, height=height, plot_bottom=height - BOTTOM)
    plot_height = chart.plot_bottom - TOP
    for index in range(5):
        value = top * index / 4
        chart.ticks.append(Tick(chart.plot_bottom - plot_height * index / 4, fmt.format(value)))
    slot = (chart.plot_right - LEFT) / max(1, len(points))
    every = max(1, math.ceil(len(points) / 6))
    step = points[1].minute - points[0].minute if len(points) > 1 else 60
    for index in range(0, len(points), every):
        chart.times.append(TimeLabel(LEFT + slot * (index + 0.5), _time_label(points[index].minute, step)))
    return chart


def throughput(points: Sequence[MinuteMetrics], height: int = HEIGHT) -> Chart:
    """Succeeded and failed attempts per point, stacked."""
    top = nice_ceiling(max((p.processed for p in points), default=0))
    chart = _frame(points, top, "jobs", "{:g}", height)
    plot_height = chart.plot_bottom - TOP
    slot = (chart.plot_right - LEFT) / max(1, len(points))
    gap = min(2.0, slot * 0.2)
    for index, point in enumerate(points):
        ok = plot_height * point.succeeded / top
        failed = plot_height * point.failed / top
        x = LEFT + slot * index + gap / 2
        title = f"{_time_label(point.minute, 60)} UTC: {point.processed} processed, {point.failed} failed"
        chart.bars.append(
            Bar(x, max(0.5, slot - gap), chart.plot_bottom - ok, ok, chart.plot_bottom - ok - failed, failed, title)
        )
        if point.processed:
            chart.empty = False
    return chart


def _seconds_label(value: float) -> str:
    return f"{value * 1000:g} ms" if value < 1 else f"{value:g} s"


def runtimes(points: Sequence[MinuteMetrics]) -> Chart:
    """Run-time p50 and p95 per point, as lines on a log scale (run times span orders
    of magnitude); points with no timed run are left out of the line."""
    values = [v for p in points for v in (p.p50, p.p95) if v is not None]
    low = 10.0 ** math.floor(math.log10(min(values))) if values else 0.001
    high = 10.0 ** math.ceil(math.log10(max(values))) if values else 10.0
    if high <= low:
        high = low * 10
    decades = round(math.log10(high / low))
    chart = _frame(points, 1.0, "seconds", "")
    plot_height = chart.plot_bottom - TOP
    chart.ticks = [
        Tick(chart.plot_bottom - plot_height * index / decades, _seconds_label(low * 10**index))
        for index in range(decades + 1)
    ]
    slot = (chart.plot_right - LEFT) / max(1, len(points))
    for name, css, fraction in (("p50", "p50", 0.5), ("p95", "p95", 0.95)):
        coords = []
        for index, point in enumerate(points):
            value = point.percentile(fraction)
            if value is None:
                continue
            height = plot_height * math.log10(value / low) / decades
            coords.append(f"{LEFT + slot * (index + 0.5):.1f},{chart.plot_bottom - height:.1f}")
        if coords:
            chart.empty = False
        chart.series.append(Series(name, css, " ".join(coords)))
    return chart
