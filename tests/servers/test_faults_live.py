"""The fault-injecting server for real: standalone over Streamable HTTP (its flags, environment and
URL query), and through the gateway over HTTP with the SDK client, in-process and standalone. Each
fault ends with a clear MCP error within the connection's timeout, and the gateway stays healthy:
its other servers answer at once and the faulted server's tools come back by themselves."""

from __future__ import annotations

import os
from collections.abc import Iterator

import anyio
import httpx2
import pytest
from asgiref.sync import sync_to_async
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED

from omni.registry.models import ServerConnection
from tests.gateway.conftest import connect
from tests.gateway.world import Tenant, make_tenant
from tests.live import http_get, standalone_mcp_server

pytestmark = pytest.mark.live

NINE_MIB = 9 * 1024 * 1024


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the members of its exception groups and their causes (bounded)."""
    pending, seen = [exc], 0
    while pending and seen < 200:
        current = pending.pop()
        seen += 1
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)


@pytest.fixture(scope="module")
def gateway(live_server_factory):
    """A gateway process of its own that retries a down server after half a second."""
    server = live_server_factory.start(
        name="faults-gw",
        env={"MCP_DOWNSTREAM_RETRY_SECONDS": "0.5", "MCP_CATALOGUE_WAIT_SECONDS": "2"},
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def unsigned_faults(_one_session_per_database) -> Iterator[str]:
    """``python -m mcp_servers.faults --latency fixed:5`` with FAULTS_SEED=1, called directly."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "omni.settings", "FAULTS_SEED": "1"}
    with standalone_mcp_server(
        "faults", "--no-verify", "--latency", "fixed:5", env=env, pidfile=_one_session_per_database
    ) as base:
        yield f"{base}/mcp"


@pytest.fixture(scope="module")
def signed_faults(live_server_factory, _one_session_per_database) -> Iterator[str]:
    """The faults server on its own, verifying the gateway's signatures (same secrets)."""
    with standalone_mcp_server(
        "faults", env=live_server_factory.env, pidfile=_one_session_per_database
    ) as base:
        yield f"{base}/mcp"


async def _tenant(**connections: dict) -> Tenant:
    """An organization with the in-process utilities server and ``connections`` (name -> fields)."""
    tenant = await sync_to_async(make_tenant)("faults", servers=("utilities",))
    for name, fields in connections.items():
        await sync_to_async(ServerConnection.objects.create)(organization=tenant.org, name=name, **fields)
    return tenant


async def _call_error(client: Client, tool: str, arguments: dict | None = None) -> MCPError:
    with pytest.raises(MCPError) as caught:
        await client.call_tool(tool, arguments or {})
    return caught.value


async def _back_again(client: Client, tool: str) -> None:
    """The faulted server's tool answers again (the gateway retries it in the background)."""
    last: object = None
    for _ in range(100):  # bounded: up to ~20 s
        try:
            result = await client.call_tool(tool, {"text": "again"})
            if not result.is_error:
                assert result.structured_content["text"] == "again"
                return
            last = result.content
        except MCPError as exc:
            last = exc.error.message
        await anyio.sleep(0.2)
    pytest.fail(f"{tool} did not come back: {last}")


# --------------------------------------------------------------------------- standalone, directly
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_standalone_tools_flags_environment_and_url_settings(unsigned_faults, mode):
    async with Client(unsigned_faults, mode=mode) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {"echo", "slow", "flaky", "fail", "hang", "disconnect", "oversized", "stats"}
        # The process's settings: --latency from the flags, the seed from FAULTS_SEED.
        echoed = await client.call_tool("echo", {"text": "hi"})
        assert echoed.structured_content == {"text": "hi", "connection_delay_ms": 5.0}
        settings = (await client.call_tool("stats", {})).structured_content["settings"]
        assert (settings["latency"], settings["seed"]) == ("fixed:5", 1)
        slow = await client.call_tool("slow", {"distribution": "fixed", "ms": 20})
        assert slow.structured_content["delay_ms"] == 20.0
        assert (await client.call_tool("flaky", {"error_rate": 1})).is_error
        error = await _call_error(client, "fail", {"code": -32050, "message": "disk on fire"})
        assert (error.error.code, error.error.message) == (-32050, "disk on fire")
        big = await client.call_tool("oversized", {"size_bytes": 200_000})
        assert len(big.content[0].text) == 200_000
        bounded = await client.call_tool("hang", {"seconds": 0.1})
        assert bounded.structured_content["slept_s"] >= 0.1
    # The URL's query string: this connection's own settings, over the process's.
    async with Client(f"{unsigned_faults}?latency=fixed:30&error_rate=0", mode=mode) as client:
        echoed = await client.call_tool("echo", {"text": "slowed"})
        assert echoed.structured_content["connection_delay_ms"] == 30.0
    async with Client(
        f"{unsigned_faults}?error_rate=1&error_kind=protocol&error_code=-32077", mode=mode
    ) as client:
        assert (await _call_error(client, "echo")).error.code == -32077
    async with Client(f"{unsigned_faults}?latency=soon", mode=mode) as client:
        refused = await client.call_tool("echo", {})
        assert refused.is_error and "fault settings in the URL are invalid" in refused.content[0].text


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_standalone_disconnect_cuts_the_http_response(unsigned_faults, mode):
    with pytest.raises(BaseException) as caught:  # noqa: PT011 (the SDK's transport ends with a group)
        with anyio.fail_after(20):
            async with Client(unsigned_faults, mode=mode) as client:
                await client.call_tool("disconnect", {"partial_bytes": 100})
    assert not isinstance(caught.value, TimeoutError), "the client waited instead of seeing the cut"
    # JSON answers: the body is truncated; SSE answers: the stream ends without the response.
    assert any(
        (isinstance(e, httpx2.RemoteProtocolError) and "peer closed connection" in str(e))
        or (isinstance(e, MCPError) and e.error.code == CONNECTION_CLOSED)
        for e in _chain(caught.value)
    ), repr(caught.value)
    # The server itself is fine: the next client is served.
    async with Client(unsigned_faults, mode=mode) as client:
        assert (await client.call_tool("stats", {})).structured_content["disconnects"] >= 1


# --------------------------------------------------------------------------- through the gateway
async def test_every_tool_through_the_gateway_in_process(gateway, committed):
    tenant = await _tenant(
        faults={"transport": "inprocess", "target": "faults", "timeout_seconds": 3},
        slowed={
            "transport": "inprocess",
            "target": "faults",
            "timeout_seconds": 3,
            "args": ["--latency", "fixed:60"],
        },
    )
    async with connect(gateway.mcp_url, tenant.key) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"faults__echo", "faults__hang", "slowed__echo", "utilities__calculate"} <= names
        # The same profile call, through a normal and a slowed connection: the server reports the
        # delay that the connection's settings added.
        for _ in range(3):
            normal = await client.call_tool("faults__echo", {"text": "x"})
            slowed = await client.call_tool("slowed__echo", {"text": "x"})
            assert normal.structured_content == {"text": "x", "connection_delay_ms": 0.0}
            assert slowed.structured_content == {"text": "x", "connection_delay_ms": 60.0}
        slow = await client.call_tool(
            "faults__slow", {"distribution": "normal", "ms": 40, "stddev_ms": 5, "max_ms": 45}
        )
        assert 0 <= slow.structured_content["delay_ms"] <= 45
        assert (await client.call_tool("faults__flaky", {"error_rate": 0})).structured_content[
            "failed"
        ] is False
        flaky = await _call_error(
            client, "faults__flaky", {"error_rate": 1, "kind": "protocol", "code": -32001}
        )
        assert flaky.error.code == -32001 and "server 'faults'" in flaky.error.message
        failed = await _call_error(client, "faults__fail", {"code": -32050, "message": "disk on fire"})
        assert (failed.error.code, failed.error.message) == (-32050, "server 'faults': disk on fire")
        tool_error = await client.call_tool("faults__fail", {"kind": "tool", "code": 503, "message": "gone"})
        assert tool_error.is_error and "gone (code 503)" in tool_error.content[0].text

        # hang: ended by the connection's forward timeout, with an error that says so.
        hung = await _call_error(client, "faults__hang", {"seconds": 600})
        assert "server 'faults'" in hung.error.message and "timed out after 3s" in hung.error.message
        for _ in range(50):  # bounded: the gateway cancelled the call, the server's sleep ended
            stats = (await client.call_tool("faults__stats", {})).structured_content
            if stats["hangs_active"] == 0:
                break
            await anyio.sleep(0.1)
        assert stats["hangs_active"] == 0 and stats["hangs_cancelled"] >= 1

        # oversized: refused by the gateway's response limit, as a tool error naming it.
        big = await client.call_tool("faults__oversized", {"size_bytes": NINE_MIB})
        assert big.is_error and "max_response_bytes" in big.content[0].text
        small = await client.call_tool("faults__oversized", {"size_bytes": 1000})
        assert not small.is_error and len(small.content[0].text) == 1000

        # disconnect: a clear error naming the server; the rest of the gateway answers at once.
        cut = await _call_error(client, "faults__disconnect")
        assert "server 'faults'" in cut.error.message and "timed out" not in cut.error.message, cut.error
        assert not (await client.call_tool("utilities__calculate", {"expression": "6*7"})).is_error
        assert (await client.call_tool("slowed__echo", {"text": "y"})).structured_content["text"] == "y"
        await _back_again(client, "faults__echo")
    assert http_get(f"{gateway.url}/healthz")[0] == 200


async def test_a_standalone_server_through_the_gateway(gateway, signed_faults, committed):
    tenant = await _tenant(
        remote={"transport": "streamable_http", "url": signed_faults, "timeout_seconds": 3},
        # The same process, reached through a URL that slows this connection only.
        remoteslow={
            "transport": "streamable_http",
            "url": f"{signed_faults}?latency=fixed:70",
            "timeout_seconds": 3,
        },
    )
    other = await _tenant(remote={"transport": "streamable_http", "url": signed_faults, "timeout_seconds": 3})
    async with (
        connect(gateway.mcp_url, tenant.key) as client,
        connect(gateway.mcp_url, other.key) as bystander,
    ):
        for _ in range(3):
            normal = await client.call_tool("remote__echo", {"text": "x"})
            slowed = await client.call_tool("remoteslow__echo", {"text": "x"})
            assert normal.structured_content["connection_delay_ms"] == 0.0
            assert slowed.structured_content["connection_delay_ms"] == 70.0
        slow = await client.call_tool("remote__slow", {"distribution": "uniform", "ms": 10, "high_ms": 20})
        assert 10 <= slow.structured_content["delay_ms"] <= 20
        assert (await client.call_tool("remote__flaky", {"error_rate": 0})).structured_content[
            "failed"
        ] is False
        flaky = await client.call_tool("remote__flaky", {"error_rate": 1})
        assert flaky.is_error and "flaky: failed" in flaky.content[0].text
        failed = await _call_error(client, "remote__fail", {"code": -32050, "message": "disk on fire"})
        assert (failed.error.code, failed.error.message) == (-32050, "server 'remote': disk on fire")
        hung = await _call_error(client, "remote__hang", {"seconds": 600})
        assert "timed out after 3s" in hung.error.message
        for _ in range(50):  # bounded: the gateway's cancellation reached the standalone server
            stats = (await client.call_tool("remote__stats", {})).structured_content
            if stats["hangs_active"] == 0:
                break
            await anyio.sleep(0.1)
        assert stats["hangs_active"] == 0 and stats["hangs_cancelled"] >= 1

        big = await client.call_tool("remote__oversized", {"size_bytes": NINE_MIB})
        assert big.is_error and "max_response_bytes" in big.content[0].text

        with anyio.fail_after(20):  # the cut is seen at once, not at the forward timeout
            cut = await _call_error(client, "remote__disconnect")
        assert "server 'remote'" in cut.error.message and "timed out" not in cut.error.message, cut.error
        # Healthy: other servers and other organizations are served; the server comes back.
        assert not (await client.call_tool("utilities__calculate", {"expression": "1+1"})).is_error
        assert not (await bystander.call_tool("utilities__calculate", {"expression": "2+2"})).is_error
        await _back_again(client, "remote__echo")
        await _back_again(bystander, "remote__echo")
    assert http_get(f"{gateway.url}/healthz")[0] == 200
