"""Retention against PostgreSQL: what goes and what stays, legal hold, dry runs, two runs at once,
and the command's output."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from omni.audit.models import AuditEvent
from omni.playground.models import TestRun
from omni.playground.scenario_models import ScenarioRun
from omni.privacy.models import OrgRetention, RetentionRun
from omni.privacy.retention.engine import apply_retention, run_class
from omni.privacy.retention.policy import set_days, set_legal_hold
from omni.privacy.retention.registry import RetentionClass, get, register, unregister
from omni.tenants.models import Invitation
from omni.tenants.services import create_organization
from tests.live import database_url, unique_slug
from tests.privacy.conftest import days_ago, invitation, scenario_run, test_run

ROOT = Path(__file__).resolve().parents[2]
TENANT_CLASSES = ["test_runs", "scenario_runs", "expired_invitations"]


def _ids(model, **filters) -> set:
    return set(model.objects.filter(**filters).values_list("pk", flat=True))


def test_rows_older_than_the_period_go_and_newer_ones_stay(world):
    now = timezone.now()
    acme, globex = world.acme, world.globex
    old_runs = {test_run(acme, days_ago(now, d)).pk for d in (100, 91)}
    new_runs = {test_run(acme, days_ago(now, d)).pk for d in (89, 1)}
    old_scenario = scenario_run(acme, days_ago(now, 120)).pk
    still_running = scenario_run(acme, days_ago(now, 120), status="running").pk
    new_scenario = scenario_run(acme, days_ago(now, 10)).pk
    gone_invites = {
        invitation(acme, expires_at=days_ago(now, 40)).pk,  # expired 40 days ago
        invitation(acme, expires_at=days_ago(now, 35), revoked_at=days_ago(now, 31)).pk,
    }
    kept_invites = {
        invitation(acme, expires_at=days_ago(now, 20)).pk,  # expired, not long enough
        invitation(acme, expires_at=days_ago(now, -2)).pk,  # pending
        invitation(acme, expires_at=days_ago(now, -1), accepted_at=days_ago(now, 5)).pk,
    }
    # globex keeps its test runs for 200 days.
    set_days(globex, {"test_runs": 200})
    globex_kept = test_run(globex, days_ago(now, 150)).pk
    globex_gone = test_run(globex, days_ago(now, 250)).pk

    summary = apply_retention(classes=TENANT_CLASSES, now=now)

    assert _ids(TestRun, organization=acme) == new_runs
    assert not (old_runs & _ids(TestRun))
    assert _ids(ScenarioRun, organization=acme) == {still_running, new_scenario}
    assert old_scenario not in _ids(ScenarioRun)
    assert _ids(Invitation, organization=acme) == kept_invites
    assert not (gone_invites & _ids(Invitation))
    assert _ids(TestRun, organization=globex) == {globex_kept}
    assert globex_gone not in _ids(TestRun)
    runs = {(r.class_name, r.org_slug): r for r in summary.runs}
    assert runs[("test_runs", acme.slug)].deleted == 2
    assert runs[("test_runs", acme.slug)].days == 90
    assert runs[("test_runs", globex.slug)].days == 200
    assert runs[("test_runs", globex.slug)].deleted == 1
    assert runs[("expired_invitations", acme.slug)].deleted == 2
    assert runs[("scenario_runs", acme.slug)].deleted == 1
    stored = RetentionRun.objects.get(class_name="test_runs", organization=acme, run_id=summary.run_id)
    assert stored.status == "done" and stored.deleted == 2 and stored.finished_at is not None

    # Idempotent: a second run finds nothing more.
    again = apply_retention(classes=TENANT_CLASSES, now=now, org=acme)
    assert again.deleted == 0 and _ids(TestRun, organization=acme) == new_runs


def test_one_organization_only_touches_its_own_rows(world):
    now = timezone.now()
    acme_old = test_run(world.acme, days_ago(now, 300)).pk
    globex_old = test_run(world.globex, days_ago(now, 300)).pk
    summary = apply_retention(org=world.globex, classes=["test_runs"], now=now)
    assert summary.deleted == 1
    assert acme_old in _ids(TestRun) and globex_old not in _ids(TestRun)


def test_legal_hold_stops_deletion_and_is_audited(world, run_on_commit):
    now = timezone.now()
    old = test_run(world.acme, days_ago(now, 300)).pk
    with run_on_commit():
        assert set_legal_hold(world.acme, True, reason="case 17", actor=world.owner)
    hold_event = AuditEvent.objects.filter(action="privacy.legal_hold_on", organization=world.acme).get()
    assert hold_event.data == {"reason": "case 17"} and hold_event.actor_name == world.owner.username

    with run_on_commit():
        summary = apply_retention(classes=TENANT_CLASSES, now=now)
    assert old in _ids(TestRun)
    held = [r for r in summary.runs if r.organization_id == world.acme.pk]
    assert held and all(r.status == "held" and r.deleted == 0 for r in held)
    event = AuditEvent.objects.filter(action="privacy.retention_run", organization=world.acme).get()
    assert event.data["status"]["test_runs"] == "held"

    with run_on_commit():
        set_legal_hold(world.acme, False, actor=world.owner)
        apply_retention(classes=["test_runs"], now=now)
    assert AuditEvent.objects.filter(action="privacy.legal_hold_off", organization=world.acme).exists()
    assert old not in _ids(TestRun)


def test_a_hold_set_during_a_run_stops_the_next_batch(world):
    """The hold is read before every batch: a run that is under way stops at the next one."""
    now = timezone.now()
    for _ in range(6):
        test_run(world.acme, days_ago(now, 300))
    calls = {"n": 0}
    real = get("test_runs")

    def delete_then_hold(org, cutoff, size):
        from omni.privacy.retention.engine import delete_queryset_batch

        calls["n"] += 1
        deleted = delete_queryset_batch(real.queryset(org, cutoff), size)
        if calls["n"] == 1:
            OrgRetention.objects.update_or_create(organization=org, defaults={"legal_hold": True})
        return deleted

    register(RetentionClass(name="held_midway", label="x", default_days=90, delete_batch=delete_then_hold))
    try:
        run = run_class(get("held_midway"), world.acme, run_id=uuid.uuid4(), now=now, batch_size=2)
    finally:
        unregister("held_midway")
    assert run.status == "held" and run.deleted == 2 and calls["n"] == 1
    assert TestRun.objects.filter(organization=world.acme).count() == 4


def test_dry_run_deletes_nothing_and_prints_counts(world):
    now = timezone.now()
    for d in (100, 200, 300):
        test_run(world.acme, days_ago(now, d))
    test_run(world.acme, days_ago(now, 3))
    invitation(world.acme, expires_at=days_ago(now, 60))
    before = AuditEvent.objects.count()
    out = io.StringIO()
    call_command("apply_retention", "--org", world.acme.slug, "--dry-run", stdout=out)
    text = out.getvalue()
    assert "test_runs: would delete 3" in text
    assert "expired_invitations: would delete 1" in text
    assert "scenario_runs: would delete 0" in text
    assert f"test_runs {world.acme.slug}: would delete 3 (older than 90 days)" in text
    assert TestRun.objects.filter(organization=world.acme).count() == 4
    assert Invitation.objects.filter(organization=world.acme).count() == 1
    runs = RetentionRun.objects.filter(organization=world.acme)
    assert runs.exists() and all(r.dry_run for r in runs)
    assert AuditEvent.objects.count() == before  # a dry run changes nothing, records no event

    out = io.StringIO()
    call_command("apply_retention", "--org", world.acme.slug, stdout=out)
    assert "test_runs: deleted 3" in out.getvalue()
    assert TestRun.objects.filter(organization=world.acme).count() == 1


def test_the_command_refuses_unknown_names(world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no organization 'nope"):
        call_command("apply_retention", "--org", "nope-nope", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no retention class 'bogus'"):
        call_command("apply_retention", "--class", "bogus", stdout=io.StringIO())


def test_a_failing_class_is_recorded_and_the_others_still_run(world):
    now = timezone.now()
    old = test_run(world.acme, days_ago(now, 300)).pk

    def broken(org, cutoff, size):
        raise RuntimeError("disk on fire")

    register(RetentionClass(name="broken_class", label="x", default_days=90, delete_batch=broken))
    try:
        out = io.StringIO()
        with pytest.raises(SystemExit) as exit_info:
            call_command("apply_retention", "--org", world.acme.slug, stdout=out)
    finally:
        unregister("broken_class")
    assert exit_info.value.code == 1
    assert "FAILED broken_class" in out.getvalue() and "disk on fire" in out.getvalue()
    assert old not in _ids(TestRun)  # test_runs still ran
    assert RetentionRun.objects.get(class_name="broken_class", organization=world.acme).status == "failed"


def test_the_bounds_of_settings_clamp_a_stored_value(world, settings):
    now = timezone.now()
    set_days(world.acme, {"test_runs": 365})
    kept = test_run(world.acme, days_ago(now, 200)).pk
    settings.RETENTION_BOUNDS = {"test_runs": (1, 180)}  # the platform narrowed the bounds since
    summary = apply_retention(org=world.acme, classes=["test_runs"], now=now)
    assert summary.runs[0].days == 180 and kept not in _ids(TestRun)


# --------------------------------------------------------------------------- two runs at once
SUBPROCESS_RUN = """
import sys, django
django.setup()
from django.core.management import call_command
print("ready", flush=True)
sys.stdin.readline()  # start together with the threads
call_command("apply_retention", "--org", sys.argv[1], "--class", "test_runs")
"""


def test_two_runs_at_once_delete_each_row_once(committed, settings):
    """Two threads and a separate process clean the same organization at once, in batches of 20:
    every row is deleted exactly once (the counts add up to the rows there were)."""
    org = create_organization(unique_slug("concurrent"), "Concurrent")
    now = timezone.now()
    rows = 900
    TestRun.objects.bulk_create(
        [
            TestRun(organization=org, operation="tools/call", outcome="ok", created_at=days_ago(now, 200))
            for _ in range(rows)
        ]
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "omni.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "RETENTION_BATCH_SIZE": "20",
        "RETENTION_MAX_BATCHES": "1000",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", SUBPROCESS_RUN, org.slug],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout.readline().strip() == "ready"
    barrier = threading.Barrier(3, timeout=30)
    counts: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            run = run_class(
                get("test_runs"), org, run_id=uuid.uuid4(), now=now, batch_size=20, max_batches=1000
            )
            assert run.status == "done", run.error
            counts.append(run.deleted)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    barrier.wait()
    process.stdin.write("go\n")
    process.stdin.flush()
    for thread in threads:
        thread.join(timeout=120)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out
    assert errors == []
    match = re.search(r"^test_runs: deleted (\d+)$", out, re.M)
    assert match, out
    by_process = int(match.group(1))
    print(f"\nconcurrent retention: threads deleted {counts}, the process {by_process}, of {rows}")
    assert sum(counts) + by_process == rows
    assert TestRun.objects.filter(organization=org).count() == 0
    org.delete()


def test_system_checks_name_bad_retention_settings(settings):
    from omni.privacy.retention.checks import check_retention_settings

    settings.RETENTION_DAYS = {"test_run": 30, "audit_events": 10}
    settings.RETENTION_BOUNDS = {}
    found = {(m.id, m.msg.split(" ")[0]) for m in check_retention_settings()}
    assert ("privacy.W001", "RETENTION_DAYS") in found  # the typo
    assert ("privacy.W002", "RETENTION_DAYS") in found  # 10 < 30, the minimum
    settings.RETENTION_DAYS = {"test_runs": 30}
    assert check_retention_settings() == []
    assert get("audit_events").platform_days == 365


def test_settings_are_parsed_loudly():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "omni.settings", "RETENTION_BOUNDS": "test_runs=30:7"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "RETENTION_BOUNDS: 'test_runs=30:7' has a bad value" in result.stderr
