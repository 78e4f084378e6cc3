"""Script payloads in names, descriptions, tool results and server descriptions are shown as text.

A real tools/call through the REST API stores a tool result that carries the payload; then
Chromium opens every page that shows it. The payload includes an element without any script
(``<b class=xss-probe>``), which the Content-Security-Policy would not stop: if any page — server
rendered or built by JavaScript — inserted the payload as HTML, that element would appear in the DOM.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx2
import pytest

from omni.registry.models import Prompt, Resource, ServerConnection
from omni.tenants.services import add_member, create_organization
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.live

# No double quotes: tool results are JSON text, where they would be escaped as \".
PAYLOAD = "<script>alert(1)</script><b class=xss-probe>bold</b><img src=x onerror=alert(2)>"
ESCAPED_START = "&lt;script&gt;alert(1)"


@dataclass
class XssWorld:
    username: str
    slug: str
    server: ServerConnection
    prompt: Prompt
    resource: Resource
    run_id: str


@pytest.fixture
def xss_world(live_server, committed) -> XssWorld:
    """Committed before the browser starts (the sync Playwright API runs an event loop)."""
    suffix = uuid.uuid4().hex[:8]
    user = UserFactory(username=f"xss-{suffix}")
    org = create_organization(f"xss-{suffix}", "XSS Org")
    add_member(org, user, "owner")
    server = ServerConnection.objects.create(
        organization=org,
        name="knowledge",
        transport="inprocess",
        target="knowledge",
        title=PAYLOAD,
        description=PAYLOAD,
        timeout_seconds=10,
    )
    prompt = Prompt.objects.create(
        organization=org,
        name="xss_prompt",
        title=PAYLOAD,
        description=PAYLOAD,
        arguments=[{"name": "topic", "description": PAYLOAD, "required": True}],
        messages=[{"role": "user", "content": PAYLOAD + " {topic}"}],
    )
    resource = Resource.objects.create(
        organization=org, uri="memo://xss/readme", name=PAYLOAD, description=PAYLOAD, text=PAYLOAD
    )
    tokens = httpx2.post(
        f"{live_server.url}/api/auth/token/",
        json={"username": user.username, "password": TEST_PASSWORD},
        timeout=10,
    ).json()
    response = httpx2.post(
        f"{live_server.url}/api/test/mcp",
        headers={"Authorization": f"Bearer {tokens['access']}"},
        json={
            "organization": org.slug,
            "operation": "tools/call",
            "params": {"name": "knowledge__create_note", "arguments": {"title": PAYLOAD, "body": PAYLOAD}},
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["outcome"] == "ok", result
    assert PAYLOAD in result["response"]["content"][0]["text"]  # the tool really answered the payload
    return XssWorld(user.username, org.slug, server, prompt, resource, result["run_id"])


def test_payloads_stay_text_in_every_page(live_server, xss_world, page):
    base = f"{live_server.url}/o/{xss_world.slug}"
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", xss_world.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    pages = [
        "/",
        "/servers/",
        f"/servers/{xss_world.server.uuid}/",  # its tools arrive by an htmx POST (the live probe)
        "/prompts/",
        f"/prompts/{xss_world.prompt.uuid}/",
        f"/prompts/{xss_world.prompt.uuid}/preview/?arg_topic=" + PAYLOAD,
        "/resources/",
        f"/resources/{xss_world.resource.uuid}/",
        "/history/",
        f"/history/{xss_world.run_id}/",
        f"/playground/?run={xss_world.run_id}",
        "/audit/",
    ]
    shows_payload = {
        f"/servers/{xss_world.server.uuid}/",
        f"/prompts/{xss_world.prompt.uuid}/",
        f"/resources/{xss_world.resource.uuid}/",
        f"/history/{xss_world.run_id}/",  # the tool result
    }
    for path in pages:
        response = page.goto(base + path)
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
        assert page.locator(".xss-probe").count() == 0, f"{path} rendered the payload as HTML"
        assert page.locator("img[src='x']").count() == 0, path
        if path in shows_payload:
            assert ESCAPED_START in response.text(), f"{path} does not show the payload (as text)"
    assert dialogs == []
