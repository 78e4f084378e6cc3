"""The egress policy in the UI: the server form and the Django admin refuse internal URLs with a
form error, "Test connection" and the tool list show the category (blocked, refused…) without
connecting, and global servers registered by operators are exempt."""

from __future__ import annotations

import pytest

from omni.registry.models import ServerConnection
from tests.factories import UserFactory
from tests.security.egress_listener import SECRET, Listener


@pytest.fixture
def strict(settings):
    settings.MCP_EGRESS_ALLOW = []
    return settings


def _url(world, rest: str = "") -> str:
    return f"/o/{world.acme.slug}/servers/{rest}"


def _data(url: str, transport: str = "streamable_http") -> dict[str, str]:
    return {"name": "intranet", "transport": transport, "url": url, "enabled": "on", "timeout_seconds": "5"}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/mcp",
        "http://localhost:8000/mcp",
        "http://[::1]:8000/mcp",
        "http://[::ffff:127.0.0.1]/mcp",
        "http://[fd12:3456::1]/mcp",
        "http://10.0.0.8/mcp",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_form_refuses_internal_urls(strict, world, login, url):
    client = login(world.owner)
    for transport in ("streamable_http", "sse"):
        response = client.post(_url(world, "new/"), _data(url, transport))
        assert response.status_code == 400, url
        assert "the egress policy does not let the gateway connect there" in response.content.decode()
    assert not ServerConnection.objects.owned_by(world.acme).filter(name="intranet").exists()


@pytest.mark.parametrize("url", ["http://2130706433/mcp", "http://0177.0.0.1/mcp", "http://0x7f.1/mcp"])
def test_form_refuses_numeric_spellings(strict, world, login, url):
    response = login(world.owner).post(_url(world, "new/"), _data(url))
    assert response.status_code == 400  # "Enter a valid URL" or the egress refusal: never saved
    assert not ServerConnection.objects.owned_by(world.acme).filter(name="intranet").exists()


def test_operator_allow_list_lets_the_form_save(settings, world, login):
    settings.MCP_EGRESS_ALLOW = ["10.0.0.0/8"]
    data = {**_data("http://10.0.0.8/mcp"), "save_anyway": "1"}  # allowed, but nothing answers there
    assert login(world.owner).post(_url(world, "new/"), data).status_code == 302


def test_admin_refuses_for_an_organization_and_exempts_global_servers(strict, world, client):
    admin = UserFactory(username=f"root-{world.acme.slug}", is_staff=True, is_superuser=True)
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    data = {
        "name": f"adm-{world.acme.slug}"[:40],
        "transport": "streamable_http",
        "url": "http://127.0.0.1:9101/mcp",
        "args": "[]",
        "env": "{}",
        "tool_allowlist": "[]",
        "timeout_seconds": "5",
        "enabled": "on",
    }
    refused = client.post("/admin/registry/serverconnection/add/", {**data, "organization": world.acme.pk})
    assert refused.status_code == 200 and "egress policy" in refused.content.decode()
    assert not ServerConnection.objects.filter(name=data["name"]).exists()
    saved = client.post("/admin/registry/serverconnection/add/", data)  # global: an operator's server
    assert saved.status_code == 302, saved.content.decode()[-2000:]
    assert ServerConnection.objects.get(name=data["name"]).organization_id is None


def test_test_connection_and_tools_show_the_category_without_connecting(settings, world, login):
    with Listener() as listener:
        settings.MCP_EGRESS_ALLOW = ["127.0.0.0/8"]
        client = login(world.owner)
        saved = client.post(_url(world, "new/"), {**_data(listener.url()), "save_anyway": "1"})
        assert saved.status_code == 302
        server = ServerConnection.objects.owned_by(world.acme).get(name="intranet")
        settings.MCP_EGRESS_ALLOW = []  # the operator tightened the policy after the save
        tested = client.post(_url(world, f"{server.uuid}/test/"), HTTP_HX_REQUEST="true").content.decode()
        assert 'data-testid="test-error"' in tested and "blocked by the egress policy" in tested
        tools = client.post(_url(world, f"{server.uuid}/tools/"), HTTP_HX_REQUEST="true").content.decode()
        assert 'data-testid="tools-error"' in tools and "blocked by the egress policy" in tools
        assert listener.connections == 0
        # Allowed again: it connects, and the page says what kind of failure it was, nothing more.
        settings.MCP_EGRESS_ALLOW = ["127.0.0.0/8"]
        tested = client.post(_url(world, f"{server.uuid}/test/"), HTTP_HX_REQUEST="true").content.decode()
        assert listener.connections >= 1
        assert "not an MCP server" in tested and SECRET not in tested and "text/html" not in tested
