"""Downstream failures stay contained (issue 14 part 6) and downstream answers are bounded (issue 7
part 3): real server processes, a black hole and a switchable proxy written here, real gateway
processes. Isolation is shown by order (X completes while Y is still in flight), never by time."""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import subprocess
import sys
import threading
import time
import uuid
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
META = "io.omni/catalogue"


# --------------------------------------------------------------------------- helpers
def serve(port: int, *extra: str, transport: str = "streamable-http") -> subprocess.Popen:
    """slow_server.py on ``port``, once it answers HTTP."""
    process = subprocess.Popen(
        [sys.executable, SLOW, transport, str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(400):
        try:
            httpx2.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return process
        except httpx2.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("slow_server did not start")


class BlackHole:
    """Accepts TCP connections and never answers; counts the connections still open."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.listener.settimeout(0.2)
        while not self.done:
            with contextlib.suppress(OSError):
                sock, _ = self.listener.accept()
                self.sockets.append(sock)
            for sock in list(self.sockets):  # read and drop; notice peers that hung up
                with contextlib.suppress(OSError):
                    readable, _, _ = select.select([sock], [], [], 0)
                    if readable and not sock.recv(65536):
                        sock.close()
                        self.sockets.remove(sock)

    @property
    def open_connections(self) -> int:
        return len(self.sockets)

    def close(self) -> None:
        self.done = True
        self.thread.join(5)
        for sock in self.sockets:
            sock.close()
        self.listener.close()


class SwitchProxy:
    """Forwards TCP to ``upstream``; with ``hole = True`` it swallows everything instead."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.hole = False
        self.swallowed = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.done = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.done:
            try:
                client, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._pump, args=(client,), daemon=True).start()

    def _pump(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(("127.0.0.1", self.upstream))
        except OSError:
            client.close()
            return
        pair = {client: server, server: client}
        try:
            for _ in range(10**7):
                if self.done:
                    break
                readable, _, _ = select.select(list(pair), [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if self.hole:
                        self.swallowed += 1
                        continue
                    pair[sock].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def close(self) -> None:
        self.done = True
        self.listener.close()


async def register(
    org, name: str, port: int, timeout: float, path: str = "/mcp", transport="streamable_http"
):
    return await sync_to_async(ServerConnection.objects.create)(
        organization=org,
        name=name,
        transport=transport,
        url=f"http://127.0.0.1:{port}{path}",
        timeout_seconds=timeout,
    )


async def tool_names(client) -> tuple[set[str], dict]:
    result = await client.list_tools()
    meta = (result.meta or {}).get(META) or {}
    return {t.name for t in result.tools}, meta


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def gateway(live_server_factory):
    server = live_server_factory.start(
        name="contain",
        env={
            "MCP_CATALOGUE_WAIT_SECONDS": "2",
            "MCP_DOWNSTREAM_RETRY_SECONDS": "0.5",
            "MCP_DOWNSTREAM_TOOLS_TTL": "2",
        },
    )
    yield server
    server.stop()


# --------------------------------------------------------------------------- containment
async def test_a_timeout_ends_only_its_own_call_on_a_shared_client(gateway, committed):
    """Through a global connection (one pooled client for every organization): acme's call times
    out while acme's and globex's other calls on the same client are in flight; those complete —
    they were waiting for the server to see the timed-out call cancelled."""
    acme = await sync_to_async(make_tenant)("acme", servers=())
    globex = await sync_to_async(make_tenant)("globex", servers=())
    name = f"shared{uuid.uuid4().hex[:6]}"
    port = free_port()
    process = await sync_to_async(serve)(port)
    connection = await register(None, name, port, timeout=5)
    try:
        async with connect(gateway.mcp_url, acme.key) as a, connect(gateway.mcp_url, globex.key) as g:
            assert f"{name}__hold" in (await tool_names(a))[0]
            assert f"{name}__hold" in (await tool_names(g))[0]
            held = asyncio.create_task(a.call_tool(f"{name}__hold", {"name": "n1"}))
            await asyncio.sleep(1.5)  # let the hold reach the server first (not an assertion)
            same_org = asyncio.create_task(a.call_tool(f"{name}__await_release", {"name": "n1"}))
            other_org = asyncio.create_task(g.call_tool(f"{name}__await_release", {"name": "n1"}))
            with pytest.raises(MCPError) as caught:
                await held
            assert "timed out after 5s" in caught.value.error.message
            for task in (same_org, other_org):
                result = await task
                assert not result.is_error, result.content
                assert result.content[0].text == "released n1"
            echoed = await g.call_tool(f"{name}__echo", {"text": "still here"})
            assert echoed.content[0].text == "still here"
    finally:
        await sync_to_async(connection.delete)()
        process.kill()


async def test_a_black_holed_server_delays_nothing_else(gateway, committed):
    """A server that accepts TCP and never answers: the organization's other tools are listed and
    called while the gateway's connection to the hole is still open, and another organization is
    served normally."""
    acme = await sync_to_async(make_tenant)("acme", servers=("utilities",))
    globex = await sync_to_async(make_tenant)("globex", servers=("utilities",))
    hole = BlackHole()
    try:
        await register(acme.org, "hole", hole.port, timeout=60)
        async with connect(gateway.mcp_url, acme.key) as a, connect(gateway.mcp_url, globex.key) as g:
            names, meta = await tool_names(a)
            assert "utilities__calculate" in names, meta
            assert not any(n.startswith("hole__") for n in names)
            assert meta["pending"] == ["hole"]
            assert hole.open_connections >= 1  # the gateway is still waiting on the hole
            result = await a.call_tool("utilities__calculate", {"expression": "6*7"})
            assert not result.is_error and "42" in result.content[0].text
            names, _ = await tool_names(a)  # no second wait either
            assert "utilities__calculate" in names
            other, other_meta = await tool_names(g)
            assert "utilities__calculate" in other and not other_meta
            assert not (await g.call_tool("utilities__calculate", {"expression": "1+1"})).is_error
            assert hole.open_connections >= 1  # all of the above while the hole still hangs
    finally:
        hole.close()


async def test_a_killed_server_is_withheld_at_once_and_returns_after_a_restart(gateway, committed):
    tenant = await sync_to_async(make_tenant)("kill", servers=("utilities",))
    port = free_port()
    process = await sync_to_async(serve)(port)
    try:
        await register(tenant.org, "victim", port, timeout=10)
        async with connect(gateway.mcp_url, tenant.key) as client:
            assert "victim__echo" in (await tool_names(client))[0]
            process.kill()
            process.wait()
            with pytest.raises(MCPError) as caught:
                await client.call_tool("victim__echo", {"text": "anyone?"})
            assert "server 'victim'" in caught.value.error.message
            names, meta = await tool_names(client)  # the very next listing
            assert not any(n.startswith("victim__") for n in names)
            assert "utilities__calculate" in names
            assert meta["unavailable"]["victim"].startswith("down:")

            process = await sync_to_async(serve)(port)
            for _ in range(120):  # bounded: the gateway retries it in the background
                names, _ = await tool_names(client)
                if "victim__echo" in names:
                    break
                await asyncio.sleep(0.5)
            assert "victim__echo" in names
            echoed = await client.call_tool("victim__echo", {"text": "back"})
            assert echoed.content[0].text == "back"
    finally:
        process.kill()


async def test_the_last_good_catalogue_is_served_while_a_server_is_slow(gateway, committed):
    tenant = await sync_to_async(make_tenant)("stale", servers=("utilities",))
    port = free_port()
    process = await sync_to_async(serve)(port)
    proxy = SwitchProxy(port)
    try:
        await register(tenant.org, "lagging", proxy.port, timeout=6)
        async with connect(gateway.mcp_url, tenant.key) as client:
            names, meta = await tool_names(client)
            assert "lagging__echo" in names and not meta
            proxy.hole = True
            await asyncio.sleep(2.5)  # the listing TTL (2 s) passes
            names, meta = await tool_names(client)  # starts the refresh, answered from the last good
            assert "lagging__echo" in names and meta["stale"] is True
            for _ in range(120):  # bounded: the refresh is still waiting on the slow server
                names, meta = await tool_names(client)
                assert "utilities__calculate" in names, meta
                if proxy.swallowed:
                    break
                await asyncio.sleep(0.25)
            assert proxy.swallowed  # answered while the gateway's listing request hangs
            for _ in range(120):  # its listing times out: then it is withheld
                names, meta = await tool_names(client)
                if "lagging__echo" not in names:
                    break
                await asyncio.sleep(0.5)
            assert "lagging__echo" not in names and "lagging" in meta["unavailable"]
            proxy.hole = False
            for _ in range(120):  # and back once it answers again
                names, meta = await tool_names(client)
                if "lagging__echo" in names:
                    break
                await asyncio.sleep(0.5)
            assert "lagging__echo" in names
    finally:
        proxy.close()
        process.kill()


# --------------------------------------------------------------------------- limits
async def _audited(org, action: str) -> list[dict]:
    from omni.audit.models import AuditEvent

    for _ in range(100):  # the audit writer is batched: bounded wait for its write
        events = await sync_to_async(
            lambda: list(AuditEvent.objects.filter(organization_id=org.pk, action=action).values("data"))
        )()
        if events:
            return [e["data"] for e in events]
        await asyncio.sleep(0.2)
    return []


async def test_an_oversized_answer_is_refused_without_buffering_it(gateway, committed):
    """A 30 MB tool result over Streamable HTTP (JSON and SSE bodies) and legacy SSE: a tool error
    naming the limit, audited, and the gateway's memory does not take the 30 MB."""
    tenant = await sync_to_async(make_tenant)("big", servers=())
    json_port, sse_port, legacy_port = free_port(), free_port(), free_port()
    processes = [
        await sync_to_async(serve)(json_port, "json"),
        await sync_to_async(serve)(sse_port),
        await sync_to_async(serve)(legacy_port, transport="sse"),
    ]
    try:
        await register(tenant.org, "bigjson", json_port, timeout=30)
        await register(tenant.org, "bigsse", sse_port, timeout=30)
        await register(tenant.org, "biglegacy", legacy_port, timeout=30, path="/sse", transport="sse")
        async with connect(gateway.mcp_url, tenant.key) as client:
            for server in ("bigjson", "bigsse", "biglegacy"):
                small = await client.call_tool(f"{server}__big", {"size": 1000})
                assert small.content[0].text == "x" * 1000
            before = rss_kb(gateway.process.pid)
            for server in ("bigjson", "bigsse"):
                result = await client.call_tool(f"{server}__big", {"size": 30_000_000})
                assert result.is_error, server
                text = result.content[0].text
                assert "max_response_bytes" in text and "8388608 byte limit" in text, text
            # Legacy SSE carries every answer on one stream: the SDK's own 1 MB event limit ends
            # that client's session (a new one serves the next call); nothing is buffered either.
            with pytest.raises(MCPError, match="server 'biglegacy'"):
                await client.call_tool("biglegacy__big", {"size": 30_000_000})
            after = rss_kb(gateway.process.pid)
            print(f"gateway RSS before {before} kB, after three 30 MB answers {after} kB")
            for _ in range(120):  # its session ended like a crash: back once the retry lists it
                if "biglegacy__big" in (await tool_names(client))[0]:
                    break
                await asyncio.sleep(0.5)
            again = await client.call_tool("biglegacy__big", {"size": 1000})
            assert again.content[0].text == "x" * 1000
            assert after - before < 30_000, (before, after)  # a buffered 30 MB answer alone is more
            echoed = await client.call_tool("bigjson__echo", {"text": "fine"})
            assert echoed.content[0].text == "fine"
        audited = await _audited(tenant.org, "quota.exceeded")
        assert any(e.get("limit") == "max_response_bytes" for e in audited)
    finally:
        for process in processes:
            process.kill()


async def test_an_organization_override_of_the_response_limit(gateway, committed):
    tight = await sync_to_async(make_tenant)("tight", servers=())
    roomy = await sync_to_async(make_tenant)("roomy", servers=())
    tight.org.settings = {"downstream_limits": {"max_response_bytes": 4096}}
    await sync_to_async(tight.org.save)()
    port = free_port()
    process = await sync_to_async(serve)(port)
    try:
        await register(tight.org, "srv", port, timeout=10)
        await register(roomy.org, "srv", port, timeout=10)
        async with connect(gateway.mcp_url, tight.key) as t, connect(gateway.mcp_url, roomy.key) as r:
            refused = await t.call_tool("srv__big", {"size": 20_000})
            assert refused.is_error and "4096 byte limit" in refused.content[0].text
            fine = await r.call_tool("srv__big", {"size": 20_000})
            assert not fine.is_error and len(fine.content[0].text) == 20_000
    finally:
        process.kill()


async def test_an_oversized_listing_is_refused_with_the_limit_named(gateway, committed):
    tenant = await sync_to_async(make_tenant)("many", servers=("utilities",))
    tight = await sync_to_async(make_tenant)("few", servers=())
    tight.org.settings = {"downstream_limits": {"max_list_items": 5}}
    await sync_to_async(tight.org.save)()
    many_port, port = free_port(), free_port()
    processes = [await sync_to_async(serve)(many_port, "many", "1200"), await sync_to_async(serve)(port)]
    try:
        await register(tenant.org, "crowd", many_port, timeout=20)
        await register(tight.org, "srv", port, timeout=10)
        async with connect(gateway.mcp_url, tenant.key) as client:
            names, meta = await tool_names(client)
            assert "utilities__calculate" in names and not any(n.startswith("crowd__") for n in names)
            assert (
                "max_list_items" in meta["unavailable"]["crowd"]
                and "1000 items" in meta["unavailable"]["crowd"]
            )
        async with connect(gateway.mcp_url, tight.key) as client:
            names, meta = await tool_names(client)
            assert not any(n.startswith("srv__") for n in names)
            assert "more than 5 items" in meta["unavailable"]["srv"]
        audited = await _audited(tenant.org, "quota.exceeded")
        assert any(e.get("limit") == "max_list_items" for e in audited)
    finally:
        for process in processes:
            process.kill()


async def test_a_definition_over_the_limit_is_left_out(committed):
    """describe() against a real server: definitions over max_definition_bytes are left out and
    named, the others kept."""
    from omni.gateway import downstream
    from omni.gateway.downstream_limits import DownstreamLimits

    port = free_port()
    process = await sync_to_async(serve)(port)
    try:
        full = await downstream.describe(
            downstream.Target(
                key=f"def-{port}",
                name="defs",
                transport="streamable_http",
                url=f"http://127.0.0.1:{port}/mcp",
            )
        )
        sizes = {t.name: len(t.model_dump_json(by_alias=True, exclude_none=True)) for t in full.tools}
        limit = sorted(sizes.values())[len(sizes) // 2]
        limited = await downstream.describe(
            downstream.Target(
                key=f"def2-{port}",
                name="defs",
                transport="streamable_http",
                url=f"http://127.0.0.1:{port}/mcp",
                limits=DownstreamLimits(8 << 20, 1000, limit),
            )
        )
        assert {t.name for t in limited.tools} == {n for n, s in sizes.items() if s <= limit}
        assert {name for kind, name, _ in limited.refused if kind == "tool"} == {
            n for n, s in sizes.items() if s > limit
        }
    finally:
        process.kill()
