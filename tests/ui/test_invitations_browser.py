"""The invitation journey in Chromium against a real server process: an owner invites by email,
the mail (console backend: the server's output) carries the link, a new person opens it, creates
an account and lands in the organization as a member."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from omni.tenants.models import Membership, Role
from omni.tenants.services import create_organization
from tests.factories import TEST_PASSWORD, UserFactory
from tests.live import unique_slug

pytestmark = pytest.mark.live


def _link_for(server, email: str, timeout: float = 15) -> str:
    """The invitation link of the last mail to ``email`` that the server printed."""
    pattern = re.compile(rf"{re.escape(server.url)}/invite/[A-Za-z0-9_-]+/")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = server.logs()
        at = logs.rfind(f"To: {email}")
        if at >= 0:
            match = pattern.search(logs, at)
            if match:
                return match.group(0)
        time.sleep(0.2)
    raise AssertionError(f"no invitation mail to {email} in the server's output")


@pytest.fixture
def invite_world(committed):
    """Rows first: Playwright's sync API runs an event loop here, where Django refuses ORM calls."""
    org = create_organization(unique_slug("invite"), "Invite Co")
    owner = UserFactory(username=f"owner-{org.slug}")
    Membership.objects.create(user=owner, organization=org, role=Role.OWNER)
    return org, owner


def test_invite_then_accept_with_a_new_account(live_server, invite_world, page):
    org, owner = invite_world
    email = f"new-{uuid.uuid4().hex[:8]}@example.org"
    newcomer = f"newcomer-{uuid.uuid4().hex[:8]}"

    page.goto(f"{live_server.url}/o/{org.slug}/members/")
    page.fill("input[name=username]", owner.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(rf"/o/{org.slug}/members/$"))
    page.fill("input[name=email]", email)
    page.select_option("select[name=role]", "member")
    page.click("button:has-text('Send invitation')")
    page.wait_for_selector(f"text=Invitation sent to {email}.")
    assert email in page.locator("[data-testid=invitations]").inner_text()

    link = _link_for(live_server, email)
    page.context.clear_cookies()  # the invitee is someone else, not signed in
    page.goto(link)
    card = page.locator("[data-testid=invitation]")
    assert "Join Invite Co" in card.inner_text() and email in card.inner_text()
    page.fill("input[name=username]", newcomer)
    page.fill("input[name=password1]", "a-Long-pass-42")
    page.fill("input[name=password2]", "a-Long-pass-42")
    page.click("button:has-text('Create my account and join')")
    page.wait_for_url(re.compile(rf"/o/{org.slug}/$"))
    assert page.locator("text=Welcome to Invite Co.").count() == 1
    assert page.locator(".topbar .badge").inner_text() == "member"

    page.goto(link)  # single use
    assert "already been used" in page.locator("[data-testid=invitation]").inner_text()
