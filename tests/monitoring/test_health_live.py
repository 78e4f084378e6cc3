"""The system health page against real processes: two daphne web processes, a Celery worker and
beat on the tests' Redis; the embedded default (no Redis) with its in-process scheduler; the page
in Chromium at 1280 and 390 px."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from omni.monitoring.models import Heartbeat
from tests.factories import TEST_PASSWORD
from tests.live import ROOT, ServerProcess, free_port, http_get

pytestmark = pytest.mark.live

FAST = {"HEALTH_HEARTBEAT_SECONDS": "1", "HEALTH_HEARTBEAT_MISSES": "3", "HEALTH_TICK_SECONDS": "1"}


def _superuser():
    # A short name like a real operator's: the top bar's user menu (base.html) does not shrink, and
    # a 19-character name pushes it past a 390 px screen on every page.
    name = f"op{uuid.uuid4().hex[:6]}"
    user = get_user_model().objects.create_superuser(name, f"{name}@example.com", TEST_PASSWORD)
    token, _ = Token.objects.get_or_create(user=user)
    return user, token.key


def _health(server: ServerProcess, token: str) -> dict:
    status, _, body = http_get(f"{server.url}/ops/health.json", headers={"Authorization": f"Token {token}"})
    assert status == 200, body[:500]
    return json.loads(body)


def _until(fetch, predicate, timeout: float = 60.0, what: str = "") -> dict:
    """Fetch until ``predicate(result)``; fails with the last result after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fetch()
        if predicate(last):
            return last
        time.sleep(0.25)
    raise AssertionError(f"not seen within {timeout:.0f}s: {what}\nlast: {json.dumps(last, indent=1)[:4000]}")


def _pids(body: dict, kind: str, states: tuple[str, ...] = ("ok", "late")) -> set[int]:
    return {p["pid"] for p in body["processes"][kind] if p["state"] in states}


class CeleryProcess:
    """``celery -A omni worker|beat`` as a real process with its own log; stopped by ``stop()``."""

    def __init__(self, role: str, env: dict[str, str], workdir: Path) -> None:
        self.role = role
        self.log_path = workdir / f"{role}.log"
        if role == "worker":
            args = [
                "worker",
                "-l",
                "info",
                "--pool",
                "solo",
                "-c",
                "1",
                "-n",
                f"health-{uuid.uuid4().hex[:6]}@%h",
            ]
            args += ["--without-gossip", "--without-mingle"]
        else:
            args = [
                "beat",
                "-l",
                "info",
                "-s",
                str(workdir / "beat-schedule"),
                "--pidfile",
                str(workdir / "beat.pid"),
            ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own command line)
                [sys.executable, "-m", "celery", "-A", "omni", *args],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)


@pytest.fixture
def celery_processes(live_server_factory) -> Iterator[dict[str, CeleryProcess]]:
    env = {**live_server_factory.env, **FAST}
    assert env.get("REDIS_URL"), "this test needs REDIS_URL (the worker and beat use it as the broker)"
    with tempfile.TemporaryDirectory(prefix="omni-celery-") as workdir:
        started: dict[str, CeleryProcess] = {}
        try:
            for role in ("worker", "beat"):
                started[role] = CeleryProcess(role, env, Path(workdir))
            yield started
        finally:
            for process in started.values():
                process.stop()


def test_web_worker_and_beat_heartbeats_and_a_killed_web_process_expires(
    live_server_factory, celery_processes, committed
):
    _, token = _superuser()
    web_a = live_server_factory.start(name="health-a", env=FAST)
    web_b = live_server_factory.start(name="health-b", env=FAST)
    worker, beat = celery_processes["worker"], celery_processes["beat"]

    def fetch():
        return _health(web_a, token)

    def everyone_beats(body):
        return (
            {web_a.process.pid, web_b.process.pid} <= _pids(body, "web")
            and worker.pid in _pids(body, "worker")
            and beat.pid in _pids(body, "beat")
            and body["beat"]["state"] == "ok"
            and body["beat"]["last_run_by"] == "beat"
            and body["beat"]["last_sent"] is not None
        )

    try:
        body = _until(
            fetch, everyone_beats, timeout=90, what="both web processes, the worker and beat's tick"
        )
    except AssertionError:
        print(worker.logs()[-4000:], beat.logs()[-4000:], sep="\n-----\n")
        raise
    assert body["beat"]["mode"] == "beat"
    assert body["queues"]["eager"] is False and "celery" in body["queues"]["queues"]
    (worker_row,) = [p for p in body["processes"]["worker"] if p["pid"] == worker.pid]
    assert worker_row["payload"]["pool"] == "solo" and worker_row["payload"]["queues"] == ["celery"]
    (beat_row,) = [p for p in body["processes"]["beat"] if p["pid"] == beat.pid]
    assert beat_row["payload"]["sent"] >= 1
    (web_row,) = [p for p in body["processes"]["web"] if p["pid"] == web_a.process.pid]
    assert web_row["versions"]["django"] and web_row["payload"]["requests"] >= 1  # /ops/health.json

    # The worker's errors reach the page of another process (the shared Redis list).
    from omni.celery import app

    unknown = f"omni.tests.no_such_task_{uuid.uuid4().hex[:8]}"
    app.send_task(unknown)
    body = _until(
        fetch, lambda b: any(unknown in e["message"] for e in b["errors"]), timeout=60,
        what="the worker's error about an unregistered task",
    )  # fmt: skip
    (error,) = [e for e in body["errors"] if unknown in e["message"]]
    assert error["pid"] == worker.pid and error["logger"].startswith("celery")

    # A web process that dies without a word disappears once its heartbeat's TTL has passed.
    web_b.kill()
    body = _until(
        fetch, lambda b: web_b.process.pid not in _pids(b, "web", ("ok", "late", "gone")), timeout=60,
        what="the killed web process expiring",
    )  # fmt: skip
    assert web_a.process.pid in _pids(body, "web")

    # A worker stopped cleanly removes its heartbeat on the way out.
    worker.stop()
    body = _until(fetch, lambda b: worker.pid not in _pids(b, "worker", ("ok", "late", "gone")), timeout=30)
    assert beat.pid in _pids(body, "beat")


def test_embedded_default_runs_the_schedule_in_the_web_process(live_server_factory, committed):
    """No REDIS_URL: the web process runs CELERY_BEAT_SCHEDULE itself (retention included: an old
    test run goes, issue 9), and its heartbeat is a row."""
    from datetime import timedelta

    from django.utils import timezone

    from omni.playground.models import TestRun
    from omni.privacy.models.retention import RetentionRun
    from omni.tenants.services import create_organization
    from tests.live import unique_slug

    org = create_organization(unique_slug("embret"), "Embedded retention")
    old = TestRun.objects.create(
        organization=org,
        operation="tools/call",
        target="t",
        outcome="ok",
        created_at=timezone.now() - timedelta(days=400),
    )
    _, token = _superuser()
    env = {key: value for key, value in live_server_factory.env.items() if key != "REDIS_URL"}
    env.update(FAST, INPROCESS_SCHEDULER="auto", RETENTION_INTERVAL_SECONDS="2")
    port = free_port()
    server = ServerProcess("health-embedded", port, {**env, "OMNI_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    server.start()
    try:

        def ticking(body):
            entries = {e["name"]: e for e in body["scheduler"]["entries"]}
            return (
                body["scheduler"]["running"]
                and entries.get("health-tick", {}).get("runs", 0) >= 2
                and body["beat"]["state"] == "ok"
                and server.process.pid in _pids(body, "web")
            )

        body = _until(
            lambda: _health(server, token), ticking, timeout=60, what="the in-process scheduler ticking"
        )
        assert body["redis_configured"] is False
        assert body["beat"]["mode"] == "in-process"
        assert body["beat"]["last_run_by"] == "in-process scheduler"
        assert body["queues"]["eager"] is True
        assert {e["name"] for e in body["scheduler"]["entries"]} >= {"health-tick", "write-audit-spool"}
        assert Heartbeat.objects.filter(kind="web", pid=server.process.pid).exists()
        # The daily retention task, here every 2 s, ran inside the web process.
        _until(
            lambda: TestRun.objects.filter(pk=old.pk).exists(),
            lambda present: not present,
            timeout=60,
            what="the in-process retention run deleting a 400-day-old test run",
        )
        assert RetentionRun.objects.filter(
            organization=org, class_name="test_runs", trigger="beat", deleted__gte=1
        ).exists()
        assert "in-process scheduler: 2 entries" in server.logs() or "in-process scheduler:" in server.logs()
    finally:
        server.stop()
    # SIGTERM: the drain hook stopped the scheduler and removed the process's heartbeat row.
    assert not Heartbeat.objects.filter(kind="web", pid=server.process.pid).exists(), server.logs()[-3000:]
    assert "in-process scheduler stopped" in server.logs()


@pytest.fixture
def operator(committed):
    """Created before the browser starts: Playwright's sync API runs an event loop in this thread,
    and Django refuses ORM calls inside one."""
    user, _ = _superuser()
    return user


def test_health_page_in_chromium_at_1280_and_390_px(live_server, operator, page):
    user = operator
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/ops/health/")
    assert "/login/" in page.url
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/ops/health/")
    assert page.locator("h1").inner_text().startswith("System health")
    rows = page.locator("[data-testid=processes] tr[data-kind=web]")
    assert rows.count() >= 1
    for testid in ("summary", "beat", "queues", "readiness", "versions", "errors"):
        assert page.locator(f"[data-testid={testid}]").is_visible()
    page.click(".user-menu summary")
    assert page.locator(".user-menu a[href='/ops/health/']").is_visible()

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.locator("h1").is_visible()
    assert page.locator("[data-testid=processes]").count() == 1
    assert page.locator("[data-testid=queue-card] .num").inner_text().strip().isdigit()  # LLEN of celery
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    wide = page.evaluate(
        """[...document.querySelectorAll('body *')]
           .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
           .slice(0, 12).map(e => e.tagName + '.' + e.className + ' ' + (e.getAttribute('data-testid') || '')
           + ' ' + Math.round(e.getBoundingClientRect().right))"""
    )
    assert overflow <= 1, f"the page is {overflow}px wider than a 390px screen: {wide}"
