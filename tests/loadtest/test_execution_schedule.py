"""Scheduled profiles: beat's task starts a due profile's run once per slot (trigger "schedule"),
through the profiles part's create_run; the shards run (embedded default, stub generator)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from omni.loadtest.execution import wait_for_run
from omni.loadtest.models import LoadProfile, LoadRun
from omni.loadtest.tasks import run_scheduled_profiles
from tests.gateway.world import make_tenant
from tests.loadtest.execution_world import STUB

SOURCE = """
name: every-minute
mode: "2026-07-28"
target: gateway
operations: [tools/list]
arrival: {model: closed, users: 1}
duration: 1s
"""


@pytest.fixture
def embedded(settings):
    settings.REDIS_URL = None
    settings.LOADTEST_GENERATOR = STUB
    yield settings
    for thread in threading.enumerate():
        if thread.name.startswith("loadtest-"):
            thread.join(timeout=30)


def test_a_due_profile_runs_once_per_slot(committed, embedded):
    tenant = make_tenant("ltsched", servers=("utilities",))
    now = timezone.now()
    earlier = now - timedelta(minutes=2)
    common = {"organization": tenant.org, "schedule": "* * * * *", "last_scheduled_at": earlier}
    due = LoadProfile.objects.create(name="every-minute", source=SOURCE, schedule_enabled=True, **common)
    off = SOURCE.replace("every-minute", "off")
    LoadProfile.objects.create(name="off", source=off, schedule_enabled=False, **common)  # never runs
    started = run_scheduled_profiles.apply().get()
    runs = LoadRun.objects.for_org(tenant.org)
    assert runs.count() == 1
    assert str(runs.get().uuid) in started
    run = runs.get()
    assert (run.profile_id, run.trigger, run.profile_name) == (due.pk, "schedule", "every-minute")
    due.refresh_from_db()
    assert due.last_scheduled_at > now - timedelta(seconds=5)
    run_scheduled_profiles.apply()  # the same slot again: nothing new
    assert runs.count() == 1
    assert wait_for_run(run, 60).status == LoadRun.Status.COMPLETED
