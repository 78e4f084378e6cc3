"""The health pieces in this process: the in-process scheduler, the last-errors ring, database
heartbeats of the embedded default, and who may see the system health page."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from celery.schedules import crontab
from django.test import Client

from omni import lifecycle
from omni.monitoring.health import errors, heartbeats, runtime, scheduler
from omni.monitoring.health.scheduler import InProcessScheduler, as_schedule
from omni.monitoring.models import Heartbeat
from tests.factories import UserFactory, World
from tests.monitoring import health_tasks


def _wait(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# --------------------------------------------------------------------------- the in-process scheduler
@pytest.mark.django_db
def test_scheduler_runs_entries_on_their_schedule_and_survives_a_failing_task(caplog):
    health_tasks.calls.update(count=0, fail=0)
    runner = InProcessScheduler(
        {
            "count": {"task": "tests.monitoring.health_tasks.count", "schedule": 0.2},
            "fail": {"task": "tests.monitoring.health_tasks.fail", "schedule": timedelta(seconds=0.2)},
            "hourly": {"task": "tests.monitoring.health_tasks.count", "schedule": crontab(minute=0)},
            "broken": {"task": "tests.monitoring.health_tasks.count", "schedule": "every minute"},
            "missing": {"task": "tests.monitoring.health_tasks.nope", "schedule": 0.2},
        }
    )
    assert "broken" in runner.invalid
    threads_before = {t.name for t in threading.enumerate()}
    assert "omni-inprocess-scheduler" not in threads_before
    with caplog.at_level(logging.ERROR, logger="omni.monitoring.health.scheduler"):
        runner.start()
        try:
            assert _wait(lambda: health_tasks.calls["count"] >= 3 and health_tasks.calls["fail"] >= 3)
            assert runner.running  # the failures did not end the loop
        finally:
            runner.stop()
    assert not runner.running
    state = {entry["name"]: entry for entry in runner.state()["entries"]}
    assert state["count"]["runs"] >= 3 and state["count"]["failures"] == 0
    assert state["fail"]["failures"] >= 3
    assert "always fails" in state["fail"]["last_error"]
    assert state["missing"]["failures"] >= 1 and "no task named" in state["missing"]["last_error"]
    assert state["hourly"]["runs"] == 0  # not due for minutes
    failed = [
        r for r in caplog.records if "fail (tests.monitoring.health_tasks.fail) failed" in r.getMessage()
    ]
    assert failed and failed[0].exc_info is not None
    # Stopped means stopped: no more runs.
    settled = health_tasks.calls["count"]
    time.sleep(0.5)
    assert health_tasks.calls["count"] == settled


@pytest.mark.django_db
def test_scheduler_stops_when_the_process_drains():
    health_tasks.calls.update(count=0, fail=0)
    runner = InProcessScheduler({"count": {"task": "tests.monitoring.health_tasks.count", "schedule": 0.1}})
    runner.start()
    try:
        assert _wait(lambda: health_tasks.calls["count"] >= 1)
        lifecycle.start_draining()
        assert _wait(lambda: not runner.running, timeout=5)
    finally:
        runner.stop()
        lifecycle.reset_for_tests()


@pytest.mark.django_db
def test_the_process_scheduler_starts_once(settings):
    settings.INPROCESS_SCHEDULER = "on"
    settings.CELERY_BEAT_SCHEDULE = {"count": {"task": "tests.monitoring.health_tasks.count", "schedule": 60}}
    assert scheduler.current() is None
    try:
        first = scheduler.ensure_started()
        second = scheduler.ensure_started()
        assert first is second and first.running
        names = [t.name for t in threading.enumerate()]
        assert names.count("omni-inprocess-scheduler") == 1
    finally:
        scheduler.stop()
        scheduler._scheduler = None
    assert not first.running


def test_schedule_values():
    assert as_schedule(5).run_every == timedelta(seconds=5)
    assert as_schedule(timedelta(minutes=2)).run_every == timedelta(minutes=2)
    cron = crontab(minute="*/5")
    assert as_schedule(cron) is cron
    for bad in (0, -1, True, "60", None):
        with pytest.raises(ValueError):
            as_schedule(bad)


def test_nothing_starts_by_itself_under_pytest(settings):
    settings.INPROCESS_SCHEDULER = "on"
    assert runtime.ensure_web_started() is False
    assert scheduler.current() is None
    names = {t.name for t in threading.enumerate()}
    assert "omni-heartbeat-web" not in names and "omni-inprocess-scheduler" not in names


def test_scheduler_setting(settings):
    settings.INPROCESS_SCHEDULER = "auto"
    settings.REDIS_URL = None
    assert scheduler.enabled()
    settings.REDIS_URL = "redis://127.0.0.1:6379/1"
    assert not scheduler.enabled()  # beat does the work
    settings.INPROCESS_SCHEDULER = "on"
    assert scheduler.enabled()
    settings.INPROCESS_SCHEDULER = "off"
    settings.REDIS_URL = None
    assert not scheduler.enabled()


def test_a_bad_scheduler_setting_is_refused():
    import subprocess
    import sys

    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **__import__("os").environ,
            "DJANGO_SETTINGS_MODULE": "omni.settings",
            "INPROCESS_SCHEDULER": "sometimes",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "INPROCESS_SCHEDULER='sometimes' must be auto, on or off" in result.stderr


# --------------------------------------------------------------------------- last errors
def test_error_records_reach_the_ring_in_redis(settings):
    assert settings.REDIS_URL, "the suite runs with Redis"
    marker = f"health-test-error-{time.time_ns()}"
    logging.getLogger("omni.tests.health").error("boom %s", marker, extra={"request_id": "req-123"})
    logging.getLogger("omni.tests.health").warning("not an error %s", marker)

    def found():
        return [e for e in errors.last_errors() if marker in e["message"]]

    assert _wait(lambda: found(), timeout=10)
    (entry,) = found()
    assert entry["logger"] == "omni.tests.health"
    assert entry["request_id"] == "req-123"
    assert entry["level"] == "ERROR"


def test_the_ring_is_bounded(settings):
    settings.REDIS_URL = None  # this process's memory
    settings.HEALTH_LAST_ERRORS = 5
    handler = errors.LastErrorsHandler()
    for n in range(12):
        handler.emit(
            logging.makeLogRecord({"name": "x", "levelname": "ERROR", "levelno": 40, "msg": f"e{n}"})
        )
    entries = errors.last_errors()
    assert [e["message"] for e in entries] == ["e11", "e10", "e9", "e8", "e7"]


# --------------------------------------------------------------------------- database heartbeats
@pytest.mark.django_db
def test_database_heartbeats_go_gone_and_get_cleaned(settings):
    settings.REDIS_URL = None
    settings.HEALTH_HEARTBEAT_SECONDS = 10
    settings.HEALTH_HEARTBEAT_MISSES = 3
    me = heartbeats.Process("web")
    assert heartbeats.write(me, {"requests": 7})
    assert heartbeats.write(me, {"requests": 8})  # an upsert: one row per process
    assert Heartbeat.objects.filter(key=me.key).count() == 1
    old = heartbeats.Process("worker", host="elsewhere", pid=4242)
    heartbeats.write(old, {})
    Heartbeat.objects.filter(key=old.key).update(last_seen=datetime.now(UTC) - timedelta(seconds=40))
    ancient = heartbeats.Process("worker", host="elsewhere", pid=4343)
    heartbeats.write(ancient, {})
    Heartbeat.objects.filter(key=ancient.key).update(last_seen=datetime.now(UTC) - timedelta(seconds=400))

    listed = {(p["host"], p["pid"]): p for p in heartbeats.list_all()}
    assert listed[(me.host, me.pid)]["state"] == "ok"
    assert listed[(me.host, me.pid)]["payload"] == {"requests": 8}
    assert listed[("elsewhere", 4242)]["state"] == "gone"

    assert heartbeats.cleanup() == 1  # only the one older than ten TTLs
    assert not Heartbeat.objects.filter(key=ancient.key).exists()
    heartbeats.remove(me)
    assert not Heartbeat.objects.filter(key=me.key).exists()


# --------------------------------------------------------------------------- who sees the page
def _close_readiness_connections() -> None:
    """The page ran /readyz's checks in this process: its two checker threads keep a database
    connection each, which would block the test database's DROP at the end of the session."""
    from django.db import connections

    from omni.monitoring import readiness

    barrier = threading.Barrier(2)

    def close() -> None:
        connections.close_all()
        barrier.wait(10)  # both threads at once: each closes its own connection

    for future in [readiness._executor.submit(close) for _ in range(2)]:
        future.result(15)


@pytest.mark.django_db
def test_the_page_is_for_superusers_only():
    world = World()
    owner = Client()
    owner.force_login(world.owner, backend="django.contrib.auth.backends.ModelBackend")
    assert owner.get("/ops/health/").status_code == 404
    assert owner.get("/ops/health.json").status_code == 404

    anonymous = Client()
    response = anonymous.get("/ops/health/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert anonymous.get("/ops/health.json").status_code in (401, 403)

    root = UserFactory(username=f"root-{world.acme.slug}", is_superuser=True, is_staff=True)
    operator = Client()
    operator.force_login(root, backend="django.contrib.auth.backends.ModelBackend")
    try:
        _check_the_operator_view(operator, root)
    finally:
        _close_readiness_connections()


def _check_the_operator_view(operator: Client, root) -> None:
    page = operator.get("/ops/health/")
    assert page.status_code == 200
    text = page.content.decode()
    for section in ("Processes", "Scheduler", "Queues", "Readiness", "Versions", "Last errors"):
        assert section in text
    body = operator.get("/ops/health.json").json()
    assert set(body) >= {
        "processes",
        "beat",
        "queues",
        "database",
        "redis",
        "readiness",
        "versions",
        "errors",
    }
    assert body["database"]["ok"] and body["redis"]["ok"] and body["redis"]["configured"]
    assert body["queues"]["eager"] is False and "celery" in body["queues"]["queues"]
    assert {c["name"] for c in body["readiness"]} >= {"database", "migrations", "redis", "keys", "draining"}
    assert body["versions"]["django"].startswith("5.")
    # The page is a read: nothing audited.
    from omni.audit.models import AuditEvent

    assert not AuditEvent.objects.filter(actor_name=root.username).exists()
