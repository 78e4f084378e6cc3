"""Alerting with real processes: the evaluation and delivery tasks run in a real Celery worker on
the tests' Redis (a retry waits for its countdown), and the incident pages in Chromium at 1280 and
390 px against a real server process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from mcp.types import Tool

from omni.monitoring.models.alerts import Delivery, Incident
from omni.registry.models import ServerConnection
from omni.registry.pins import check_tools
from omni.tenants.models import Membership, Role
from omni.tenants.services import create_organization
from tests.factories import TEST_PASSWORD, UserFactory
from tests.live import database_url, unique_slug
from tests.monitoring.alerts.conftest import rule, webhook_channel

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[3]


def _held_back(org) -> None:
    server = ServerConnection.objects.create(
        organization=org, name="utils", transport="inprocess", target="utilities"
    )
    check_tools(server.pk, [Tool(name="search", description="v1", input_schema={"type": "object"})])
    check_tools(server.pk, [Tool(name="search", description="v2", input_schema={"type": "object"})])


@pytest.fixture
def celery_worker(committed, _one_session_per_database) -> Iterator[subprocess.Popen]:
    """``celery -A omni worker`` (solo pool) against the test database and the tests' Redis."""
    from django.conf import settings
    from django.db import connection

    if not settings.REDIS_URL:
        pytest.skip("a Celery worker needs REDIS_URL (the broker)")
    env = dict(os.environ)
    for name in ("SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL"):
        env.pop(f"{name}_FILE", None)
    env.update(
        DJANGO_SETTINGS_MODULE="omni.settings",
        PYTHONUNBUFFERED="1",
        DATABASE_URL=database_url(connection.settings_dict),
        REDIS_URL=settings.REDIS_URL,
        SECRET_KEY=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEY=settings.FIELD_ENCRYPTION_KEY,
        OMNI_SIGNING_SECRET=settings.OMNI_SIGNING_SECRET,
        OMNI_VAR_DIR=str(settings.VAR_DIR),
        ALERT_RETRY_BACKOFF_SECONDS="1",
        ALERT_RETRY_MAX_ATTEMPTS="3",
    )
    log = Path(f"/tmp/omni-celery-alerts-{uuid.uuid4().hex[:8]}.log")  # noqa: S108
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "omni",
                "worker",
                "--pool",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "info",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _one_session_per_database.add(process.pid)
    try:
        deadline = time.monotonic() + 90
        while b"ready." not in log.read_bytes():
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker did not start: " + log.read_text()[-3000:]
            time.sleep(0.2)
        process.log = log  # type: ignore[attr-defined]
        yield process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        _one_session_per_database.remove(process.pid)
        log.unlink(missing_ok=True)


def test_evaluation_and_retried_delivery_in_a_real_worker(celery_worker, receiver):
    from omni.monitoring.alerts.tasks import evaluate_alert_rules

    org = create_organization(unique_slug("alertw"), "Alerts worker")
    _held_back(org)
    receiver.responses = [502, 200]
    held = rule(org, "pins_held", channels=[webhook_channel(org, receiver.url)])
    evaluate_alert_rules.delay()  # through Redis to the worker, as beat sends it
    deadline = time.monotonic() + 60
    while not Delivery.objects.owned_by(org).filter(status="sent").exists():
        assert celery_worker.poll() is None, celery_worker.log.read_text()[-3000:]
        assert time.monotonic() < deadline, celery_worker.log.read_text()[-3000:]
        time.sleep(0.2)
    incident = Incident.objects.owned_by(org).get()
    assert incident.rule == held and incident.state == "open"
    first, second = Delivery.objects.owned_by(org).order_by("attempt")
    assert (first.attempt, first.status, first.response_code) == (1, "failed", 502)
    assert (second.attempt, second.status, second.response_code) == (2, "sent", 200)
    assert second.created_at >= first.next_retry_at - timedelta(milliseconds=50)  # the countdown was kept
    assert [r.signature_ok for r in receiver.received] == [True, True]
    assert "evaluate_alert_rules" in celery_worker.log.read_text()


@pytest.fixture
def incident_world(committed):
    """Rows for the browser, created before Playwright's loop starts in this thread."""
    org = create_organization(unique_slug("alertui"), "Alerts UI")
    owner = UserFactory(username=f"al{uuid.uuid4().hex[:6]}")  # short: the top bar holds it at 390 px
    Membership.objects.create(user=owner, organization=org, role=Role.OWNER)
    held = rule(org, "pins_held", name="held-back tools")
    incident = Incident.objects.create(
        organization=org,
        rule=held,
        rule_name=held.name,
        dedupe_key=held.dedupe_key,
        severity="critical",
        title="held-back tools: 1 tool definition change(s) held back",
        opened_at=timezone.now(),
        evidence={
            "value": 1,
            "condition": "more than 0 tool definition change(s) held back",
            "held": [{"server": "utils", "tool": "search_everything_with_a_long_name"}],
            "link": f"/o/{org.slug}/servers/",
        },
    )
    Delivery.objects.create(
        organization=org,
        channel_name="ops webhook",
        incident=incident,
        event="opened",
        attempt=1,
        status="failed",
        response_code=502,
        error="HTTP 502",
        next_retry_at=timezone.now() + timedelta(seconds=30),
    )
    return org, owner, incident


@pytest.mark.parametrize("width", [1280, 390])
def test_incident_pages_in_chromium(live_server, incident_world, browser, width):
    org, owner, incident = incident_world
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/o/{org.slug}/alerts/")
        page.fill("input[name=username]", owner.username)
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(rf"/o/{org.slug}/alerts/$"))
        listing = page.locator("[data-testid=incident-list]")
        assert listing.is_visible() and "held-back tools" in listing.inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
        page.click(f"a[href='/o/{org.slug}/alerts/incidents/{incident.uuid}/']")
        page.wait_for_selector("[data-testid=evidence]")
        assert (
            "utils/search_everything_with_a_long_name" in page.locator("[data-testid=evidence]").inner_text()
        )
        assert "HTTP 502" in page.locator("[data-testid=deliveries]").inner_text()
        assert page.locator("[data-testid=incident-state]").inner_text() == "open"
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.click("[data-testid=ack]")
        page.wait_for_selector("text=Acknowledged.")
        assert page.locator("[data-testid=incident-state]").first.inner_text() == "acknowledged"
        assert f"by {owner.username}" in page.locator("[data-testid=timeline]").inner_text()
        page.screenshot(path=f"/tmp/omni-incident-{width}.png", full_page=True)  # noqa: S108
    finally:
        context.close()
