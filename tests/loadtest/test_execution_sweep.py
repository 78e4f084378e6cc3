"""Shards nobody finishes (the sweep), completion is counted once, the load_runs retention class,
and the cron schedules of profiles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from omni.loadtest.execution import complete_shard
from omni.loadtest.models import LoadBaseline, LoadProfile, LoadRun, LoadShard
from omni.loadtest.scheduling import is_due, parse_cron
from omni.loadtest.sweeping import sweep
from omni.privacy.retention.registry import get
from tests.loadtest.execution_world import make_run

pytestmark = pytest.mark.django_db


def _running(run: LoadRun, started_ago_s: float) -> None:
    run.status = LoadRun.Status.RUNNING
    run.started_at = timezone.now() - timedelta(seconds=started_ago_s)
    run.shards_total = run.shards.count()
    run.save()


def test_a_shard_whose_worker_died_is_failed_after_its_window_and_grace(
    settings, django_capture_on_commit_callbacks
):
    settings.LOADTEST_SHARD_GRACE_S = 30
    run = make_run({"main": 2}, duration_s=10)
    _running(run, 100)
    lost, fresh = run.shards.order_by("index")
    LoadShard.objects.filter(pk=lost.pk).update(
        status="running", worker="gone:1", started_at=timezone.now() - timedelta(seconds=41)
    )
    LoadShard.objects.filter(pk=fresh.pk).update(
        status="running", worker="alive:2", started_at=timezone.now() - timedelta(seconds=39)
    )
    assert sweep()["lost"] == 1
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.status == "failed" and "gone:1" in lost.error and lost.spec["credentials_cleared"]
    assert fresh.status == "running"
    run.refresh_from_db()
    assert run.status == "running" and run.shards_done == 1
    # the live worker reports after all: the run finishes, failed because of the lost shard
    with django_capture_on_commit_callbacks(execute=True):
        assert complete_shard(fresh.pk, "completed", result={"operations": {}, "worker": "alive:2"})
    run.refresh_from_db()
    assert run.status == "failed" and "shard main/0" in run.error
    assert not complete_shard(fresh.pk, "completed", result={})  # counted once
    run.refresh_from_db()
    assert run.shards_done == 2


def test_queued_shards_of_a_cancelled_run_and_shards_nobody_took(settings):
    settings.LOADTEST_SHARD_GRACE_S = 10
    cancelled = make_run({"main": 2})
    _running(cancelled, 1)
    LoadRun.objects.filter(pk=cancelled.pk).update(cancel_requested=True)
    stuck = make_run({"main": 1, "direct": 1}, duration_s=5)
    _running(stuck, 5 + 5 + 2 * 10 + 1)  # both phases and twice the grace ago
    young = make_run({"main": 1, "direct": 1}, duration_s=5)
    _running(young, 5 + 5 + 2 * 10 - 3)

    counts = sweep()
    assert counts["cancelled"] == 2 and counts["not_started"] >= 1
    cancelled.refresh_from_db()
    assert cancelled.status == "cancelled"
    stuck.refresh_from_db()
    assert stuck.status == "failed" and "never started" in stuck.error
    young.refresh_from_db()
    assert young.status == "running"
    assert set(young.shards.values_list("status", flat=True)) == {"queued"}


def test_a_run_whose_finisher_died_is_finished():
    run = make_run({"main": 1})
    _running(run, 5)
    run.shards.update(status="completed", result={})
    assert sweep()["finished"] >= 1
    run.refresh_from_db()
    assert run.status == "completed" and run.finished_at


def test_load_runs_retention_keeps_baselines_and_unfinished_runs():
    old = timezone.now() - timedelta(days=120)
    runs = {}
    for name, status in (("plain", "completed"), ("baseline", "completed"), ("running", "running")):
        run = make_run({"main": 1})
        LoadRun.objects.filter(pk=run.pk).update(status=status, created_at=old)
        runs[name] = run
    recent = make_run({"main": 1})
    LoadRun.objects.filter(pk=recent.pk).update(status="completed")
    LoadBaseline.objects.create(
        organization=runs["baseline"].organization,
        name="nightly",
        profile_name="stubbed",
        run=runs["baseline"],
    )
    retention = get("load_runs")
    assert retention.platform_days == 90
    cutoff = timezone.now() - timedelta(days=90)
    for name, run in runs.items():
        selected = set(retention.queryset(run.organization, cutoff).values_list("pk", flat=True))
        assert (run.pk in selected) == (name == "plain"), name
    assert not retention.queryset(recent.organization, cutoff).exists()


def test_cron_schedules():
    with pytest.raises(ValueError):
        parse_cron("0 3 * *")
    with pytest.raises(ValueError):
        parse_cron("61 3 * * *")
    profile = LoadProfile(name="nightly", schedule="0 3 * * *", schedule_enabled=True)
    profile.created_at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    profile.last_scheduled_at = datetime(2026, 5, 2, 3, 0, tzinfo=UTC)
    assert not is_due(profile, datetime(2026, 5, 2, 23, 59, tzinfo=UTC))
    assert is_due(profile, datetime(2026, 5, 3, 3, 0, 30, tzinfo=UTC))
    assert is_due(profile, datetime(2026, 5, 9, 1, 0, tzinfo=UTC))  # missed while beat was down
    profile.last_scheduled_at = None  # never ran: counted from its creation
    assert not is_due(profile, datetime(2026, 5, 2, 2, 59, tzinfo=UTC))
    assert is_due(profile, datetime(2026, 5, 2, 3, 1, tzinfo=UTC))


def test_a_duplicate_delivery_of_a_shard_does_nothing(settings, django_capture_on_commit_callbacks):
    from omni.loadtest.execution import execute_shards

    settings.LOADTEST_GENERATOR = "tests.loadtest.no_such_module.run_shard"  # would fail if called
    run = make_run({"main": 2})
    _running(run, 1)
    done, cancelled = run.shards.order_by("index")
    LoadShard.objects.filter(pk=done.pk).update(status="completed", result={"operations": {}})
    LoadRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    with django_capture_on_commit_callbacks(execute=True):
        execute_shards([done.pk, cancelled.pk])
    done.refresh_from_db()
    cancelled.refresh_from_db()
    assert done.status == "completed" and done.result == {"operations": {}}
    assert cancelled.status == "cancelled" and cancelled.error == "cancelled before it started"
    run.refresh_from_db()
    assert run.status == "cancelled" and run.shards_done == 2
