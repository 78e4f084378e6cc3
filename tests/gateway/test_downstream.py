"""Downstream servers over stdio, SSE and Streamable HTTP; down or hanging ones answered with a
clear MCP error within the timeout."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from asgiref.sync import sync_to_async
from mcp.shared.exceptions import MCPError

from omni.registry.models import ServerConnection
from tests.gateway.conftest import connect
from tests.gateway.world import make_tenant
from tests.live import free_port

pytestmark = pytest.mark.live

SLOW = str(Path(__file__).with_name("slow_server.py"))


def _serve(transport: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, SLOW, transport, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx2.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return process, port
        except httpx2.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"slow_server {transport} did not start")


@contextlib.asynccontextmanager
async def registered_server(org, name: str, transport: str, timeout: float = 10):
    """slow_server.py started over ``transport`` and registered as the organization's server
    connection ``name``; yields (process, connection); the process is killed at the end."""
    process, port = _serve(transport)
    path = "/sse" if transport == "sse" else "/mcp"
    try:
        connection = await sync_to_async(ServerConnection.objects.create)(
            organization=org,
            name=name,
            transport=transport.replace("-", "_"),
            url=f"http://127.0.0.1:{port}{path}",
            timeout_seconds=timeout,
        )
        yield process, connection
    finally:
        process.kill()


@pytest.fixture
def tenant(committed):
    return make_tenant("down", servers=("utilities",))


async def test_stdio_server_answers_and_a_hang_times_out(live_server, tenant):
    await sync_to_async(ServerConnection.objects.create)(
        organization=tenant.org,
        name="slow",
        transport="stdio",
        command=sys.executable,
        args=[SLOW],
        # Long enough for a Python stdio server to start on a loaded 2-core machine.
        timeout_seconds=15,
    )
    async with connect(live_server.mcp_url, tenant.key) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"slow__echo", "slow__hang", "utilities__calculate"} <= names
        echoed = await client.call_tool("slow__echo", {"text": "over stdio"})
        assert echoed.content[0].text == "over stdio"
        # Bounded by the forward timeout, never a hang: the error names the timeout that ended it.
        with pytest.raises(MCPError) as caught:
            await client.call_tool("slow__hang", {})
        assert (
            "server 'slow'" in caught.value.error.message
            and "timed out after 15s" in caught.value.error.message
        )


@pytest.mark.parametrize("transport,path", [("sse", "/sse"), ("streamable-http", "/mcp")])
async def test_http_servers_and_one_that_goes_down(live_server, tenant, transport, path):
    process, port = _serve(transport)
    try:
        await sync_to_async(ServerConnection.objects.create)(
            organization=tenant.org,
            name="remote",
            transport=transport.replace("-", "_"),
            url=f"http://127.0.0.1:{port}{path}",
            timeout_seconds=3,
        )
        async with connect(live_server.mcp_url, tenant.key) as client:
            assert "remote__echo" in {t.name for t in (await client.list_tools()).tools}
            echoed = await client.call_tool("remote__echo", {"text": f"over {transport}"})
            assert echoed.content[0].text == f"over {transport}"
            process.kill()
            process.wait()
            started = time.monotonic()
            with pytest.raises(MCPError) as caught:
                await client.call_tool("remote__echo", {"text": "anyone?"})
            assert "server 'remote'" in caught.value.error.message
            assert time.monotonic() - started < 10
            # The other servers keep working.
            ok = await client.call_tool("utilities__calculate", {"expression": "1+1"})
            assert not ok.is_error
    finally:
        process.kill()


async def test_unreachable_server_is_left_out_of_the_list(live_server, tenant):
    await sync_to_async(ServerConnection.objects.create)(
        organization=tenant.org,
        name="ghost",
        transport="streamable_http",
        url=f"http://127.0.0.1:{free_port()}/mcp",
        timeout_seconds=2,
    )
    async with connect(live_server.mcp_url, tenant.key) as client:
        started = time.monotonic()
        names = {t.name for t in (await client.list_tools()).tools}
        assert time.monotonic() - started < 10
        assert not any(n.startswith("ghost__") for n in names)
        assert "utilities__calculate" in names


async def test_downstream_prompts_resources_and_list_changed(live_server, tenant):
    """A server's own prompts and resources are offered too; when it says its tool list changed,
    the gateway forgets the listing and tells the organization's open sessions."""
    from tests.gateway import rawmcp
    from tests.gateway.test_sessions_shared import StreamReader

    async with registered_server(tenant.org, "remote", "sse", 5):
        session, _ = await sync_to_async(rawmcp.initialize)(live_server.mcp_url, tenant.key, "2025-11-25")
        reader = await sync_to_async(StreamReader)(live_server.mcp_url, tenant.key, session)
        try:
            async with connect(live_server.mcp_url, tenant.key) as client:
                prompts = {p.name for p in (await client.list_prompts()).prompts}
                assert {"remote__haiku", "greet"} <= prompts
                haiku = await client.get_prompt("remote__haiku", {"topic": "gateways"})
                assert haiku.messages[0].content.text == "Write a haiku about gateways."
                resources = {r.uri for r in (await client.list_resources()).resources}
                assert {"slow://status", "memo://down/readme"} <= resources
                status = await client.read_resource("slow://status")
                assert status.contents[0].text == "slow server is up"

                assert "remote__sprout" not in {t.name for t in (await client.list_tools()).tools}
                grown = await client.call_tool("remote__grow", {"name": "sprout"})
                assert grown.content[0].text == "added sprout"
                await sync_to_async(reader.wait_for)("notifications/tools/list_changed")
                assert "remote__sprout" in {t.name for t in (await client.list_tools()).tools}
                sprout = await client.call_tool("remote__sprout", {})
                assert sprout.content[0].text == "sprout works"
        finally:
            reader.close()


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_progress_of_a_downstream_tool_reaches_the_client(live_server, tenant, mode):
    async with registered_server(tenant.org, "counter", "streamable-http", 10):
        seen: list[tuple[float, float | None, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((progress, total, message))

        async with connect(live_server.mcp_url, tenant.key, mode=mode) as client:
            result = await client.call_tool("counter__count", {"steps": 3}, progress_callback=on_progress)
        assert result.content[0].text == "counted 3"
        assert seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]


async def test_a_new_client_for_a_known_url_keeps_the_servers_capabilities(live_server, tenant):
    """After the first client probed a modern server, later ones adopt its discover result: a
    replaced pooled client still lists the server's tools."""
    from omni.gateway import downstream

    process, port = _serve("streamable-http")
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        target = downstream.Target(
            key=f"probe-{port}", name="probe", transport="streamable_http", url=url, timeout=10
        )
        first = await downstream.describe(target)
        assert downstream._url_modes[url][0] == "2026-07-28"
        downstream.close_pool()
        second = await downstream.describe(
            downstream.Target(
                key=f"probe2-{port}", name="probe", transport="streamable_http", url=url, timeout=10
            )
        )
        assert {t.name for t in second.tools} == {t.name for t in first.tools} >= {"echo", "hang"}
        assert {p.name for p in second.prompts} == {"haiku"}
    finally:
        process.kill()


async def test_log_messages_of_a_downstream_tool_reach_a_client_that_opted_in(live_server, tenant):
    async with registered_server(tenant.org, "talker", "streamable-http", 10):
        heard: list[tuple[str, object]] = []

        async def on_log(entry) -> None:
            heard.append((entry.level, entry.data))

        async with connect(
            live_server.mcp_url, tenant.key, log_level="warning", logging_callback=on_log
        ) as client:
            result = await client.call_tool("talker__chatty", {})
        assert result.content[0].text == "said it"
        assert heard == [("warning", "almost done")]  # at the requested level and above only

        quiet: list = []

        async def on_quiet_log(entry) -> None:
            quiet.append(entry)

        async with connect(live_server.mcp_url, tenant.key, logging_callback=on_quiet_log) as client:
            await client.call_tool("talker__chatty", {})
        assert quiet == []  # no opt-in, no log messages
