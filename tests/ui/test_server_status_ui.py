"""Server status in the UI (issue 8 part 2), in Chromium against a live server at 1280 and 390 px:
badges on the dashboard, the server list and the detail page (uptime, latency, last error, the
history chart); saving a server runs a connection test with a "Save anyway" choice; the
playground shows the tools of a server that is down greyed, with the reason. Plus the form flow
with Django's client (status codes, nothing half-written)."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest

from omni.gateway import breaker
from omni.monitoring.status import services
from omni.registry.models import ServerConnection
from omni.tenants.models import Membership, Role
from tests.factories import TEST_PASSWORD, UserFactory
from tests.gateway.conftest import connect
from tests.gateway.test_containment import serve
from tests.gateway.world import make_tenant
from tests.live import free_port

pytestmark = pytest.mark.live

TIMEOUT = 30_000


class StatusWorld:
    def __init__(self) -> None:
        self.tenant = make_tenant("uistatus", servers=())
        self.org = self.tenant.org
        self.owner = UserFactory(username=f"owner-{self.org.slug}")
        Membership.objects.create(user=self.owner, organization=self.org, role=Role.OWNER)
        self.port = free_port()
        self.process = serve(self.port)
        self.alive = ServerConnection.objects.create(
            organization=self.org,
            name="alive",
            transport="streamable_http",
            url=f"http://127.0.0.1:{self.port}/mcp",
            timeout_seconds=5,
        )
        self.dead_url = f"http://127.0.0.1:{free_port()}/mcp"
        self.dead = ServerConnection.objects.create(
            organization=self.org,
            name="dead",
            transport="streamable_http",
            url=self.dead_url,
            timeout_seconds=5,
        )
        # Another organization's server, down: never shown to this one.
        other = make_tenant("uistatus-x", servers=())
        self.foreign = ServerConnection.objects.create(
            organization=other.org, name="foreign", transport="streamable_http", url=self.dead_url
        )

    def probe(self) -> None:
        services.probe_all(jitter=0, connection_ids=[self.alive.pk, self.dead.pk, self.foreign.pk])

    def close(self) -> None:
        self.process.kill()


@pytest.fixture
def status_world(committed, settings):
    settings.STATUS_DEGRADED_LATENCY_SECONDS = 30
    breaker.reset()
    world = StatusWorld()
    world.probe()
    world.probe()
    yield world
    world.close()
    for conn in (world.alive, world.dead, world.foreign):
        ServerConnection.objects.filter(pk=conn.pk).delete()


def _log_in(page, server, user) -> None:
    page.goto(f"{server.url}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url, timeout=TIMEOUT)


def _fits(page, selector: str) -> None:
    """The element is inside the viewport's width (no sideways scrolling needed to see it)."""
    box = page.locator(selector).first.bounding_box()
    width = page.viewport_size["width"]
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (box, width)


@pytest.mark.parametrize("width", [1280, 390])
def test_badges_on_the_dashboard_list_and_detail(status_world, live_server, page, width):
    w = status_world
    page.set_viewport_size({"width": width, "height": 900})
    _log_in(page, live_server, w.owner)

    page.goto(f"{live_server.url}/o/{w.org.slug}/")
    badges = page.locator(".status-badge")
    states = badges.evaluate_all("els => els.map(e => e.dataset.status)")
    assert sorted(states) == ["down", "up"]
    assert "foreign" not in page.content()
    assert "ago" in page.locator(".status-checked").first.inner_text()

    page.goto(f"{live_server.url}/o/{w.org.slug}/servers/")
    row = page.locator("#rows tr", has_text="dead")
    assert row.locator(".status-badge").get_attribute("data-status") == "down"
    assert "last check" in row.locator(".status-badge").get_attribute("title")
    alive_row = page.locator("#rows tr", has_text="alive")
    assert alive_row.locator(".status-badge").get_attribute("data-status") == "up"

    page.goto(f"{live_server.url}/o/{w.org.slug}/servers/{w.dead.uuid}/")
    panel = page.locator("[data-testid=status-panel]")
    panel.wait_for(timeout=TIMEOUT)
    assert panel.locator(".status-badge").get_attribute("data-status") == "down"
    assert "refused" in panel.locator("[data-testid=status-error]").inner_text()
    uptime = panel.locator("[data-testid=uptime]").inner_text()
    assert "0.00 %" in uptime and "24h" in uptime and "30d" in uptime
    assert panel.locator("svg.chart-svg rect.st-down").count() == 2
    _fits(page, "[data-testid=status-panel] svg.chart-svg")

    page.goto(f"{live_server.url}/o/{w.org.slug}/servers/{w.alive.uuid}/")
    panel = page.locator("[data-testid=status-panel]")
    assert panel.locator(".status-badge").get_attribute("data-status") == "up"
    assert "100.00 %" in panel.locator("[data-testid=uptime]").inner_text()
    assert panel.locator("svg.chart-svg rect.st-up").count() == 2
    assert " ms" in panel.inner_text()
    _fits(page, "[data-testid=status-panel]")
    page.screenshot(path=f"/tmp/mstatus-detail-{width}.png", full_page=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_save_runs_a_connection_test_and_offers_save_anyway(status_world, live_server, page, width):
    w = status_world
    page.set_viewport_size({"width": width, "height": 900})
    _log_in(page, live_server, w.owner)
    page.goto(f"{live_server.url}/o/{w.org.slug}/servers/new/")
    page.fill("input[name=name]", f"later{width}")
    page.select_option("select[name=transport]", "streamable_http")
    page.fill("input[name=url]", w.dead_url)
    page.fill("input[name=new_credential]", "s3cret-token")
    page.click("button:has-text('Create server')")
    error = page.locator("[data-testid=connection-error]")
    error.wait_for(timeout=TIMEOUT)
    assert "connection refused" in error.inner_text()
    assert "/servers/new/" in page.url  # not saved
    _fits(page, "[data-testid=save-anyway]")
    page.click("[data-testid=save-anyway]")
    page.wait_for_url(re.compile(r"/servers/[0-9a-f-]{36}/$"), timeout=TIMEOUT)
    assert f"Created server later{width}" in page.content()


def test_save_flow_with_the_django_client(status_world, client):
    """A working server saves at once; a failing one is not written until "save anyway"; a
    disabled one is not tested; the credential typed survives the round trip."""
    w = status_world
    client.force_login(w.owner, backend="django.contrib.auth.backends.ModelBackend")
    url = f"/o/{w.org.slug}/servers/new/"
    base = {"transport": "streamable_http", "enabled": "on", "timeout_seconds": "5"}
    ok = client.post(url, {**base, "name": "works", "url": w.alive.url})
    assert ok.status_code == 302
    refused = client.post(url, {**base, "name": "fails", "url": w.dead_url, "new_credential": "tok-1"})
    assert refused.status_code == 400
    body = refused.content.decode()
    assert 'data-testid="connection-error"' in body and "connection refused" in body
    assert 'value="tok-1"' in body  # kept for the resubmission
    assert not ServerConnection.objects.owned_by(w.org).filter(name="fails").exists()
    anyway = client.post(
        url, {**base, "name": "fails", "url": w.dead_url, "new_credential": "tok-1", "save_anyway": "1"}
    )
    assert anyway.status_code == 302
    saved = ServerConnection.objects.owned_by(w.org).get(name="fails")
    assert saved.bearer_token() == "tok-1"
    disabled = client.post(
        url, {"transport": "streamable_http", "timeout_seconds": "5", "name": "off", "url": w.dead_url}
    )
    assert disabled.status_code == 302  # not enabled: nothing to test
    # Editing to a dead URL is tested too, and the stored row is unchanged until "save anyway".
    edit = f"/o/{w.org.slug}/servers/{w.alive.uuid}/edit/"
    response = client.post(edit, {**base, "name": "alive", "url": w.dead_url})
    assert response.status_code == 400
    w.alive.refresh_from_db()
    assert w.alive.url != w.dead_url
    ServerConnection.objects.owned_by(w.org).filter(name__in=["works", "fails", "off"]).delete()


def _call_in_thread(url: str, key: str, tool: str) -> BaseException | None:
    """An MCP call from another thread (Playwright's loop runs in this one)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        async def go() -> None:
            async with connect(url, key) as client:
                await client.call_tool(tool, {"text": "anyone?"})

        try:
            asyncio.run(go())
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    assert outcome, "the call did not finish"
    return outcome[0]


def test_the_playground_marks_the_tools_of_a_down_server(status_world, live_server, page):
    w = status_world
    _log_in(page, live_server, w.owner)
    page.goto(f"{live_server.url}/o/{w.org.slug}/playground/")
    page.wait_for_selector("#pg-status.status-open", timeout=TIMEOUT)
    page.wait_for_selector("#pg-list-tools li", timeout=TIMEOUT)
    assert page.locator("#pg-list-tools li:not(.pg-unavailable) >> text=alive__echo").count() == 1

    w.process.kill()
    w.process.wait()
    error = _call_in_thread(live_server.mcp_url, w.tenant.key, "alive__echo")
    assert error is not None and "server 'alive'" in repr(error)
    page.click("#pg-refresh")
    marked = page.locator("#pg-list-tools li.pg-unavailable[data-server=alive]")
    marked.first.wait_for(timeout=TIMEOUT)
    text = marked.filter(has_text="alive__echo").inner_text()
    assert "unavailable" in text and "down" in text
    assert marked.filter(has_text="alive__echo").locator("button").is_disabled()
    assert page.locator("#pg-list-tools li:not(.pg-unavailable) >> text=alive__echo").count() == 0
    page.set_viewport_size({"width": 390, "height": 900})
    page.screenshot(path="/tmp/mstatus-playground-390.png", full_page=True)
