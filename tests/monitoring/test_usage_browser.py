"""The usage dashboard in Chromium (Playwright) with data, at 1280 px and at 390 px."""

from __future__ import annotations

import re

import pytest

from omni.gateway import observe
from omni.monitoring.usage import counters, rollup, store
from omni.tenants.models import Membership, Role
from omni.tenants.services import create_organization
from tests.factories import TEST_PASSWORD, UserFactory
from tests.live import unique_slug

pytestmark = pytest.mark.live


@pytest.fixture
def usage_world(committed, settings):
    """Usage rows made before the browser starts (Playwright's sync API runs an event loop in this
    thread, and Django refuses ORM calls inside one): records through this process's counters and
    the embedded store, rolled up into the tables the server process reads."""
    settings.REDIS_URL = ""
    store._memory = store.MemoryMinuteStore()
    counters.reset()
    org = create_organization(unique_slug("usage-ui"), "Usage UI")
    owner = UserFactory(username=f"owner-{org.slug}")
    Membership.objects.create(user=owner, organization=org, role=Role.OWNER)
    for outcome, count, duration in (("ok", 30, 0.004), ("tool_error", 4, 0.3), ("refused", 3, 0.0005)):
        for _ in range(count):
            observe.emit(
                observe.RequestRecord(
                    org_id=org.pk,
                    org_slug=org.slug,
                    api_key_id="",
                    method="tools/call",
                    target="utilities__calculate",
                    server="utilities",
                    outcome=outcome,
                    error_type="rate_limited" if outcome == "refused" else "",
                    detail="mcp_per_key_per_minute" if outcome == "refused" else "",
                    duration=duration,
                )
            )
    rollup.rollup()
    counters.reset()
    return org, owner


def test_dashboard_renders_with_data_at_1280_and_390(live_server, usage_world, page):
    org, owner = usage_world
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/o/{org.slug}/usage/?range=1h")
    page.fill("input[name=username]", owner.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(rf"/o/{org.slug}/usage/"))
    assert page.locator(".stat .num").first.inner_text() == "37"
    bars = page.locator("svg.chart-svg rect")
    assert bars.count() >= 3  # requests over time, latency per tool and per server
    assert page.locator("text=rate_limited:mcp_per_key_per_minute").count() == 1
    assert page.locator("table >> text=utilities__calculate").count() >= 1

    # The range picker: 7 days reads the hour table, same numbers.
    page.select_option("select[name=range]", "7d")
    page.click("button:has-text('Show')")
    page.wait_for_url(re.compile(r"range=7d"))
    assert page.locator(".stat .num").first.inner_text() == "37"
    assert "hour table" in page.content()

    # A phone: nothing of the dashboard sticks out sideways (wide tables scroll in their own box;
    # the site header's closed user menu is the base layout's, not this page's).
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/o/{org.slug}/usage/?range=24h")
    assert page.locator("svg.chart-svg").first.is_visible()
    wide = page.evaluate(
        """[...document.querySelectorAll('main *')]
           .filter(e => e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().right > 391
                        && !e.closest('.table-wrap'))
           .slice(0, 8)
           .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""
    )
    assert wide == [], wide
    chart = page.locator("svg.chart-svg").first.bounding_box()
    assert chart is not None and chart["x"] >= 0 and chart["x"] + chart["width"] <= 390
