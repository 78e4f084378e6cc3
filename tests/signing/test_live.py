"""A built-in server run on its own (``python -m mcp_servers.utilities``) over real HTTP: it takes
only requests signed by the gateway, and the gateway signs what it forwards to it."""

from __future__ import annotations

import json
import time

import httpx2
import pytest
from asgiref.sync import sync_to_async
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from omni.gateway.signing import GatewaySigner, sign
from omni.gateway.signing_keys import KeyRing, ensure_signing_key, retire, rotate
from omni.registry.models import ServerConnection
from tests.gateway.conftest import connect
from tests.gateway.world import make_tenant
from tests.live import unique_slug

pytestmark = pytest.mark.live

HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def initialize(org: str) -> bytes:
    """An ``initialize`` request (answered 200 by the server) carrying the org in ``_meta``."""
    params = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "signing-test", "version": "1"},
        "_meta": {"io.omni/org": org},
    }
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}).encode()


async def _key():
    ring = KeyRing()
    return await ring.current()


async def _post(url: str, body: bytes, header: str | None) -> httpx2.Response:
    headers = dict(HEADERS)
    if header is not None:
        headers["X-Omni-Signature"] = header
    async with httpx2.AsyncClient(timeout=10) as http:
        return await http.post(f"{url}/mcp", content=body, headers=headers)


def _reason(response: httpx2.Response) -> str:
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]["data"]["reason"]


async def test_signed_unsigned_tampered_stale_and_replayed(signed_server, committed):
    key = await _key()
    org = unique_slug("acme")
    body = initialize(org)
    header = sign(key.secret, key.key_id, "POST", "/mcp", body, org)
    ok = await _post(signed_server, body, header)
    assert ok.status_code == 200, ok.text

    unsigned = await _post(signed_server, body, None)
    assert unsigned.status_code == 401 and _reason(unsigned) == "missing_signature"

    tampered = await _post(
        signed_server,
        body.replace(b"signing-test", b"signing-evil"),
        sign(key.secret, key.key_id, "POST", "/mcp", body, org),
    )
    assert tampered.status_code == 401 and _reason(tampered) == "bad_signature"

    fresh = sign(key.secret, key.key_id, "POST", "/mcp", body, org)
    other_org = fresh.replace(f"org={org}", "org=globex")
    assert (await _post(signed_server, body, other_org)).status_code == 401
    globex_body = initialize("globex")
    wrong_org = await _post(
        signed_server, globex_body, sign(key.secret, key.key_id, "POST", "/mcp", globex_body, org)
    )
    assert wrong_org.status_code == 401 and _reason(wrong_org) == "org_mismatch"

    stale = sign(key.secret, key.key_id, "POST", "/mcp", body, org, ts=int(time.time()) - 301)
    response = await _post(signed_server, body, stale)
    assert response.status_code == 401 and _reason(response) == "stale_timestamp"

    replayed = await _post(signed_server, body, header)
    assert replayed.status_code == 401 and _reason(replayed) == "replayed_nonce"


async def test_rotation_without_downtime_and_retirement(signed_server, committed):
    old = await _key()
    await sync_to_async(ensure_signing_key)()
    new_row, _ = await sync_to_async(rotate)()
    new = await _key()
    assert new.key_id == new_row.key_id != old.key_id
    org = unique_slug("rot")
    body = initialize(org)
    for key in (new, old):  # both verify while the old one is not retired
        response = await _post(signed_server, body, sign(key.secret, key.key_id, "POST", "/mcp", body, org))
        assert response.status_code == 200, (key.key_id, response.text)
    await sync_to_async(retire)(old.key_id)
    refused = await _post(signed_server, body, sign(old.secret, old.key_id, "POST", "/mcp", body, org))
    assert refused.status_code == 401 and _reason(refused) == "unknown_key"
    still = await _post(signed_server, body, sign(new.secret, new.key_id, "POST", "/mcp", body, org))
    assert still.status_code == 200


async def test_the_sdk_client_with_the_gateway_signer(signed_server, committed):
    org = unique_slug("sdk")
    async with httpx2.AsyncClient(auth=GatewaySigner(), timeout=30) as http:
        async with Client(streamable_http_client(f"{signed_server}/mcp", http_client=http)) as client:
            result = await client.call_tool("calculate", {"expression": "6*7"}, meta={"io.omni/org": org})
    assert not result.is_error and result.structured_content["result"] == 42
    with pytest.raises((MCPError, httpx2.HTTPError, ExceptionGroup)):
        async with Client(f"{signed_server}/mcp") as client:  # unsigned
            await client.call_tool("calculate", {"expression": "1+1"})


@pytest.fixture
def tenant(committed):
    return make_tenant("signed", servers=())


async def test_the_gateway_signs_what_it_forwards(live_server, signed_server, tenant):
    await sync_to_async(ServerConnection.objects.create)(
        organization=tenant.org,
        name="remote",
        transport="streamable_http",
        url=f"{signed_server}/mcp",
        timeout_seconds=20,
    )
    async with connect(live_server.mcp_url, tenant.key) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert "remote__calculate" in names
        result = await client.call_tool("remote__calculate", {"expression": "2**10"})
    assert not result.is_error and result.structured_content["result"] == 1024
