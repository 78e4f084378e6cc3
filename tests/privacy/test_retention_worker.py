"""The production shape: the beat schedule names the cleanup task and a real Celery worker (on
this session's Redis database) runs it against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from omni.playground.models import TestRun
from omni.privacy.models import RetentionRun
from omni.tenants.services import create_organization
from tests.live import database_url, unique_slug
from tests.privacy.conftest import days_ago

ROOT = Path(__file__).resolve().parents[2]
TASK = "omni.privacy.retention.tasks.apply_retention_task"

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="a Celery worker needs REDIS_URL")


def test_beat_schedules_the_cleanup_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["apply-retention"]
    assert entry["task"] == TASK
    assert entry["schedule"] == float(settings.RETENTION_INTERVAL_SECONDS) == 86400.0


def test_the_task_runs_in_a_real_celery_worker(committed, tmp_path):
    from omni.celery import app

    org = create_organization(unique_slug("worker"), "Worker")
    now = timezone.now()
    old = TestRun.objects.create(
        organization=org, operation="tools/call", outcome="ok", created_at=days_ago(now, 400)
    )
    new = TestRun.objects.create(
        organization=org, operation="tools/call", outcome="ok", created_at=days_ago(now, 1)
    )
    queue = f"retention-test-{uuid.uuid4().hex[:8]}"  # no other worker of the session takes it
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "omni.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
    }
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "omni", "worker", "--pool", "solo", "-Q", queue,
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        app.send_task(settings.CELERY_BEAT_SCHEDULE["apply-retention"]["task"], queue=queue)
        deadline = time.monotonic() + 90
        run = None
        while time.monotonic() < deadline:
            run = RetentionRun.objects.filter(
                organization=org, class_name="test_runs", finished_at__isnull=False
            ).first()
            if run is not None:
                break
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.5)
        assert run is not None, (tmp_path / "worker.log").read_text()
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)
        log.close()
    assert run.trigger == "beat" and run.status == "done" and run.deleted == 1
    assert not TestRun.objects.filter(pk=old.pk).exists()
    assert TestRun.objects.filter(pk=new.pk).exists()
    assert f"{TASK}" in (tmp_path / "worker.log").read_text()
    org.delete()
