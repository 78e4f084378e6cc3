"""The observation call sites (omni/gateway/observing.py): one RequestRecord per JSON-RPC request,
over every transport, with the right method, target, server, key and outcome; refusals before
dispatch (rate limit) too; notifications are not requests. Real SDK clients against a real
server process whose test app records what the gateway emitted."""

from __future__ import annotations

import asyncio

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from omni.tenants.services import create_api_key
from tests.gateway.conftest import connect, connect_sse

pytestmark = pytest.mark.live

OBSERVE_APP = "tests.gateway.observe_app:application"


@pytest.fixture(scope="module")
def observed_server(live_server_factory):
    return live_server_factory.start(name="observe", app=OBSERVE_APP)


def _records(server, org_id: int) -> list[dict]:
    return [r for r in httpx2.get(f"{server.url}/__observed__", timeout=10).json() if r["org_id"] == org_id]


async def test_every_transport_every_method(observed_server, acme):
    url = observed_server.mcp_url
    async with connect(url, acme.key, mode="legacy") as c:  # handshake: a session
        await c.list_tools()
        assert not (await c.call_tool("utilities__calculate", {"expression": "1+1"})).is_error
        assert (await c.call_tool("knowledge__get_note", {"id": "nope"})).is_error  # tool error
        with pytest.raises(MCPError):
            await c.call_tool("utilities__no_such_tool", {})  # invalid params (-32602)
        await c.send_ping()
        await c.get_prompt("greet", {"who": "Ada"})
        await c.read_resource("memo://acme/readme")
    streamable = _records(observed_server, acme.org.pk)
    methods = [r["method"] for r in streamable]
    assert (
        methods.count("initialize") == 1 and "ping" in methods and "notifications/initialized" not in methods
    )
    calls = [r for r in streamable if r["method"] == "tools/call"]
    by_target = {r["target"]: r for r in calls}
    assert by_target["utilities__calculate"]["outcome"] == "ok"
    assert by_target["utilities__calculate"]["server"] == "utilities"
    assert by_target["knowledge__get_note"]["outcome"] == "tool_error"
    assert by_target["knowledge__get_note"]["server"] == "knowledge"
    assert by_target["utilities__no_such_tool"]["outcome"] == "error"
    assert by_target["utilities__no_such_tool"]["error_type"] == "-32602"
    assert all(r["api_key_id"] == str(acme.api_key.pk) and r["transport"] == "streamable" for r in streamable)
    assert all(r["duration"] > 0 for r in streamable)
    assert [r["target"] for r in streamable if r["method"] == "prompts/get"] == ["greet"]

    async with connect(url, acme.key) as c:  # 2026-07-28 single exchange
        await c.call_tool("utilities__calculate", {"expression": "2+2"})
    single = _records(observed_server, acme.org.pk)[len(streamable) :]
    assert ("tools/call", "utilities__calculate", "ok", "single") in {
        (r["method"], r["target"], r["outcome"], r["transport"]) for r in single
    }

    async with connect_sse(observed_server.sse_url, acme.key) as c:  # legacy HTTP+SSE
        await c.call_tool("utilities__calculate", {"expression": "3+3"})
    sse = _records(observed_server, acme.org.pk)[len(streamable) + len(single) :]
    assert {r["transport"] for r in sse} == {"sse"}
    assert [r["method"] for r in sse].count("initialize") == 1
    assert [(r["method"], r["target"]) for r in sse if r["method"] == "tools/call"] == [
        ("tools/call", "utilities__calculate")
    ]


async def test_rate_limit_refusal_is_observed(observed_server, globex):
    from asgiref.sync import sync_to_async

    def limit():
        globex.org.settings = {**(globex.org.settings or {}), "rate_limits": {"mcp_per_key_per_minute": 3}}
        globex.org.save()
        return create_api_key(globex.org, "second")

    _key, raw = await sync_to_async(limit)()
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "utilities__calculate", "arguments": {"expression": "1"}},
    }
    headers = {
        "Authorization": f"Bearer {raw}",
        "MCP-Protocol-Version": "2026-07-28",
        "Accept": "application/json, text/event-stream",
    }
    statuses = []
    async with httpx2.AsyncClient(timeout=10) as http:
        for _ in range(5):
            statuses.append(
                (await http.post(observed_server.mcp_url, json=body, headers=headers)).status_code
            )
        # a refused notification is not a request: no record
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await http.post(observed_server.mcp_url, json=note, headers=headers)).status_code == 429
    assert statuses.count(429) == 2
    records = [r for r in _records(observed_server, globex.org.pk) if r["api_key_id"] == str(_key.pk)]
    refused = [r for r in records if r["outcome"] == "refused"]
    assert len(refused) == 2 and len(records) == 5
    # the three let through lack the 2026-07-28 envelope (params._meta): the SDK's transport turns
    # them away before dispatch, and they are still recorded, as errors with the JSON-RPC code
    assert {(r["outcome"], r["error_type"]) for r in records if r["outcome"] != "refused"} == {
        ("error", "-32602")
    }
    assert {(r["method"], r["target"], r["error_type"], r["detail"]) for r in refused} == {
        ("tools/call", "utilities__calculate", "rate_limited", "mcp_per_key_per_minute")
    }


async def test_in_process_drivers_are_not_mcp_traffic():
    """The playground drives the gateway's Server in-process: not recorded; the same requests
    arriving at the HTTP front (marked by it) are."""
    from mcp import Client

    from omni.gateway import observe, observing
    from omni.gateway.server import gateway_server

    seen: list[observe.RequestRecord] = []
    observe.subscribe(seen.append)
    try:
        async with Client(gateway_server, mode="legacy") as client:
            await client.send_ping()
        assert seen == []

        async def arrived() -> None:
            observing.mark_arrival("streamable")
            async with Client(gateway_server, mode="legacy") as client:
                await client.send_ping()

        await asyncio.create_task(arrived())  # a context of its own: the mark stays in it
        assert [r.method for r in seen] == ["initialize", "ping"]
        assert all(r.transport == "streamable" and r.org_id is None for r in seen)
    finally:
        observe.unsubscribe(seen.append)
