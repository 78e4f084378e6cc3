"""Analytics of an organization's test runs: per operation and target (tool, prompt, URI) counts,
success rate and latency percentiles, and calls over time.

Percentiles are computed in Python over the window's durations (portable across PostgreSQL and the
embedded SQLite, and bounded by ``MAX_ROWS``); calls over time are grouped by the database.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from omni.playground.models import TestRun
from omni.tenants.context import OrgContext

MAX_ROWS = 100_000
WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def percentile(values: list[float], fraction: float) -> float | None:
    """The ``fraction`` percentile of ``values`` (linear interpolation; None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class TargetStats:
    operation: str
    target: str
    calls: int
    ok: int
    errors: int
    invalid: int
    p50_ms: float | None
    p95_ms: float | None

    @property
    def success_rate(self) -> float:
        return self.ok / self.calls if self.calls else 0.0

    @property
    def label(self) -> str:
        return self.target or self.operation


def target_stats(ctx: OrgContext, since: datetime, until: datetime | None = None) -> list[TargetStats]:
    """One row per (operation, target) with runs in the window, busiest first."""
    runs = TestRun.objects.for_org(ctx).filter(created_at__gte=since)
    if until is not None:
        runs = runs.filter(created_at__lt=until)
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    outcomes: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = runs.order_by().values_list("operation", "target", "outcome", "duration_ms")[:MAX_ROWS]
    for operation, target, outcome, duration in rows:
        key = (operation, target)
        durations[key].append(duration)
        outcomes[key][outcome] += 1
    stats = [
        TargetStats(
            operation=key[0],
            target=key[1],
            calls=len(values),
            ok=outcomes[key][TestRun.Outcome.OK],
            errors=outcomes[key][TestRun.Outcome.ERROR],
            invalid=outcomes[key][TestRun.Outcome.INVALID],
            p50_ms=percentile(values, 0.50),
            p95_ms=percentile(values, 0.95),
        )
        for key, values in durations.items()
    ]
    return sorted(stats, key=lambda s: (-s.calls, s.operation, s.target))


@dataclass
class Bucket:
    start: datetime
    ok: int
    failed: int

    @property
    def total(self) -> int:
        return self.ok + self.failed


def calls_over_time(
    ctx: OrgContext,
    since: datetime,
    until: datetime | None = None,
    *,
    hourly: bool = True,
    operation: str = "",
) -> list[Bucket]:
    """Calls per hour (or day) in the window, with empty buckets filled in, oldest first."""
    until = until or timezone.now()
    trunc = TruncHour if hourly else TruncDay
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    runs = TestRun.objects.for_org(ctx).filter(created_at__gte=since, created_at__lt=until)
    if operation:
        runs = runs.filter(operation=operation)
    grouped = (
        runs.order_by()
        .annotate(bucket=trunc("created_at"))
        .values("bucket")
        .annotate(total=Count("id"), ok=Count("id", filter=Q(outcome=TestRun.Outcome.OK)))
    )
    counts = {row["bucket"]: (row["ok"], row["total"] - row["ok"]) for row in grouped}
    start = since.replace(minute=0, second=0, microsecond=0)
    if not hourly:
        start = start.replace(hour=0)
    buckets = []
    current = start
    while current < until:
        ok, failed = counts.get(current, (0, 0))
        buckets.append(Bucket(start=current, ok=ok, failed=failed))
        current += step
    return buckets
