"""The status history chart of a server: one bar per probe over the last 24 hours, its height the
latency and its colour the state (a down probe is a full-height red bar). Server-rendered SVG drawn by
``templates/playground/partials/chart.html`` (the same geometry shape as omni/playground/charts.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

# The geometry types and the axis rounding are the playground's: one chart partial draws both.
from omni.playground.charts import Chart, Line, Rect, Text, _nice_max


def history_chart(
    probes: Sequence[Any], now: datetime, *, hours: int = 24, width: int = 760, height: int = 180
) -> Chart:
    chart = Chart(title=f"Status, last {hours} h (bar height: latency)", width=width, height=height)
    chart.legend = [("st-up", "up"), ("st-degraded", "degraded"), ("st-down", "down")]
    left, right, top, bottom = 52, 10, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    start = now - timedelta(hours=hours)
    chart.empty = not probes
    peak = max((p.latency_ms or 0.0 for p in probes if p.state != "down"), default=0.0)
    y_max = _nice_max(peak)
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        chart.lines.append(Line(left, y, width - right, y))
        chart.texts.append(Text(left - 6, y + 4, f"{y_max * fraction:g} ms", anchor="end"))
    for offset in range(0, hours + 1, max(hours // 4, 1)):
        x = left + plot_w * offset / hours
        label = (start + timedelta(hours=offset)).strftime("%H:%M")
        chart.texts.append(Text(x, height - 8, label, anchor="middle"))
    span = hours * 3600.0
    bar_w = max(plot_w / max(len(probes), 1) * 0.8, 1.5)
    bar_w = min(bar_w, 8.0)
    for probe in probes:
        x = left + plot_w * max(0.0, (probe.at - start).total_seconds()) / span
        if probe.state == "down":
            h = plot_h
        else:
            h = max(plot_h * (probe.latency_ms or 0.0) / y_max, 2.0)
        detail = f"{probe.latency_ms:.0f} ms" if probe.latency_ms is not None else ""
        why = f" — {probe.error_category}" if probe.error_category else ""
        chart.rects.append(
            Rect(
                min(x, width - right - bar_w),
                top + plot_h - h,
                bar_w,
                h,
                f"st-{probe.state}",
                f"{probe.at:%Y-%m-%d %H:%M:%S} {probe.state} {detail}{why} ({probe.source})",
            )
        )
    return chart
