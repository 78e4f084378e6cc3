"""Server-rendered SVG charts: the geometry is computed here, ``templates/playground/partials/
chart.svg.html`` draws it (autoescaped labels, no JavaScript, no chart library)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from omni.playground.analytics import Bucket, TargetStats


@dataclass
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"
    css: str = "axis"


@dataclass
class Line:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass
class Chart:
    title: str
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css class, label)
    empty: bool = False


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        top = step * magnitude
        if top >= value:
            return float(top)
    return float(10 * magnitude)


def calls_chart(buckets: Sequence[Bucket], *, hourly: bool, width: int = 760, height: int = 220) -> Chart:
    """Stacked bars: successful and failed calls per bucket."""
    chart = Chart(title="Calls over time", width=width, height=height)
    chart.legend = [("bar-ok", "ok"), ("bar-failed", "error or invalid")]
    left, right, top, bottom = 44, 10, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((b.total for b in buckets), default=0)
    chart.empty = peak == 0
    y_max = _nice_max(peak)
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        chart.lines.append(Line(left, y, width - right, y))
        label = y_max * fraction
        chart.texts.append(Text(left - 6, y + 4, f"{label:g}", anchor="end"))
    if not buckets:
        return chart
    slot = plot_w / len(buckets)
    bar_w = max(slot * 0.8, 1.0)
    label_every = max(1, len(buckets) // 8)
    fmt = "%H:%M" if hourly else "%b %d"
    for index, bucket in enumerate(buckets):
        x = left + index * slot + (slot - bar_w) / 2
        when = bucket.start.strftime("%Y-%m-%d %H:%M" if hourly else "%Y-%m-%d")
        ok_h = plot_h * bucket.ok / y_max
        failed_h = plot_h * bucket.failed / y_max
        base = top + plot_h
        if bucket.ok:
            chart.rects.append(Rect(x, base - ok_h, bar_w, ok_h, "bar-ok", f"{when}: {bucket.ok} ok"))
        if bucket.failed:
            chart.rects.append(
                Rect(
                    x,
                    base - ok_h - failed_h,
                    bar_w,
                    failed_h,
                    "bar-failed",
                    f"{when}: {bucket.failed} failed",
                )
            )
        if index % label_every == 0:
            chart.texts.append(
                Text(x + bar_w / 2, height - bottom + 16, bucket.start.strftime(fmt), "middle")
            )
    return chart


def latency_chart(stats: Sequence[TargetStats], *, limit: int = 12, width: int = 760) -> Chart:
    """Horizontal bars per target: p50 and p95 latency in milliseconds."""
    shown = [s for s in stats if s.p50_ms is not None][:limit]
    row_h, label_w, top, bottom, right = 26, 240, 8, 26, 70
    height = top + bottom + row_h * max(len(shown), 1)
    chart = Chart(title="Latency per target (ms)", width=width, height=height, empty=not shown)
    chart.legend = [("bar-p50", "p50"), ("bar-p95", "p95")]
    plot_w = width - label_w - right
    x_max = _nice_max(max((s.p95_ms or 0.0 for s in shown), default=0.0))
    for fraction in (0, 0.5, 1):
        x = label_w + plot_w * fraction
        chart.lines.append(Line(x, top, x, height - bottom))
        chart.texts.append(Text(x, height - bottom + 16, f"{x_max * fraction:g}", "middle"))
    for index, stat in enumerate(shown):
        y = top + index * row_h
        label = stat.label if len(stat.label) <= 34 else stat.label[:33] + "…"
        chart.texts.append(Text(label_w - 8, y + row_h / 2 + 4, label, "end", "label"))
        p95_w = plot_w * (stat.p95_ms or 0.0) / x_max
        p50_w = plot_w * (stat.p50_ms or 0.0) / x_max
        chart.rects.append(
            Rect(label_w, y + 4, p95_w, row_h - 8, "bar-p95", f"{stat.label}: p95 {stat.p95_ms:.1f} ms")
        )
        chart.rects.append(
            Rect(label_w, y + 8, p50_w, row_h - 16, "bar-p50", f"{stat.label}: p50 {stat.p50_ms:.1f} ms")
        )
        chart.texts.append(
            Text(label_w + p95_w + 6, y + row_h / 2 + 4, f"{stat.p95_ms:.0f}", "start", "value")
        )
    return chart
