"""The rollup: minute buckets of the store → per-minute, per-hour and per-day tables.

Idempotent and safe on two workers at once: a minute's rows are the store's absolute values, the
hour and day rows are sums recomputed from the finer table, and every write is an upsert keyed by
the bucket and the dimensions that only ever *raises* a row (``WHERE table.calls < excluded.calls``:
counts of a bucket only grow). A run that read older values than a concurrent one therefore
cannot overwrite newer figures, and once minutes are purged an hour is never lowered again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from omni.monitoring.models.usage import DIMENSIONS, UsageBase, UsageDay, UsageHour, UsageMinute
from omni.monitoring.usage import counters, histogram
from omni.monitoring.usage.store import get_store
from omni.tenants.models import Organization

logger = logging.getLogger(__name__)

VALUE_FIELDS: tuple[str, ...] = ("calls", "duration_us", *histogram.FIELDS)
BATCH = 500
PURGE_BATCH = 5000


@dataclass
class RollupResult:
    minutes: int = 0
    minute_rows: int = 0
    hours: int = 0
    days: int = 0
    purged: int = 0


def _floor_hour(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def _floor_day(when: datetime) -> datetime:
    return when.replace(hour=0, minute=0, second=0, microsecond=0)


def upsert(model: type[UsageBase], bucket: datetime, rows: Iterable[tuple[Sequence, Sequence[int]]]) -> int:
    """Insert or raise the rows ``(dims, values)`` of ``bucket`` in ``model``'s table."""
    q = connection.ops.quote_name
    table = q(model._meta.db_table)
    columns = ["bucket", *DIMENSIONS, *VALUE_FIELDS]
    quoted = ", ".join(q(c) for c in columns)
    conflict = ", ".join(q(c) for c in ["bucket", *DIMENSIONS])
    updates = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in VALUE_FIELDS)
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    bucket_value = connection.ops.adapt_datetimefield_value(bucket)
    written = 0
    batch: list[list] = []

    def write() -> None:
        # Identifiers come from the model (quoted), values are parameters.
        sql = (
            f"INSERT INTO {table} ({quoted}) VALUES {', '.join([placeholder] * len(batch))} "  # noqa: S608
            f"ON CONFLICT ({conflict}) DO UPDATE SET {updates} "
            f"WHERE {table}.{q('calls')} < excluded.{q('calls')}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [value for row in batch for value in row])

    # In one order, so that two runs writing the same rows at once wait for each other instead of
    # deadlocking.
    for dims, values in sorted(rows, key=lambda row: tuple(str(part) for part in row[0])):
        batch.append([bucket_value, *dims, *values])
        written += 1
        if len(batch) >= BATCH:
            write()
            batch = []
    if batch:
        write()
    return written


def _existing_orgs(org_ids: Iterable[int]) -> set[int]:
    return set(Organization.objects.filter(pk__in=set(org_ids)).values_list("pk", flat=True))


def _roll_minute(minute: int) -> tuple[int, datetime | None]:
    rows = counters.decode(get_store().read(minute))
    if not rows:
        return 0, None
    alive = _existing_orgs(dims[0] for dims in rows)  # an organization deleted meanwhile: dropped
    bucket = datetime.fromtimestamp(minute, tz=UTC)
    live_rows = ((dims, values) for dims, values in rows.items() if dims[0] in alive)
    written = upsert(UsageMinute, bucket, live_rows)
    return written, bucket


def _sum_into(source: type[UsageBase], target: type[UsageBase], start: datetime, end: datetime) -> int:
    """Recompute ``target``'s rows of the bucket ``start`` from ``source``'s rows in [start, end)."""
    sums = (
        source.objects.filter(bucket__gte=start, bucket__lt=end)
        .values(*DIMENSIONS)
        .annotate(**{f"s_{name}": models.Sum(name) for name in VALUE_FIELDS})
        .order_by()
    )
    rows = (
        ([row[d] for d in DIMENSIONS], [row[f"s_{name}"] or 0 for name in VALUE_FIELDS])
        for row in sums.iterator()
    )
    return upsert(target, start, rows)


def rollup() -> RollupResult:
    """Move every minute changed since the last run into the tables; then purge expired rows."""
    store = get_store()
    counters.flush()  # this process's own counters first (the embedded default: the only ones)
    minutes = store.take_dirty()
    try:
        result = rollup_minutes(minutes)
    except Exception:
        # What was taken but not written is marked again: the next run does it.
        store.mark_dirty(minutes)
        raise
    result.purged = purge()
    return result


def rollup_minutes(minutes: Iterable[int]) -> RollupResult:
    """Write ``minutes`` (epoch seconds) of the store, and the hours and days they belong to."""
    result = RollupResult()
    hours: set[datetime] = set()
    for minute in sorted(minutes):
        with transaction.atomic():
            written, bucket = _roll_minute(minute)
        result.minutes += 1
        result.minute_rows += written
        if bucket is not None:
            hours.add(_floor_hour(bucket))
    days: set[datetime] = set()
    for hour in sorted(hours):
        with transaction.atomic():
            _sum_into(UsageMinute, UsageHour, hour, hour + timedelta(hours=1))
        days.add(_floor_day(hour))
        result.hours += 1
    for day in sorted(days):
        with transaction.atomic():
            _sum_into(UsageHour, UsageDay, day, day + timedelta(days=1))
        result.days += 1
    return result


def purge(now: datetime | None = None) -> int:
    """Delete per-minute rows older than ``USAGE_MINUTE_RETENTION_HOURS`` (operational: the hour and
    day tables keep their sums), in bounded batches. The hour and day tables are retention classes
    of the privacy app (omni/monitoring/retention.py): per-organization periods, legal hold."""
    now = now or timezone.now()
    return purge_model(UsageMinute, now - timedelta(hours=settings.USAGE_MINUTE_RETENTION_HOURS))


def purge_model(model: type[UsageBase], before: datetime, *, max_batches: int = 20) -> int:
    removed = 0
    for _ in range(max_batches):
        ids = list(model.objects.filter(bucket__lt=before).values_list("pk", flat=True)[:PURGE_BATCH])
        if not ids:
            break
        removed += model.objects.filter(pk__in=ids).delete()[0]
    return removed
