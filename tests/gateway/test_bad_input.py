"""Bad input at the gateway: the right HTTP status and a JSON-RPC error body, nothing half-written."""

from __future__ import annotations

import datetime as dt

import httpx2
import pytest

from mcp_servers.models import Note
from omni.tenants.services import create_api_key, revoke_api_key
from tests.gateway import rawmcp

pytestmark = pytest.mark.live

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}


def _error(response: httpx2.Response) -> dict:
    body = response.json()
    assert body["jsonrpc"] == "2.0"
    return body["error"]


def test_missing_key_is_401_with_json_error(live_server):
    response = rawmcp.post(live_server.mcp_url, INIT, key=None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "API key" in _error(response)["message"]


def test_wrong_expired_and_revoked_keys_are_401(live_server, acme, committed):
    wrong = acme.key[:-4] + ("AAAA" if not acme.key.endswith("AAAA") else "BBBB")
    assert rawmcp.post(live_server.mcp_url, INIT, key=wrong).status_code == 401
    assert rawmcp.post(live_server.mcp_url, INIT, key="not-a-key").status_code == 401

    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    _expired, expired_raw = create_api_key(acme.org, "expired", expires_at=past)
    assert rawmcp.post(live_server.mcp_url, INIT, key=expired_raw).status_code == 401

    # Revocation takes effect at once, open sessions included.
    session, _ = rawmcp.initialize(live_server.mcp_url, acme.key)
    revoke_api_key(acme.api_key)
    response = rawmcp.post(
        live_server.mcp_url,
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        key=acme.key,
        session=session,
        version="2025-06-18",
    )
    assert response.status_code == 401
    assert "revoked" in _error(response)["message"]


def test_malformed_json_is_a_parse_error(live_server, acme):
    response = rawmcp.post(live_server.mcp_url, None, key=acme.key, raw=b'{"jsonrpc": "2.0", "id": 1,')
    assert response.status_code == 400
    assert _error(response)["code"] == -32700


def test_batch_is_refused(live_server, acme):
    session, _ = rawmcp.initialize(live_server.mcp_url, acme.key)
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": 2, "method": "ping"}]
    response = rawmcp.post(live_server.mcp_url, batch, key=acme.key, session=session, version="2025-06-18")
    assert response.status_code == 400
    assert _error(response)["code"] in (-32600, -32602)
    modern = rawmcp.post(live_server.mcp_url, batch, key=acme.key, version="2026-07-28")
    assert modern.status_code == 400


def test_unknown_method_is_method_not_found(live_server, acme):
    session, _ = rawmcp.initialize(live_server.mcp_url, acme.key)
    answer = rawmcp.rpc(live_server.mcp_url, acme.key, session, "tools/explode", {}, version="2025-06-18")
    assert answer["error"]["code"] == -32601


def test_oversized_body_is_413(live_server, acme):
    big = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * (2 * 1024 * 1024)}}
    response = rawmcp.post(live_server.mcp_url, big, key=acme.key)
    assert response.status_code == 413
    assert "limit" in _error(response)["message"]


def test_unknown_and_foreign_session_ids_are_404(live_server, acme, globex):
    ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
    unknown = rawmcp.post(live_server.mcp_url, ping, key=acme.key, session="nope" * 8, version="2025-06-18")
    assert unknown.status_code == 404
    acme_session, _ = rawmcp.initialize(live_server.mcp_url, acme.key)
    foreign = rawmcp.post(
        live_server.mcp_url, ping, key=globex.key, session=acme_session, version="2025-06-18"
    )
    assert foreign.status_code == 404
    assert _error(foreign)["message"] == "Session not found"
    # The owner still can.
    mine = rawmcp.post(live_server.mcp_url, ping, key=acme.key, session=acme_session, version="2025-06-18")
    assert mine.status_code == 200


def test_request_without_session_is_400(live_server, acme):
    response = rawmcp.post(
        live_server.mcp_url, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, key=acme.key
    )
    assert response.status_code == 400
    assert "session" in _error(response)["message"].lower()


def test_bad_origin_is_403_and_good_origin_passes(live_server, acme):
    evil = rawmcp.post(live_server.mcp_url, INIT, key=acme.key, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    assert "Origin" in _error(evil)["message"]
    local = rawmcp.post(live_server.mcp_url, INIT, key=acme.key, headers={"Origin": "http://localhost:3000"})
    assert local.status_code == 200


def test_bad_host_is_refused(live_server, acme):
    response = rawmcp.post(live_server.mcp_url, INIT, key=acme.key, headers={"Host": "rebind.example"})
    assert response.status_code == 400
    assert "Host" in _error(response)["message"]


def test_invalid_tool_arguments_are_not_forwarded(live_server, acme, committed):
    before = Note.objects.filter(org_slug=acme.org.slug).count()
    session, _ = rawmcp.initialize(live_server.mcp_url, acme.key)
    answer = rawmcp.rpc(
        live_server.mcp_url,
        acme.key,
        session,
        "tools/call",
        {"name": "knowledge__create_note", "arguments": {"title": 12345}},
        version="2025-06-18",
    )
    assert answer["result"]["isError"] is True
    assert "Invalid arguments" in answer["result"]["content"][0]["text"]
    assert Note.objects.filter(org_slug=acme.org.slug).count() == before


def test_unknown_tool_prompt_resource_and_bad_cursor(live_server, acme):
    session, _ = rawmcp.initialize(live_server.mcp_url, acme.key)
    url, key, v = live_server.mcp_url, acme.key, "2025-06-18"
    assert (
        rawmcp.rpc(url, key, session, "tools/call", {"name": "nope__x", "arguments": {}}, version=v)["error"][
            "code"
        ]
        == -32602
    )
    prompt = rawmcp.rpc(url, key, session, "prompts/get", {"name": "greet", "arguments": {}}, version=v)
    assert prompt["error"]["code"] == -32602 and "who" in prompt["error"]["message"]
    extra = rawmcp.rpc(
        url,
        key,
        session,
        "prompts/get",
        {"name": "greet", "arguments": {"who": "x", "bogus": "y"}},
        version=v,
    )
    assert "bogus" in extra["error"]["message"]
    missing = rawmcp.rpc(url, key, session, "resources/read", {"uri": "memo://nowhere"}, version=v)
    assert missing["error"]["code"] == -32602 and "not found" in missing["error"]["message"]
    cursor = rawmcp.rpc(url, key, session, "tools/list", {"cursor": "garbage!"}, version=v)
    assert cursor["error"]["code"] == -32602


def test_no_session_left_behind_by_refused_requests(live_server, acme):
    """A refused initialize (bad params) opens no session: no Mcp-Session-Id comes back."""
    bad = dict(INIT, params={"protocolVersion": 5})
    response = rawmcp.post(live_server.mcp_url, bad, key=acme.key)
    assert "mcp-session-id" not in response.headers
    messages = rawmcp.messages_of(response)
    assert messages and "error" in messages[0]


def test_cors_for_allowed_browser_origins(live_server, acme):
    preflight = httpx2.options(
        live_server.mcp_url,
        headers={
            "Origin": "http://localhost:6274",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, mcp-session-id",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:6274"
    assert "mcp-session-id" in preflight.headers["access-control-allow-headers"]
    response = rawmcp.post(
        live_server.mcp_url, INIT, key=acme.key, headers={"Origin": "http://localhost:6274"}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:6274"
    assert "mcp-session-id" in response.headers["access-control-expose-headers"]
    evil = httpx2.options(live_server.mcp_url, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers
