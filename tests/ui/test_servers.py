"""MCP servers in the UI: register by URL, the connection test and tool list against a real
standalone server and a dead port, the allowlist, enable/disable, stdio refused, write-only
credential, global servers."""

from __future__ import annotations

import pytest
from django.test import override_settings

from omni.registry.models import ServerConnection
from tests.factories import ServerConnectionFactory

UTILITIES_TOOLS = {
    "calculate",
    "convert_units",
    "datetime_calc",
    "text_stats",
    "regex_extract",
    "json_tool",
    "hash_text",
    "generate_uuid",
    "base64_codec",
}


def _url(world, rest: str = "") -> str:
    return f"/o/{world.acme.slug}/servers/{rest}"


def _register(client, world, url: str, **extra) -> ServerConnection:
    data = {
        "name": "utils",
        "transport": "streamable_http",
        "url": url,
        "enabled": "on",
        "timeout_seconds": "10",
    }
    response = client.post(_url(world, "new/"), {**data, **extra})
    assert response.status_code == 302, response.content.decode()[-3000:]
    return ServerConnection.objects.owned_by(world.acme).get(name=data["name"])


def test_register_by_url_test_connection_and_see_tools(world, login, utilities_url):
    client = login(world.owner)
    server = _register(client, world, utilities_url, description="Standalone utilities")
    assert (server.transport, server.url, server.enabled) == ("streamable_http", utilities_url, True)

    response = client.post(_url(world, f"{server.uuid}/test/"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    result = response.content.decode()
    assert 'data-testid="test-ok"' in result and "9 tools" in result and "<html" not in result

    tools = client.post(_url(world, f"{server.uuid}/tools/"), HTTP_HX_REQUEST="true").content.decode()
    names = {name for name in UTILITIES_TOOLS if f"<code>{name}</code>" in tools}
    assert names == UTILITIES_TOOLS, tools[:1500]
    assert "Evaluate" in tools or "expression" in tools  # descriptions and schemas are shown
    assert "&quot;properties&quot;" in tools
    assert tools.count('type="checkbox" name="tools"') == 9  # the allowlist checkboxes (owner)


def test_allowlist_from_the_tool_checkboxes(world, login, utilities_url):
    client = login(world.admin)
    server = _register(client, world, utilities_url)
    offered = sorted(UTILITIES_TOOLS)
    response = client.post(
        _url(world, f"{server.uuid}/allowlist/"), {"tools": ["calculate", "hash_text"], "offered": offered}
    )
    assert response.status_code == 302
    server.refresh_from_db()
    assert server.tool_allowlist == ["calculate", "hash_text"]
    tools = client.post(_url(world, f"{server.uuid}/tools/"), HTTP_HX_REQUEST="true").content.decode()
    assert tools.count(" checked>") == 2  # all nine listed, two checked
    # Checking every tool clears the allowlist (new tools of the server are offered too).
    client.post(_url(world, f"{server.uuid}/allowlist/"), {"tools": offered, "offered": offered})
    server.refresh_from_db()
    assert server.tool_allowlist == []
    # None checked is refused, nothing written.
    response = client.post(_url(world, f"{server.uuid}/allowlist/"), {"offered": offered})
    assert response.status_code == 400 and "Choose at least one tool" in response.content.decode()
    server.refresh_from_db()
    assert server.tool_allowlist == []


def test_dead_port_gives_a_clear_error(world, login, dead_url):
    client = login(world.owner)
    server = _register(client, world, dead_url, timeout_seconds="5", save_anyway="1")  # its test fails
    result = client.post(_url(world, f"{server.uuid}/test/"), HTTP_HX_REQUEST="true")
    assert result.status_code == 200
    text = result.content.decode()
    assert 'data-testid="test-error"' in text and "Connection failed" in text
    assert "server &#x27;utils&#x27;" in text and "connection refused or unreachable" in text
    assert "ConnectError" not in text and "All connection attempts" not in text  # details: the log
    tools = client.post(_url(world, f"{server.uuid}/tools/")).content.decode()
    assert 'data-testid="tools-error"' in tools and "<html" in tools  # without htmx: the whole page


def test_test_connection_of_a_builtin_server(world, login):
    server = ServerConnectionFactory(organization=world.acme, name="builtin", target="utilities")
    result = login(world.acme_member).post(_url(world, f"{server.uuid}/test/"), HTTP_HX_REQUEST="true")
    assert 'data-testid="test-ok"' in result.content.decode() and "9 tools" in result.content.decode()


def test_form_errors_are_inline(world, login):
    ServerConnectionFactory(organization=world.acme, name="taken")
    client = login(world.owner)
    base = {"transport": "streamable_http", "url": "https://x.example/mcp", "timeout_seconds": "5"}
    cases = [
        ({**base, "name": "Bad__Name"}, "Use lowercase letters and digits"),
        ({**base, "name": "ok", "url": ""}, "An HTTP server needs a URL."),
        ({**base, "name": "ok", "url": "ftp://x.example/"}, "Enter a valid URL."),
        ({**base, "name": "ok", "timeout_seconds": "0"}, "greater than or equal to 0.1"),
        ({**base, "name": "taken"}, "already has an item with this name"),
        (
            {**base, "name": "ok", "transport": "stdio", "command": "python"},
            "stdio servers can only be global.",
        ),
        (
            {**base, "name": "ok", "transport": "inprocess", "target": ""},
            "Choose one of the built-in servers",
        ),
        ({**base, "name": "ok", "transport": "stdio", "command": "x", "env": "NOEQUALS"}, "Write NAME=value"),
    ]
    before = ServerConnection.objects.owned_by(world.acme).count()
    for data, message in cases:
        response = client.post(_url(world, "new/"), data)
        assert response.status_code == 400, data
        assert message in response.content.decode(), (data, message)
    assert ServerConnection.objects.owned_by(world.acme).count() == before


@override_settings(MCP_ALLOW_ORG_STDIO=True)
def test_stdio_by_command_when_the_operator_allows_it(world, login):
    client = login(world.owner)
    response = client.post(
        _url(world, "new/"),
        {
            "name": "local",
            "transport": "stdio",
            "command": "python",
            "args": "-m\nmcp_servers.utilities\n",
            "env": "LOG_LEVEL=debug",
            "timeout_seconds": "5",
        },
    )
    assert response.status_code == 302
    server = ServerConnection.objects.owned_by(world.acme).get(name="local")
    assert (server.command, server.args, server.env) == (
        "python",
        ["-m", "mcp_servers.utilities"],
        {"LOG_LEVEL": "debug"},
    )


def test_credential_is_write_only(world, login):
    client = login(world.owner)
    secret = "s3cr3t-token-value-1234567890"
    server = _register(client, world, "https://mcp.example.com/mcp", new_credential=secret, save_anyway="1")
    assert server.bearer_token() == secret
    for path in ["", f"{server.uuid}/", f"{server.uuid}/edit/"]:
        page = client.get(_url(world, path)).content.decode()
        assert secret not in page, path
    assert "a credential is stored" in client.get(_url(world, f"{server.uuid}/edit/")).content.decode()
    # Saving the form without a new credential keeps it; "remove" clears it.
    data = {
        "name": "utils",
        "transport": "streamable_http",
        "url": "https://mcp.example.com/mcp",
        "timeout_seconds": "10",
    }
    assert client.post(_url(world, f"{server.uuid}/edit/"), data).status_code == 302
    server.refresh_from_db()
    assert server.bearer_token() == secret and server.enabled is False
    assert (
        client.post(_url(world, f"{server.uuid}/edit/"), {**data, "clear_credential": "on"}).status_code
        == 302
    )
    server.refresh_from_db()
    assert server.bearer_token() == ""


def test_enable_disable(world, login):
    server = ServerConnectionFactory(organization=world.acme, name="toggled")
    client = login(world.admin)
    response = client.post(_url(world, f"{server.uuid}/toggle/"), {"next": _url(world)})
    assert response.status_code == 302 and response["Location"] == _url(world)
    server.refresh_from_db()
    assert server.enabled is False
    assert "toggled is disabled" in client.get(_url(world)).content.decode()
    # An off-site "next" is ignored.
    response = client.post(_url(world, f"{server.uuid}/toggle/"), {"next": "https://evil.example/"})
    assert response["Location"] == _url(world, f"{server.uuid}/")
    server.refresh_from_db()
    assert server.enabled is True


def test_global_server_is_read_only_and_can_be_overridden_without_its_credential(world, login):
    glob = ServerConnectionFactory(
        name=f"g-{world.acme.slug}",
        transport="streamable_http",
        target="",
        url="https://g.example/mcp",
        credential="global-secret",
    )
    client = login(world.owner)
    detail = client.get(_url(world, f"{glob.uuid}/")).content.decode()
    assert "badge-global" in detail and "global-secret" not in detail and "/toggle/" not in detail
    assert client.post(_url(world, f"{glob.uuid}/toggle/")).status_code == 403
    assert client.post(_url(world, f"{glob.uuid}/override/")).status_code == 302
    copy = ServerConnection.objects.owned_by(world.acme).get(name=glob.name)
    assert copy.url == glob.url and copy.bearer_token() == ""


@pytest.mark.parametrize("role", ["viewer"])
def test_viewer_sees_no_write_controls_and_cannot_probe(world, login, role):
    server = ServerConnectionFactory(organization=world.acme, name="ro")
    client = login(world.user(role))
    page = client.get(_url(world, f"{server.uuid}/")).content.decode()
    assert "Test connection" not in page and "/edit/" not in page and "/toggle/" not in page
    # The page itself never connects for a viewer, and the live probe is a POST needing tools:call.
    assert "/tools/" not in page and 'data-testid="tools-no-probe"' in page
    assert client.get(_url(world, f"{server.uuid}/tools/"), HTTP_HX_REQUEST="true").status_code == 405
    assert client.post(_url(world, f"{server.uuid}/tools/"), HTTP_HX_REQUEST="true").status_code == 403
    assert client.post(_url(world, f"{server.uuid}/test/"), HTTP_HX_REQUEST="true").status_code == 403


def test_member_lists_tools_without_write_controls(world, login):
    server = ServerConnectionFactory(organization=world.acme, name="ro")
    client = login(world.acme_member)
    page = client.get(_url(world, f"{server.uuid}/")).content.decode()
    assert 'hx-post="' + _url(world, f"{server.uuid}/tools/") + '"' in page
    tools = client.post(_url(world, f"{server.uuid}/tools/"), HTTP_HX_REQUEST="true").content.decode()
    assert "<code>calculate</code>" in tools and 'name="tools"' not in tools


def test_no_prefix_checkbox_and_its_refusal(world, login):
    """The form offers "No prefix" and refuses a second unprefixed server in the organization."""
    ServerConnectionFactory(organization=world.acme, name="plain", no_prefix=True)
    client = login(world.owner)
    assert 'name="no_prefix"' in client.get(_url(world, "new/")).content.decode()
    data = {"name": "second", "transport": "inprocess", "target": "knowledge", "enabled": "on"}
    response = client.post(_url(world, "new/"), {**data, "timeout_seconds": "10", "no_prefix": "on"})
    assert response.status_code == 400  # the form again, with the error
    assert "already exposes its names without a prefix" in response.content.decode()
    assert not ServerConnection.objects.owned_by(world.acme).filter(name="second").exists()
