"""Every protocol revision and both transports, against a live daphne process."""

from __future__ import annotations

import pytest

from tests.gateway import rawmcp
from tests.gateway.conftest import connect, connect_sse

pytestmark = pytest.mark.live

HANDSHAKE_REVISIONS = ["2025-03-26", "2025-06-18", "2025-11-25"]


@pytest.mark.parametrize("version", HANDSHAKE_REVISIONS)
def test_handshake_revision_over_streamable_http(live_server, acme, version):
    session, result = rawmcp.initialize(live_server.mcp_url, acme.key, version)
    assert result["protocolVersion"] == version
    assert result["serverInfo"]["name"] == "omni-gateway"
    assert result["capabilities"]["tools"]["listChanged"] is True
    assert len(session) >= 32

    listed = rawmcp.rpc(live_server.mcp_url, acme.key, session, "tools/list", version=version)
    names = {tool["name"] for tool in listed["result"]["tools"]}
    assert "utilities__calculate" in names

    called = rawmcp.rpc(
        live_server.mcp_url,
        acme.key,
        session,
        "tools/call",
        {"name": "utilities__calculate", "arguments": {"expression": "6*7"}},
        version=version,
    )
    assert called["result"]["isError"] is False
    assert "42" in called["result"]["content"][0]["text"]

    prompt = rawmcp.rpc(
        live_server.mcp_url,
        acme.key,
        session,
        "prompts/get",
        {"name": "greet", "arguments": {"who": "Ada"}},
        version=version,
    )
    assert prompt["result"]["messages"][0]["content"]["text"].startswith("acme says hello to Ada")

    # DELETE ends the session everywhere; its id then answers 404.
    import httpx2

    deleted = httpx2.delete(
        live_server.mcp_url, headers={"Authorization": f"Bearer {acme.key}", "Mcp-Session-Id": session}
    )
    assert deleted.status_code == 200
    after = rawmcp.post(
        live_server.mcp_url,
        {"jsonrpc": "2.0", "id": 9, "method": "ping"},
        key=acme.key,
        session=session,
        version=version,
    )
    assert after.status_code == 404


def test_unknown_requested_version_negotiates_latest_handshake(live_server, acme):
    _session, result = rawmcp.initialize(live_server.mcp_url, acme.key, "1999-01-01")
    assert result["protocolVersion"] == "2025-11-25"


async def test_sdk_client_legacy_handshake(live_server, acme):
    async with connect(live_server.mcp_url, acme.key, mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        tools = await client.list_tools()
        assert {t.name for t in tools.tools} >= {"knowledge__create_note", "analytics__load_csv"}
        result = await client.call_tool("utilities__hash_text", {"text": "abc", "algorithm": "sha256"})
        assert not result.is_error
        assert "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" in str(
            result.structured_content
        )
        await client.send_ping()


async def test_sdk_client_modern_single_exchange(live_server, acme):
    async with connect(live_server.mcp_url, acme.key, mode="auto") as client:
        assert client.protocol_version == "2026-07-28"
        tools = await client.list_tools()
        assert "knowledge__search_notes" in {t.name for t in tools.tools}
        result = await client.call_tool("utilities__calculate", {"expression": "2*(3+4)"})
        assert not result.is_error
        assert "14" in result.content[0].text
        prompt = await client.get_prompt("greet", {"who": "Grace"})
        assert "Grace" in prompt.messages[0].content.text


async def test_sdk_client_over_legacy_sse(live_server, acme):
    async with connect_sse(live_server.sse_url, acme.key) as client:
        tools = await client.list_tools()
        assert "utilities__generate_uuid" in {t.name for t in tools.tools}
        result = await client.call_tool("utilities__calculate", {"expression": "10/4"})
        assert not result.is_error
        assert "2.5" in result.content[0].text
        resource = await client.read_resource("memo://acme/readme")
        assert resource.contents[0].text == "# acme readme"


def test_sse_session_refuses_another_credential(live_server, acme, committed):
    """The /messages/ endpoint of an SSE session answers only the key that opened it."""
    import httpx2

    from omni.tenants.services import create_api_key

    _other, other_key = create_api_key(acme.org, "second-key")
    with httpx2.stream("GET", live_server.sse_url, headers=acme.headers, timeout=10) as stream:
        lines = stream.iter_lines()
        endpoint = None
        for line in lines:
            if line.startswith("data:"):
                endpoint = line[5:].strip()
                break
        assert endpoint and endpoint.startswith("/messages/?session_id=")
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        foreign = httpx2.post(
            live_server.url + endpoint, json=ping, headers={"Authorization": f"Bearer {other_key}"}
        )
        assert foreign.status_code == 404
        own = httpx2.post(live_server.url + endpoint, json=ping, headers=acme.headers)
        assert own.status_code == 202
        for line in lines:
            if line.startswith("data:"):
                assert '"id":1' in line.replace(" ", "")
                break
