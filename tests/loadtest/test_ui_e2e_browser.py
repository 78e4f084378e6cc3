"""A real run through the pages, in Chromium: a web process in the embedded default (no Redis: the
shards run in a thread of that process) serves the pages; the run's load goes to the session's
gateway process. Start the profile on the start page, watch the run page go live, then the
report appear with the requests the generator really made."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from omni.loadtest.models import LoadProfile
from omni.tenants.models import Membership, Role
from omni.tenants.services import create_organization
from tests.factories import TEST_PASSWORD, UserFactory
from tests.live import unique_slug

pytestmark = pytest.mark.live

PROFILE = """\
name: ui-e2e
target: gateway
operations:
  - tools/list
arrival:
  model: closed
  users: 2
  think: 20ms
duration: 3s
"""


@pytest.fixture
def e2e(committed, live_server, live_server_factory):
    org = create_organization(unique_slug("lt-e2e"), "Load E2E")
    owner = UserFactory(username=f"owner-{org.slug}")
    Membership.objects.create(user=owner, organization=org, role=Role.OWNER)
    LoadProfile.objects.create(organization=org, name="ui-e2e", source=PROFILE)
    web = live_server_factory.start(
        name="lt-ui-embedded", env={"REDIS_URL": "", "LOADTEST_GATEWAY_URL": live_server.url}
    )
    yield org, owner, web
    web.stop()


def test_start_a_run_in_the_ui_and_see_its_report(e2e, page):
    org, owner, web = e2e
    start = f"/o/{org.slug}/loadtests/start/"
    page.goto(f"{web.url}{start}")
    page.fill("input[name=username]", owner.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(re.escape(start)))
    page.select_option("select[name=profile]", "ui-e2e")
    page.select_option("select[name=target]", "gateway")
    page.click("[data-testid=start-form] button[type=submit]")
    page.wait_for_url(re.compile(rf"/o/{org.slug}/loadtests/runs/[0-9a-f-]+/$"))
    # Live, or already finished when the page came up: either way the report follows.
    page.wait_for_selector("[data-testid=report]", timeout=90_000)
    expect(page.locator("[data-testid=run-status]")).to_have_text("completed")
    requests = int(page.locator("[data-testid=report-requests]").inner_text())
    assert requests > 0
    assert page.locator("[data-testid=report-errors]").inner_text() == "0"
    assert page.locator("[data-testid=report-operations] tbody tr").count() == 1
