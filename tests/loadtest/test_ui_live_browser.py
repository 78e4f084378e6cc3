"""The live run page in Chromium (Playwright) against a real server process: the test publishes
``loadrun.tick`` / ``loadrun.status`` / ``loadrun.finished`` to the run's group through the same
Redis channel layer the execution part uses, and the page shows the summed numbers, then the report.
The websocket refuses a member of another organization."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from playwright.sync_api import expect

from omni.loadtest.live import group_name
from omni.loadtest.models import LoadRun
from omni.tenants.models import Membership, Role
from omni.tenants.services import create_organization
from tests.factories import TEST_PASSWORD, LoadRunFactory, UserFactory
from tests.live import unique_slug
from tests.loadtest.ui_support import make_report

pytestmark = pytest.mark.live

WAIT_MS = 15_000


def off_loop(fn, *args: Any) -> Any:
    """Run ``fn`` in another thread: Playwright's sync API keeps an event loop in this one, where
    Django refuses ORM calls and asgiref refuses ``async_to_sync``."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result(timeout=30)


def publish(run_uuid: Any, message: dict[str, Any]) -> None:
    off_loop(async_to_sync(get_channel_layer().group_send), group_name(run_uuid), message)


@pytest.fixture
def live_world(committed, settings):
    if not settings.REDIS_URL:
        pytest.fail("the live run page test needs REDIS_URL (the channel layer shared with the server)")
    org = create_organization(unique_slug("lt-live"), "Live load")
    other = create_organization(unique_slug("lt-other"), "Other")
    owner = UserFactory(username=f"owner-{org.slug}")
    outsider = UserFactory(username=f"owner-{other.slug}")
    Membership.objects.create(user=owner, organization=org, role=Role.OWNER)
    Membership.objects.create(user=outsider, organization=other, role=Role.OWNER)
    run = LoadRunFactory(
        organization=org, profile_name="smoke", status=LoadRun.Status.RUNNING, shards_total=2, shards_done=0
    )
    return org, other, owner, outsider, run


def log_in(page, base_url: str, path: str, user) -> None:
    page.goto(f"{base_url}{path}")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(path)))


def test_live_page_shows_ticks_then_the_report(live_server, live_world, page):
    org, _other, owner, _outsider, run = live_world
    path = f"/o/{org.slug}/loadtests/runs/{run.uuid}/"
    log_in(page, live_server.url, path, owner)
    page.wait_for_selector("[data-testid=live][data-connected=true]", timeout=WAIT_MS)
    assert page.locator("[data-testid=live-rps]").inner_text() == "—"

    # Two shards report their first second: the page sums counts and weighs the percentiles.
    for shard, count, errors, p50, p95, p99 in ((0, 40, 1, 2.0, 5.0, 8.0), (1, 60, 2, 4.0, 10.0, 20.0)):
        publish(
            run.uuid,
            {
                "type": "loadrun.tick",
                "phase": "main",
                "shard": shard,
                "t": 0,
                "count": count,
                "errors": errors,
                "p50": p50,
                "p95": p95,
                "p99": p99,
            },
        )
    rps = page.locator("[data-testid=live-rps]")
    expect(page.locator("[data-testid=live-rps]")).to_have_text("100", timeout=WAIT_MS)
    assert rps.inner_text() == "100"
    assert page.locator("[data-testid=live-eps]").inner_text() == "3"
    assert page.locator("[data-testid=live-p50]").inner_text() == "3.2"  # (40×2 + 60×4) / 100
    assert page.locator("[data-testid=live-p95]").inner_text() == "8.0"
    assert page.locator("[data-testid=live-p99]").inner_text() == "15.2"
    assert page.locator("[data-testid=live-seconds] tbody tr").count() == 1

    # The next second moves the numbers on, and the chart draws two points per line.
    publish(
        run.uuid,
        {"type": "loadrun.tick", "phase": "main", "shard": 0, "t": 1, "count": 55, "errors": 0,
         "p50": 3.0, "p95": 6.0, "p99": 9.0},
    )  # fmt: skip
    expect(page.locator("[data-testid=live-rps]")).to_have_text("55", timeout=WAIT_MS)
    assert page.locator("[data-testid=live-seconds] tbody tr").count() == 2
    points = page.get_attribute("[data-live=line-rps]", "points")
    assert len(points.split(" ")) == 2

    publish(run.uuid, {"type": "loadrun.status", "status": "running", "shards_done": 1, "shards_total": 2})
    expect(page.locator("[data-testid=live-shards]")).to_have_text("1 / 2", timeout=WAIT_MS)

    # The run finishes: its report is stored, then "finished" is published; the page shows it.
    report = make_report(orgs=(org.slug,))
    off_loop(
        lambda: LoadRun.objects.filter(pk=run.pk).update(
            status=LoadRun.Status.COMPLETED, report=report, shards_done=2, verdict=LoadRun.Verdict.PASSED
        )
    )
    publish(run.uuid, {"type": "loadrun.finished", "status": "completed", "verdict": "passed"})
    page.wait_for_selector("[data-testid=report]", timeout=WAIT_MS)
    assert page.locator("[data-testid=report-requests]").inner_text() == str(report["requests"])
    assert page.locator("[data-testid=run-status]").inner_text() == "completed"
    assert page.locator("[data-testid=live]").count() == 0
    assert page.locator("[data-testid=report-operations] tbody tr").count() == 2


def close_code(page, path: str) -> int:
    """The close code the server answers a websocket to ``path`` with (-1: still open after 10 s)."""
    return page.evaluate(
        """(path) => new Promise((resolve) => {
            const socket = new WebSocket("ws://" + location.host + path);
            socket.onclose = (event) => resolve(event.code);
            setTimeout(() => resolve(-1), 10000);
        })""",
        path,
    )


def test_websocket_refuses_another_organizations_member(live_server, live_world, page):
    org, other, _owner, outsider, run = live_world
    ws_path = f"/ws/loadtests/{org.slug}/runs/{run.uuid}/"
    page.goto(f"{live_server.url}/login/")
    assert close_code(page, ws_path) == 4403  # anonymous
    log_in(page, live_server.url, f"/o/{other.slug}/", outsider)
    assert close_code(page, ws_path) == 4404  # a member of another organization
    assert close_code(page, f"/ws/loadtests/{other.slug}/runs/{run.uuid}/") == 4404  # not that org's run
    # And the page itself is a 404 for them.
    response = page.goto(f"{live_server.url}/o/{org.slug}/loadtests/runs/{run.uuid}/")
    assert response.status == 404
