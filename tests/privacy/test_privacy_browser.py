"""The privacy page in Chromium at desktop and phone widths: it renders, the runs show, and the
page does not scroll sideways."""

from __future__ import annotations

import re
import uuid

import pytest
from django.utils import timezone

from omni.privacy.retention.engine import apply_retention
from omni.privacy.retention.policy import set_legal_hold
from omni.tenants.models import Membership, Role
from omni.tenants.services import create_organization
from tests.factories import TEST_PASSWORD, UserFactory
from tests.live import unique_slug
from tests.privacy.conftest import days_ago, test_run

pytestmark = pytest.mark.live


@pytest.fixture
def privacy_world(committed):
    """Rows first: Playwright's sync API runs an event loop here, where Django refuses ORM calls."""
    org = create_organization(unique_slug("privacy"), "Privacy Co")
    owner = UserFactory(username=f"o-{uuid.uuid4().hex[:6]}")  # short: the top bar shows it
    Membership.objects.create(user=owner, organization=org, role=Role.OWNER)
    now = timezone.now()
    for d in (200, 300):
        test_run(org, days_ago(now, d))
    apply_retention(org=org, classes=["test_runs", "scenario_runs"], now=now)
    set_legal_hold(org, True, reason="case 7", actor=owner)
    yield org, owner
    org.delete()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_privacy_page_renders(live_server, privacy_world, browser, width, tmp_path):
    org, owner = privacy_world
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/o/{org.slug}/privacy/")
        page.fill("input[name=username]", owner.username)
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(rf"/o/{org.slug}/privacy/$"))
        assert page.locator("h1").inner_text() == "Privacy"
        hold = page.locator("[data-testid=legal-hold]").inner_text()
        assert "on hold" in hold and "case 7" in hold
        runs = page.locator("[data-testid=runs]").inner_text()
        assert "test_runs" in runs and "2" in runs
        assert page.locator("input[name=test_runs]").is_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        page.screenshot(path=str(tmp_path / f"privacy-{width}.png"), full_page=True)
        assert overflow <= 1, f"the page scrolls sideways by {overflow}px at {width}px"

        # The owner changes a period in the browser; a value out of bounds is refused inline.
        page.fill("input[name=test_runs]", "0")
        page.click("button:has-text('Save retention periods')")
        assert "At least 1 days" in page.locator("[data-testid=retention]").inner_text()
        page.fill("input[name=test_runs]", "45")
        page.click("button:has-text('Save retention periods')")
        page.wait_for_selector("text=Retention periods saved.")
    finally:
        context.close()
