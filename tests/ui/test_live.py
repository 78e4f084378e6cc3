"""Against a real server process: what the UI changes, MCP clients see on their next request; and
the pages in Chromium (login, the organization switcher, a form, htmx search)."""

from __future__ import annotations

import asyncio
import re

import pytest
from django.test import Client

from omni.registry.models import ServerConnection
from omni.tenants.models import Membership, Role
from omni.tenants.services import create_api_key, create_organization
from tests.factories import TEST_PASSWORD, UserFactory
from tests.gateway.conftest import connect
from tests.live import unique_slug

pytestmark = pytest.mark.live


def _mcp(url: str, key: str, what: str):
    async def run():
        async with connect(url, key) as client:
            if what == "prompts":
                return {p.name for p in (await client.list_prompts()).prompts}
            if what == "tools":
                return {t.name for t in (await client.list_tools()).tools}
            raise AssertionError(what)

    return asyncio.run(run())


def _org_with_owner():
    org = create_organization(unique_slug("uilive"), "UI live")
    owner = UserFactory(username=f"owner-{org.slug}")
    Membership.objects.create(user=owner, organization=org, role=Role.OWNER)
    return org, owner


def test_ui_changes_reach_mcp_clients_on_their_next_request(live_server, committed):
    org, owner = _org_with_owner()
    server = ServerConnection.objects.create(
        organization=org, name="ui-utils", transport="inprocess", target="utilities", timeout_seconds=10
    )
    key, raw = create_api_key(org, "live")
    ui = Client()
    ui.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    assert "ui-utils__calculate" in _mcp(live_server.mcp_url, raw, "tools")
    assert "made_in_ui" not in _mcp(live_server.mcp_url, raw, "prompts")

    response = ui.post(
        f"/o/{org.slug}/prompts/new/",
        {"name": "made_in_ui", "messages": '[{"role": "user", "content": "hello"}]'},
    )
    assert response.status_code == 302
    assert "made_in_ui" in _mcp(live_server.mcp_url, raw, "prompts")

    response = ui.post(
        f"/o/{org.slug}/servers/{server.uuid}/allowlist/", {"tools": ["calculate", "hash_text"]}
    )
    assert response.status_code == 302
    assert {t for t in _mcp(live_server.mcp_url, raw, "tools") if t.startswith("ui-utils__")} == {
        "ui-utils__calculate",
        "ui-utils__hash_text",
    }

    assert ui.post(f"/o/{org.slug}/servers/{server.uuid}/toggle/").status_code == 302
    assert not any(t.startswith("ui-utils__") for t in _mcp(live_server.mcp_url, raw, "tools"))

    assert ui.post(f"/o/{org.slug}/keys/{key.pk}/revoke/").status_code == 302
    with pytest.raises(Exception) as refused:  # noqa: PT011 - the SDK raises its own HTTP error type
        _mcp(live_server.mcp_url, raw, "tools")
    assert "401" in repr(refused.value) or "nauthorized" in repr(refused.value)


@pytest.fixture
def browser_world(committed):
    """Rows for the browser test, created before the browser starts: Playwright's sync API runs an
    event loop in this thread, and Django refuses ORM calls inside one."""
    org, owner = _org_with_owner()
    other = create_organization(unique_slug("uilive-b"), "Second org")
    Membership.objects.create(user=owner, organization=other, role=Role.VIEWER)
    foreign = create_organization(unique_slug("uilive-x"), "Foreign org")
    return org, owner, other, foreign


def test_browser_login_switcher_form_and_search(live_server, browser_world, page):
    org, owner, other, foreign = browser_world

    page.goto(f"{live_server.url}/o/{org.slug}/prompts/")
    assert "/login/" in page.url
    page.fill("input[name=username]", owner.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(rf"/o/{org.slug}/prompts/$"))

    # The switcher lists the user's two organizations, not the foreign one, and keeps the section.
    page.click("[data-testid=org-switcher] summary")
    menu = page.locator("[data-testid=org-switcher] .dropdown-menu")
    assert menu.is_visible()
    text = menu.inner_text()
    assert "UI live" in text and "Second org" in text and "Foreign org" not in text
    assert foreign.slug not in page.content()

    # Create a prompt through the form; an error first, shown inline.
    page.click("text=New prompt")
    page.fill("input[name=name]", "browser made")
    page.fill("textarea[name=messages]", '[{"role": "user", "content": "Hi {who}"}]')
    page.fill("textarea[name=arguments]", '[{"name": "who", "required": true}]')
    page.click("button:has-text('Create prompt')")
    assert page.locator(".errorlist").first.inner_text().startswith("Use only letters")
    page.fill("input[name=name]", "browser_made")
    page.click("button:has-text('Create prompt')")
    page.wait_for_selector("text=Created prompt browser_made.")

    # Preview through htmx: the rendered message appears without a page load.
    page.fill("input[name=arg_who]", "Ada")
    page.click("button:has-text('Render')")
    page.wait_for_selector("#preview >> text=Hi Ada")
    assert "/preview/" not in page.url  # swapped in by htmx, no navigation

    # htmx search narrows the rows as one types.
    page.click("nav >> text=Prompts")
    page.fill("input[name=q]", "browser_m")
    page.wait_for_function("document.querySelectorAll('#rows tr').length === 1")
    assert "browser_made" in page.locator("#rows").inner_text()

    # The viewer organization: read-only pages.
    page.click("[data-testid=org-switcher] summary")
    page.click(f"[data-testid=org-switcher] a[href='/o/{other.slug}/prompts/']")
    page.wait_for_url(re.compile(rf"/o/{other.slug}/prompts/"))
    assert page.locator("text=New prompt").count() == 0
    assert page.locator(".topbar .badge").inner_text() == "viewer"
