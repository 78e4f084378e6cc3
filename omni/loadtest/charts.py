"""Server-rendered SVG charts of load runs: the geometry is computed here and drawn by
``templates/loadtest/partials/chart.html`` (no JavaScript, no chart library). Built on the
playground's chart pieces (``omni.playground.charts``: rectangles, texts, grid lines) with one
addition, polylines for series over time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from omni.playground.charts import Chart, Line, Rect, Text

LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 34


@dataclass
class Series:
    css: str
    label: str
    points: str  # "x,y x,y …" for <polyline points>


@dataclass
class SeriesChart(Chart):
    series: list[Series] = field(default_factory=list)


def nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5, 5 × a power of ten)."""
    if value <= 0:
        return 1.0
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    while magnitude > value and magnitude > 1e-6:
        magnitude /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _axes(chart: Chart, y_max: float, unit: str = "") -> None:
    plot_h = chart.height - TOP - BOTTOM
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        chart.lines.append(Line(LEFT, y, chart.width - RIGHT, y))
        chart.texts.append(Text(LEFT - 6, y + 4, f"{y_max * fraction:g}{unit}", anchor="end"))


def _x_labels(chart: Chart, labels: Sequence[str], xs: Sequence[float]) -> None:
    every = max(1, len(labels) // 8)
    for index, (label, x) in enumerate(zip(labels, xs, strict=True)):
        if index % every == 0:
            chart.texts.append(Text(x, chart.height - BOTTOM + 16, label, "middle"))


def throughput_chart(timeline: Sequence[dict[str, Any]], *, width: int = 760, height: int = 220) -> Chart:
    """Stacked bars per second: successful requests and errors."""
    chart = Chart(title="Requests per second", width=width, height=height)
    chart.legend = [("bar-ok", "ok"), ("bar-failed", "errors")]
    peak = max((int(s.get("count") or 0) for s in timeline), default=0)
    chart.empty = peak == 0
    y_max = nice_max(peak)
    _axes(chart, y_max)
    if not timeline:
        return chart
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    slot = plot_w / len(timeline)
    bar_w = max(slot * 0.8, 1.0)
    base = TOP + plot_h
    xs, labels = [], []
    for index, second in enumerate(timeline):
        count, errors = int(second.get("count") or 0), int(second.get("errors") or 0)
        ok = max(count - errors, 0)
        x = LEFT + index * slot + (slot - bar_w) / 2
        ok_h, err_h = plot_h * ok / y_max, plot_h * errors / y_max
        t = second.get("t", index)
        if ok:
            chart.rects.append(Rect(x, base - ok_h, bar_w, ok_h, "bar-ok", f"{t} s: {ok} ok"))
        if errors:
            chart.rects.append(
                Rect(x, base - ok_h - err_h, bar_w, err_h, "bar-failed", f"{t} s: {errors} errors")
            )
        xs.append(x + bar_w / 2)
        labels.append(f"{t}s")
    _x_labels(chart, labels, xs)
    return chart


def series_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    *,
    unit: str = "",
    width: int = 760,
    height: int = 220,
) -> SeriesChart:
    """Lines over a shared x axis; ``series`` is ``[(css, label, values)]`` (None leaves a gap)."""
    chart = SeriesChart(title=title, width=width, height=height)
    chart.legend = [(css, label) for css, label, _ in series]
    values = [v for _, _, vs in series for v in vs if v is not None]
    chart.empty = not values
    y_max = nice_max(max(values, default=0.0))
    _axes(chart, y_max, unit)
    if not labels:
        return chart
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    step = plot_w / max(len(labels) - 1, 1)
    xs = [LEFT + index * step if len(labels) > 1 else LEFT + plot_w / 2 for index in range(len(labels))]
    for css, label, vs in series:
        points = [
            f"{x:.2f},{TOP + plot_h * (1 - value / y_max):.2f}"
            for x, value in zip(xs, vs, strict=False)
            if value is not None
        ]
        chart.series.append(Series(css, label, " ".join(points)))
        for x, value in zip(xs, vs, strict=False):
            if value is not None and len(labels) <= 60:
                y = TOP + plot_h * (1 - value / y_max)
                chart.rects.append(Rect(x - 2, y - 2, 4, 4, css, f"{label}: {value:g}{unit}"))
    _x_labels(chart, labels, xs)
    return chart


def latency_timeline_chart(timeline: Sequence[dict[str, Any]]) -> SeriesChart:
    """p50, p95 and p99 (ms) per second."""
    labels = [f"{s.get('t', i)}s" for i, s in enumerate(timeline)]
    return series_chart(
        "Latency per second (ms)",
        labels,
        [(f"line-{key}", key, [s.get(key) for s in timeline]) for key in ("p50", "p95", "p99")],
    )
