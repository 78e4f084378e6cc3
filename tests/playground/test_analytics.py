"""Analytics: percentiles, per-target statistics, calls over time, and the SVG chart geometry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from omni.playground.analytics import Bucket, calls_over_time, percentile, target_stats
from omni.playground.charts import calls_chart, latency_chart
from omni.tenants.services import resolve_user_context
from tests.playground.conftest import make_run


def test_percentile():
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0.95) == pytest.approx(95.05)
    assert percentile(list(reversed(values)), 0.5) == pytest.approx(50.5)


@pytest.fixture
def stats_world(lab):
    org = lab.acme.org
    now = timezone.now()
    for ms in (10, 20, 30, 40):
        make_run(org, duration_ms=ms, created_at=now - timedelta(minutes=5))
    make_run(org, duration_ms=100, outcome="error", created_at=now - timedelta(minutes=5))
    make_run(org, operation="prompts/get", target="greet", duration_ms=5, created_at=now - timedelta(hours=3))
    make_run(org, duration_ms=999, created_at=now - timedelta(days=3))  # outside 24h
    make_run(lab.globex.org, duration_ms=1)  # another organization
    return resolve_user_context(lab.owner, lab.slug), now


def test_target_stats(stats_world):
    ctx, now = stats_world
    stats = target_stats(ctx, now - timedelta(hours=24), now)
    assert [(s.operation, s.label, s.calls) for s in stats] == [
        ("tools/call", "utilities__calculate", 5),
        ("prompts/get", "greet", 1),
    ]
    calc = stats[0]
    assert (calc.ok, calc.errors, calc.invalid) == (4, 1, 0)
    assert calc.success_rate == pytest.approx(0.8)
    assert calc.p50_ms == 30 and calc.p95_ms == pytest.approx(88.0)
    week = target_stats(ctx, now - timedelta(days=7), now)
    assert week[0].calls == 6


def test_calls_over_time_fills_every_bucket(stats_world):
    ctx, now = stats_world
    hourly = calls_over_time(ctx, now - timedelta(hours=24), now)
    assert len(hourly) in (24, 25)
    assert sum(b.total for b in hourly) == 6 and sum(b.failed for b in hourly) == 1
    recent = (now - timedelta(minutes=5)).replace(minute=0, second=0, microsecond=0)
    bucket = next(b for b in hourly if b.start == recent)
    assert (bucket.ok, bucket.failed) == (4, 1)
    assert all(a.start < b.start for a, b in zip(hourly, hourly[1:], strict=False))
    daily = calls_over_time(ctx, now - timedelta(days=7), now, hourly=False)
    assert len(daily) in (7, 8) and sum(b.total for b in daily) == 7
    only_prompts = calls_over_time(ctx, now - timedelta(hours=24), now, operation="prompts/get")
    assert sum(b.total for b in only_prompts) == 1


def test_calls_chart_geometry():
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    buckets = [Bucket(start + timedelta(hours=i), ok=i, failed=1 if i == 2 else 0) for i in range(4)]
    chart = calls_chart(buckets, hourly=True, width=400, height=200)
    ok_bars = [r for r in chart.rects if r.css == "bar-ok"]
    failed = [r for r in chart.rects if r.css == "bar-failed"]
    assert len(ok_bars) == 3 and len(failed) == 1  # no bar for an empty bucket
    heights = [r.height for r in ok_bars]
    assert heights[1] == pytest.approx(2 * heights[0]) and heights[2] == pytest.approx(3 * heights[0])
    assert failed[0].y + failed[0].height == pytest.approx(ok_bars[1].y)  # stacked on the ok bar
    assert "1 failed" in failed[0].title and not chart.empty
    assert calls_chart([Bucket(start, 0, 0)], hourly=True).empty


def test_latency_chart_geometry(stats_world):
    ctx, now = stats_world
    chart = latency_chart(target_stats(ctx, now - timedelta(hours=24), now))
    p95 = [r for r in chart.rects if r.css == "bar-p95"]
    p50 = [r for r in chart.rects if r.css == "bar-p50"]
    assert len(p95) == len(p50) == 2
    assert p95[0].width > p50[0].width > 0
    assert any(t.text == "utilities__calculate" for t in chart.texts)
    assert latency_chart([]).empty
