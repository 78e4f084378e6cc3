"""Usage counters → minute store → rollup tables, in this process against the real database and
Redis (and the embedded in-memory store without Redis): counts, idempotence, two concurrent
rollups on PostgreSQL, the bounded buffer while Redis is down, and window_stats."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from omni.gateway import observe
from omni.monitoring.models import UsageDay, UsageHour, UsageMinute
from omni.monitoring.usage import counters, rollup, store
from omni.monitoring.usage.query import usage, window_stats
from omni.tenants.services import create_organization
from tests.live import unique_slug


def _record(org, **fields) -> observe.RequestRecord:
    base = dict(
        org_id=org.pk,
        org_slug=org.slug,
        api_key_id="k-1",
        method="tools/call",
        target="utilities__calculate",
        server="utilities",
        outcome="ok",
        duration=0.004,
        transport="streamable",
    )
    return observe.RequestRecord(**{**base, **fields})


def _traffic(org) -> None:
    for _ in range(5):
        observe.emit(_record(org))
    for _ in range(2):
        observe.emit(_record(org, outcome="tool_error", duration=0.2))
    observe.emit(_record(org, target="nope", server="", outcome="error", error_type="-32602"))
    for _ in range(3):
        observe.emit(
            _record(
                org,
                api_key_id="k-2",
                outcome="refused",
                error_type="rate_limited",
                detail="mcp_per_key_per_minute",
            )
        )
    observe.emit(_record(org, method="ping", target="", server=""))


def _totals(model, org) -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = {}
    for row in model.objects.for_org(org):
        key = (row.api_key_id, row.target, row.outcome)
        out[key] = out.get(key, 0) + row.calls
    return out


EXPECTED = {
    ("k-1", "utilities__calculate", "ok"): 5,
    ("k-1", "utilities__calculate", "tool_error"): 2,
    ("k-1", "nope", "error"): 1,
    ("k-2", "utilities__calculate", "refused"): 3,
    ("k-1", "", "ok"): 1,
}


@pytest.fixture
def fresh_counters():
    counters.reset()
    yield
    counters.reset()


@pytest.fixture(params=["redis", "embedded"])
def usage_store(request, settings, fresh_counters):
    if request.param == "embedded":
        settings.REDIS_URL = ""
        store._memory.__init__()
    elif not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    return request.param


def test_counts_reach_every_table_and_rollup_is_idempotent(committed, usage_store):
    org = create_organization(unique_slug("use"), "Use")
    other = create_organization(unique_slug("other"), "Other")
    _traffic(org)
    observe.emit(_record(other, api_key_id="k-9"))
    assert counters.flush()
    first = rollup.rollup()
    assert first.minute_rows >= 6
    for model in (UsageMinute, UsageHour, UsageDay):
        assert _totals(model, org) == EXPECTED, model
    assert _totals(UsageMinute, other) == {("k-9", "utilities__calculate", "ok"): 1}

    # Idempotent: the same minutes rolled up again (marked dirty again) give the same numbers.
    minutes = sorted({int(m.bucket.timestamp()) for m in UsageMinute.objects.for_org(org)})
    store.get_store().mark_dirty(minutes)
    rollup.rollup()
    rollup.rollup()
    for model in (UsageMinute, UsageHour, UsageDay):
        assert _totals(model, org) == EXPECTED, model

    # More traffic in the same minute: the rows grow, nothing is counted twice.
    observe.emit(_record(org))
    counters.flush()
    rollup.rollup()
    assert _totals(UsageHour, org)[("k-1", "utilities__calculate", "ok")] == 6

    now = timezone.now()
    stats = window_stats(org.pk, now - timedelta(minutes=10), now + timedelta(minutes=1))
    assert (stats.calls, stats.errors, stats.refused) == (13, 3, 3)
    assert stats.p50 is not None and 0.0025 <= stats.p50 <= 0.005  # most calls took 4 ms
    assert stats.p99 is not None and 0.1 <= stats.p99 <= 0.25
    tool = window_stats(
        org.pk,
        now - timedelta(minutes=10),
        now + timedelta(minutes=1),
        target="utilities__calculate",
        api_key_id="k-2",
    )
    assert (tool.calls, tool.refused) == (3, 3)
    everyone = window_stats(
        None, now - timedelta(minutes=10), now + timedelta(minutes=1), method="tools/call"
    )
    assert everyone.calls >= 12 + 1  # the tools/calls of both organizations

    data = usage(org.pk, now - timedelta(hours=1), now + timedelta(minutes=1))
    assert {g.key: g.stats.calls for g in data.refusals} == {("rate_limited:mcp_per_key_per_minute",): 3}
    assert sum(p.total for p in data.series) == 13
    assert {g.key[0]: g.stats.calls for g in data.by_key} == {"k-1": 10, "k-2": 3}


def test_two_concurrent_rollups_agree(committed, settings, fresh_counters):
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("needs PostgreSQL and Redis")
    org = create_organization(unique_slug("conc"), "Conc")
    for round_ in range(3):
        _traffic(org)
        counters.flush()
        minutes = store.get_store().take_dirty()
        errors: list[BaseException] = []
        barrier = threading.Barrier(2, timeout=30)

        def run() -> None:
            try:
                barrier.wait()
                # both runs take the same minutes: the same rows, written twice at once
                rollup.rollup_minutes(minutes)
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        expected = {key: value * (round_ + 1) for key, value in EXPECTED.items()}
        for model in (UsageMinute, UsageHour, UsageDay):
            assert _totals(model, org) == expected, (round_, model)


def test_redis_down_keeps_counters_within_the_bound(settings, fresh_counters):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.USAGE_BUFFER_MAX_ROWS = 100

    class Org:
        pk = 10**9
        slug = "ghost"

    for i in range(150):
        observe.emit(_record(Org, target=f"t{i}"))
    assert not counters.flush()
    kept = counters.stats()
    assert kept["pending_rows"] == 100 and kept["dropped"] == 50 and kept["flush_failures"] == 1
    # Redis is back: what was kept goes out, nothing more is lost.
    memory = store.MemoryMinuteStore()
    settings.REDIS_URL = ""
    store._memory = memory
    try:
        assert counters.flush()
        assert counters.stats()["pending_rows"] == 0
        minute = memory.take_dirty()
        rows = counters.decode(memory.read(minute[0]))
        assert sum(values[0] for values in rows.values()) == 100
    finally:
        store._memory = store.MemoryMinuteStore()


def test_one_interval_is_bounded_by_folding_targets(settings, fresh_counters):
    settings.USAGE_BUFFER_MAX_ROWS = 100

    class Org:
        pk = 10**9
        slug = "ghost"

    for i in range(3000):  # made-up tool names: at most 100 rows, the rest fold into "(other)"
        observe.emit(_record(Org, target=f"made-up-{i}"))
    stats = counters.stats()
    assert stats["current_rows"] <= 101 and stats["dropped"] == 0
    with counters._lock:
        folded = sum(row[0] for (minute, dims), row in counters._current.items() if dims[3] == counters.OTHER)
    assert folded == 3000 - 100


@pytest.mark.django_db
def test_purge_keeps_each_table_for_its_retention(settings):
    settings.USAGE_MINUTE_RETENTION_HOURS = 48
    settings.USAGE_HOUR_RETENTION_DAYS = 35
    settings.USAGE_DAY_RETENTION_DAYS = 400
    org = create_organization(unique_slug("purge"), "Purge")
    now = timezone.now().replace(second=0, microsecond=0)
    dims = dict(organization=org, method="tools/call", outcome="ok", calls=1)
    UsageMinute.objects.create(bucket=now - timedelta(hours=49), **dims)
    UsageMinute.objects.create(bucket=now - timedelta(hours=47), **dims)
    UsageHour.objects.create(bucket=now - timedelta(days=36), **dims)
    UsageHour.objects.create(bucket=now - timedelta(days=34), **dims)
    UsageDay.objects.create(bucket=now - timedelta(days=401), **dims)
    UsageDay.objects.create(bucket=now - timedelta(days=399), **dims)
    # Per-minute rows go with the rollup task; the hour and day tables are retention classes of the
    # privacy app (per-organization periods, legal hold: omni/monitoring/retention.py).
    assert rollup.purge(now) == 1
    assert UsageMinute.objects.for_org(org).count() == 1
    assert UsageHour.objects.for_org(org).count() == UsageDay.objects.for_org(org).count() == 2
    from omni.privacy.retention.engine import apply_retention

    apply_retention(org=org, classes=["usage_hours", "usage_days"], now=now)
    for model in (UsageMinute, UsageHour, UsageDay):
        assert model.objects.for_org(org).count() == 1
    assert rollup.purge(now) == 0


def test_csv_cells_are_never_formulas():
    from omni.monitoring.usage.views import _cell

    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell("@SUM(A1)") == "'@SUM(A1)"
    assert _cell("-32602") == "-32602"  # an error code stays a number
    assert _cell("utilities__calculate") == "utilities__calculate"
    assert _cell(None) == ""
