"""Error shapes at /mcp (docs/gateway.md, "Error shapes"): an unsupported MCP-Protocol-Version is a
400 naming the supported revisions on every method, JSON-RPC batches are served on 2025-03-26
sessions and refused shortly elsewhere, and every refusal has a JSON-RPC body. Raw HTTP for the
exact shapes, the official SDK client for what a real client makes of them."""

from __future__ import annotations

import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from tests.gateway import rawmcp

pytestmark = pytest.mark.live

SUPPORTED = [*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS]
PING = {"jsonrpc": "2.0", "id": 5, "method": "ping"}
SHORT = 400  # characters: a refusal is a sentence, not a validation report


def _error(response: httpx2.Response) -> dict:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert body["jsonrpc"] == "2.0" and "result" not in body, body
    return body["error"]


def _request(url: str, method: str, key: str, **headers: str) -> httpx2.Response:
    h = {"Authorization": f"Bearer {key}", "Accept": rawmcp.ACCEPT, **headers}
    return httpx2.request(method, url, headers=h, timeout=20)


def _assert_unsupported_version(response: httpx2.Response, requested: str) -> None:
    assert response.status_code == 400, response.text
    error = _error(response)
    assert error["code"] == -32022
    assert error["data"] == {"supported": SUPPORTED, "requested": requested}
    for version in SUPPORTED:
        assert version in error["message"]


def test_unsupported_version_is_400_on_every_method(live_server, acme):
    url = live_server.mcp_url
    bad = "1999-01-01"
    # POST without a session (the request id comes back), POST, GET and DELETE in a session.
    opened = rawmcp.post(url, PING, key=acme.key, version=bad)
    _assert_unsupported_version(opened, bad)
    assert opened.json()["id"] == 5
    session, _ = rawmcp.initialize(url, acme.key, "2025-06-18")
    _assert_unsupported_version(rawmcp.post(url, PING, key=acme.key, session=session, version=bad), bad)
    headers = {"Mcp-Session-Id": session, "MCP-Protocol-Version": bad}
    _assert_unsupported_version(_request(url, "GET", acme.key, **headers), bad)
    _assert_unsupported_version(_request(url, "DELETE", acme.key, **headers), bad)

    # The refused DELETE did not end the session; a DELETE with a supported version does.
    assert "result" in rawmcp.rpc(url, acme.key, session, "ping", version="2025-06-18")
    ended = _request(url, "DELETE", acme.key, **{**headers, "MCP-Protocol-Version": "2025-06-18"})
    assert ended.status_code == 200
    after = rawmcp.post(url, PING, key=acme.key, session=session, version="2025-06-18")
    assert after.status_code == 404 and _error(after)["message"] == "Session not found"


def test_delete_with_the_modern_version_header_still_ends_the_session(live_server, acme):
    url = live_server.mcp_url
    session, _ = rawmcp.initialize(url, acme.key, "2025-11-25")
    ended = _request(
        url, "DELETE", acme.key, **{"Mcp-Session-Id": session, "MCP-Protocol-Version": "2026-07-28"}
    )
    assert ended.status_code == 200
    assert rawmcp.post(url, PING, key=acme.key, session=session, version="2025-11-25").status_code == 404


def test_batch_on_a_2025_03_26_session_is_served(live_server, acme):
    url = live_server.mcp_url
    session, result = rawmcp.initialize(url, acme.key, "2025-03-26")
    assert result["protocolVersion"] == "2025-03-26"
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 99}},
        {"jsonrpc": "2.0", "id": "two", "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "utilities__calculate", "arguments": {"expression": "6*7"}},
        },
        {"not": "json-rpc"},
    ]
    response = rawmcp.post(url, batch, key=acme.key, session=session, version="2025-03-26")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["mcp-session-id"] == session
    answers = response.json()
    by_id = {a["id"]: a for a in answers if a["id"] is not None}
    assert set(by_id) == {1, "two", 3}
    assert by_id[1]["result"] == {}
    assert "utilities__calculate" in {t["name"] for t in by_id["two"]["result"]["tools"]}
    assert "42" in by_id[3]["result"]["content"][0]["text"]
    (invalid,) = [a for a in answers if a["id"] is None]
    assert invalid["error"]["code"] == -32600

    only_notifications = [{"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}]
    accepted = rawmcp.post(url, only_notifications, key=acme.key, session=session, version="2025-03-26")
    assert accepted.status_code == 202


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
def test_batch_is_refused_shortly_where_the_revision_forbids_it(live_server, acme, version):
    url = live_server.mcp_url
    batch = [PING, {**PING, "id": 6}]
    session, _ = rawmcp.initialize(url, acme.key, version)
    refused = rawmcp.post(url, batch, key=acme.key, session=session, version=version)
    assert refused.status_code == 400
    error = _error(refused)
    assert error["code"] == -32600 and "batch" in error["message"] and version in error["message"]
    assert len(refused.content) < SHORT


def test_batch_is_refused_in_single_exchange_and_when_opening_a_session(live_server, acme):
    url = live_server.mcp_url
    batch = [PING, {**PING, "id": 6}]
    modern = rawmcp.post(url, batch, key=acme.key, version="2026-07-28")
    assert modern.status_code == 400
    assert _error(modern)["code"] == -32600 and "2026-07-28" in _error(modern)["message"]
    assert len(modern.content) < SHORT
    opening = rawmcp.post(url, batch, key=acme.key)
    assert opening.status_code == 400
    assert _error(opening)["code"] == -32600 and "batch" in _error(opening)["message"]
    assert len(opening.content) < SHORT


def test_invalid_envelope_is_a_short_invalid_request(live_server, acme):
    url = live_server.mcp_url
    session, _ = rawmcp.initialize(url, acme.key, "2025-06-18")
    for where in ({"session": session, "version": "2025-06-18"}, {}):
        refused = rawmcp.post(url, {"jsonrpc": "2.0", "id": 1, "method": 5}, key=acme.key, **where)
        assert refused.status_code == 400
        assert _error(refused)["code"] == -32600
        assert len(refused.content) < SHORT


def test_wrong_content_type_is_415_with_a_json_rpc_body(live_server, acme):
    url = live_server.mcp_url
    session, _ = rawmcp.initialize(url, acme.key, "2025-06-18")
    for where in ({}, {"session": session, "version": "2025-06-18"}, {"version": "2026-07-28"}):
        refused = rawmcp.post(url, PING, key=acme.key, headers={"Content-Type": "text/plain"}, **where)
        assert refused.status_code == 415, (where, refused.text)
        assert "Content-Type must be application/json" in _error(refused)["message"]


def test_single_exchange_http_refusals_have_json_rpc_bodies(live_server, acme):
    url = live_server.mcp_url
    got = _request(url, "GET", acme.key, **{"MCP-Protocol-Version": "2026-07-28"})
    assert got.status_code == 405 and got.headers["allow"] == "POST"
    assert _error(got)["code"] == -32600
    wrong_accept = rawmcp.post(url, PING, key=acme.key, version="2026-07-28", headers={"Accept": "text/html"})
    assert wrong_accept.status_code == 406
    assert "Not Acceptable" in _error(wrong_accept)["message"]
    put = _request(url, "PUT", acme.key)
    assert put.status_code == 405
    assert _error(put)["code"] == -32600


def _mcp_errors(exc: BaseException) -> list[MCPError]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _mcp_errors(inner)]
    return [exc] if isinstance(exc, MCPError) else []


async def _sdk_error(url: str, key: str, hook) -> MCPError:
    """The MCPError the official SDK client (legacy mode) raises when every request it sends is
    rewritten by ``hook``."""

    async def rewrite(request: httpx2.Request) -> None:
        hook(request)

    try:
        async with httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {key}"}, timeout=30, event_hooks={"request": [rewrite]}
        ) as http:
            async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
                await client.list_tools()
    except BaseException as exc:  # noqa: BLE001 (the SDK wraps it in exception groups)
        errors = _mcp_errors(exc)
        assert errors, f"no MCPError in {exc!r}"
        return errors[0]
    raise AssertionError("the client connected although every request was refused")


async def test_sdk_client_sees_the_unsupported_version_error(live_server, acme):
    def bad_version(request: httpx2.Request) -> None:
        request.headers["MCP-Protocol-Version"] = "1999-01-01"

    error = await _sdk_error(live_server.mcp_url, acme.key, bad_version)
    assert error.error.code == -32022
    assert "2025-11-25" in error.error.message and "2026-07-28" in error.error.message


async def test_sdk_client_sees_the_content_type_error(live_server, acme):
    def text_plain(request: httpx2.Request) -> None:
        request.headers["Content-Type"] = "text/plain"

    error = await _sdk_error(live_server.mcp_url, acme.key, text_plain)
    assert "Content-Type must be application/json" in error.error.message
