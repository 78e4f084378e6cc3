"""Reading the usage tables: ``window_stats`` (alerts build on it) and the dashboard's figures.

A window is read from the finest table that still covers its start: minutes (kept
``USAGE_MINUTE_RETENTION_HOURS``), else hours, else days; hour and day rows count whole buckets, so
a window that starts inside an hour includes that hour. The tables cover data up to the last
rollup (``USAGE_ROLLUP_SECONDS``) of the last flush (``USAGE_FLUSH_SECONDS``): about a minute old
at most.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from omni.monitoring.models.usage import DIMENSIONS, UsageBase, UsageDay, UsageHour, UsageMinute
from omni.monitoring.usage import histogram
from omni.monitoring.usage.rollup import VALUE_FIELDS

ERROR_OUTCOMES = frozenset({"error", "tool_error", "timeout"})
REFUSED = "refused"
MAX_GROUPS = 20_000  # distinct dimension rows read for one dashboard


@dataclass
class WindowStats:
    calls: int = 0
    errors: int = 0  # error, tool_error and timeout outcomes
    refused: int = 0
    p50: float | None = None  # seconds
    p95: float | None = None
    p99: float | None = None
    histogram: list[int] = field(default_factory=lambda: [0] * histogram.SIZE, repr=False)
    duration_us: int = 0

    def add(self, outcome: str, calls: int, duration_us: int, buckets: Iterable[int]) -> None:
        self.calls += calls
        self.duration_us += duration_us
        if outcome in ERROR_OUTCOMES:
            self.errors += calls
        elif outcome == REFUSED:
            self.refused += calls
        for i, count in enumerate(buckets):
            self.histogram[i] += count

    def finish(self) -> WindowStats:
        self.p50 = histogram.quantile(self.histogram, 0.50)
        self.p95 = histogram.quantile(self.histogram, 0.95)
        self.p99 = histogram.quantile(self.histogram, 0.99)
        return self

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def mean(self) -> float | None:
        return self.duration_us / self.calls / 1e6 if self.calls else None


def table_for(since: datetime, now: datetime | None = None) -> type[UsageBase]:
    """The finest table whose retention still covers ``since``."""
    now = now or timezone.now()
    if since >= now - timedelta(hours=settings.USAGE_MINUTE_RETENTION_HOURS):
        return UsageMinute
    if since >= now - timedelta(days=settings.USAGE_HOUR_RETENTION_DAYS):
        return UsageHour
    return UsageDay


def _floor(model: type[UsageBase], when: datetime) -> datetime:
    if model is UsageMinute:
        return when.replace(second=0, microsecond=0)
    if model is UsageHour:
        return when.replace(minute=0, second=0, microsecond=0)
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


def rows_in(
    org_id: int | None,
    since: datetime,
    until: datetime,
    *,
    server: str = "",
    target: str = "",
    api_key_id: int | str | uuid.UUID | None = None,
    method: str = "",
) -> models.QuerySet:
    """The rows of the window's table (``org_id`` None: every organization)."""
    model = table_for(since)
    rows = model.objects.filter(bucket__gte=_floor(model, since), bucket__lt=until)
    if org_id is not None:
        rows = rows.filter(organization_id=org_id)
    if server:
        rows = rows.filter(server=server)
    if target:
        rows = rows.filter(target=target)
    if api_key_id is not None:
        rows = rows.filter(api_key_id=str(api_key_id))
    if method:
        rows = rows.filter(method=method)
    return rows


def _sums() -> dict[str, models.Sum]:
    return {f"s_{name}": models.Sum(name) for name in VALUE_FIELDS}


def _values(row: dict) -> tuple[int, int, list[int]]:
    return (
        row["s_calls"] or 0,
        row["s_duration_us"] or 0,
        [row[f"s_{name}"] or 0 for name in histogram.FIELDS],
    )


def window_stats(
    org_id: int | None,
    since: datetime,
    until: datetime,
    *,
    server: str = "",
    target: str = "",
    api_key_id: int | str | uuid.UUID | None = None,
    method: str = "",
) -> WindowStats:
    """Calls, errors, refusals and latency quantiles of a window (``org_id`` None: all orgs).

    ``api_key_id`` is the key's id (ApiKey's primary key is a UUID: pass it or its string)."""
    stats = WindowStats()
    rows = rows_in(org_id, since, until, server=server, target=target, api_key_id=api_key_id, method=method)
    for row in rows.values("outcome").annotate(**_sums()).order_by():
        calls, duration, buckets = _values(row)
        stats.add(row["outcome"], calls, duration, buckets)
    return stats.finish()


# --------------------------------------------------------------------------- the dashboard
@dataclass
class Group:
    """Figures of one group of rows (a tool, a server, a key, an organization…)."""

    key: tuple
    stats: WindowStats = field(default_factory=WindowStats)

    @property
    def label(self) -> str:
        return " · ".join(str(part) for part in self.key if part != "") or "—"

    # the playground's latency chart reads these
    @property
    def p50_ms(self) -> float | None:
        return None if self.stats.p50 is None else self.stats.p50 * 1000

    @property
    def p95_ms(self) -> float | None:
        return None if self.stats.p95 is None else self.stats.p95 * 1000

    @property
    def p99_ms(self) -> float | None:
        return None if self.stats.p99 is None else self.stats.p99 * 1000


@dataclass
class Point:
    start: datetime
    ok: int = 0
    failed: int = 0
    refused: int = 0

    @property
    def total(self) -> int:
        return self.ok + self.failed + self.refused


@dataclass
class Usage:
    since: datetime
    until: datetime
    table: str
    total: WindowStats
    series: list[Point]
    step: timedelta
    detail: list[tuple[dict, WindowStats]]  # per dimension row (the CSV)
    by_target: list[Group]
    by_server: list[Group]
    by_key: list[Group]
    by_method: list[Group]
    by_org: list[Group]
    refusals: list[Group]  # by reason ("rate_limited:mcp_per_key_per_minute", "quota:…", "scope")
    truncated: bool = False


def _group(detail: list[tuple[dict, WindowStats]], keyfn, *, only=None) -> list[Group]:
    groups: dict[tuple, Group] = {}
    for dims, stats in detail:
        if only is not None and not only(dims):
            continue
        key = keyfn(dims)
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(key)
        group.stats.add("", stats.calls, stats.duration_us, stats.histogram)
        group.stats.errors += stats.errors
        group.stats.refused += stats.refused
    result = [g for g in groups.values()]
    for g in result:
        g.stats.finish()
    result.sort(key=lambda g: (-g.stats.calls, g.key))
    return result


def step_for(model: type[UsageBase], since: datetime, until: datetime) -> timedelta:
    if model is UsageMinute:
        span = until - since
        if span <= timedelta(hours=3):
            return timedelta(minutes=1)
        if span <= timedelta(hours=12):
            return timedelta(minutes=5)
        return timedelta(minutes=15 if span <= timedelta(hours=24) else 60)
    if model is UsageHour:
        return timedelta(hours=1) if until - since <= timedelta(days=8) else timedelta(days=1)
    return timedelta(days=1)


def usage(org_id: int | None, since: datetime, until: datetime) -> Usage:
    """Everything the dashboard shows for a window (``org_id`` None: every organization)."""
    model = table_for(since)
    rows = rows_in(org_id, since, until)
    detail: list[tuple[dict, WindowStats]] = []
    grouped = rows.values(*DIMENSIONS).annotate(**_sums()).order_by("-s_calls")[: MAX_GROUPS + 1]
    truncated = False
    total = WindowStats()
    for index, row in enumerate(grouped):
        if index >= MAX_GROUPS:
            truncated = True
            break
        calls, duration, buckets = _values(row)
        stats = WindowStats()
        stats.add(row["outcome"], calls, duration, buckets)
        total.add(row["outcome"], calls, duration, buckets)
        detail.append(({d: row[d] for d in DIMENSIONS}, stats.finish()))
    total.finish()

    step = step_for(model, since, until)
    start = _floor(model, since)
    points: dict[datetime, Point] = {}
    slots = int((until - start) / step) + 1
    for i in range(min(slots, 2000)):
        when = start + i * step
        if when < until:
            points[when] = Point(when)
    for row in rows.values("bucket", "outcome").annotate(calls=models.Sum("calls")).order_by():
        offset = int((row["bucket"] - start) / step)
        point = points.get(start + offset * step)
        if point is None:
            continue
        if row["outcome"] == "ok":
            point.ok += row["calls"]
        elif row["outcome"] == REFUSED:
            point.refused += row["calls"]
        else:
            point.failed += row["calls"]

    def is_target(dims: dict) -> bool:
        return dims["method"] in ("tools/call", "prompts/get", "resources/read") and dims["target"] != ""

    return Usage(
        since=since,
        until=until,
        table=model.__name__.removeprefix("Usage").lower(),
        total=total,
        series=list(points.values()),
        step=step,
        detail=detail,
        by_target=_group(detail, lambda d: (d["method"], d["target"], d["server"]), only=is_target),
        by_server=_group(detail, lambda d: (d["server"],), only=lambda d: d["server"] != ""),
        by_key=_group(detail, lambda d: (d["api_key_id"],)),
        by_method=_group(detail, lambda d: (d["method"],)),
        by_org=_group(detail, lambda d: (d["organization_id"],)),
        refusals=_group(detail, lambda d: (d["error_type"],), only=lambda d: d["outcome"] == REFUSED),
        truncated=truncated,
    )


def peak_per_minute(org_id: int | None, since: datetime, until: datetime) -> dict[str, int]:
    """The busiest minute of each API key in the window (minutes table only; {} past its retention)."""
    if table_for(since) is not UsageMinute:
        return {}
    rows = rows_in(org_id, since, until).values("bucket", "api_key_id").annotate(calls=models.Sum("calls"))
    peaks: dict[str, int] = {}
    for row in rows.order_by():
        peaks[row["api_key_id"]] = max(peaks.get(row["api_key_id"], 0), row["calls"])
    return peaks
