"""The circuit breaker through real gateway processes (issue 8 part 2): a server behind a proxy that
the test breaks and mends. After N failed calls the breaker opens and calls fail fast with -32016
naming the server — no connection reaches the proxy; after the cool-down one trial goes through and
closes it. With REDIS_URL the state is shared: a second web process fails fast too. Another
organization's connection to the same server is not affected."""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import threading
import uuid

import pytest
from asgiref.sync import sync_to_async
from mcp.shared.exceptions import MCPError

from omni.gateway.server import SERVER_UNAVAILABLE
from tests.gateway.conftest import connect
from tests.gateway.test_containment import register, serve
from tests.gateway.world import make_tenant
from tests.live import free_port

pytestmark = pytest.mark.live


class Breakable:
    """A TCP proxy to ``upstream``. ``mode``: "pass" forwards; "hole" swallows what the gateway
    sends (counting it: ``swallowed``), so its calls time out; "closed" closes every connection."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.mode = "pass"
        self.accepted = 0
        self.swallowed = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.done = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def attempts(self) -> int:
        """Connections accepted plus chunks swallowed: anything the gateway sent our way."""
        return self.accepted + self.swallowed

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self.done:
            try:
                client, _ = self.listener.accept()
            except OSError:
                continue
            self.accepted += 1
            if self.mode == "closed":
                client.close()
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
                if self.done or self.mode == "closed":
                    return
                readable, _, _ = select.select(list(pair), [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if self.mode == "hole":
                        if sock is client:
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


@pytest.fixture(scope="module")
def gateways(live_server_factory):
    env = {
        "MCP_BREAKER_FAILURES": "3",
        "MCP_BREAKER_COOLDOWN_SECONDS": "4",
        "MCP_BREAKER_SYNC_SECONDS": "0",
        "MCP_DOWNSTREAM_RETRY_SECONDS": "60",  # the catalogue's own retry stays out of the way
    }
    first = live_server_factory.start(name="breaker-1", env=env)
    second = live_server_factory.start(name="breaker-2", env=env)
    yield first, second
    first.stop()
    second.stop()


async def test_the_breaker_opens_fails_fast_and_closes_after_a_trial(gateways, committed, settings):
    if not settings.REDIS_URL:
        pytest.skip("the shared state across web processes needs REDIS_URL")
    first, second = gateways
    acme = await sync_to_async(make_tenant)("bopen", servers=())
    globex = await sync_to_async(make_tenant)("bother", servers=())
    port = free_port()
    process = await sync_to_async(serve)(port)
    proxy = Breakable(port)
    name = f"brk{uuid.uuid4().hex[:6]}"
    mine = await register(acme.org, name, proxy.port, timeout=1)
    theirs = await register(globex.org, name, port, timeout=5)  # the same server, directly
    try:
        async with (
            connect(first.mcp_url, acme.key) as a,
            connect(second.mcp_url, acme.key) as a2,
            connect(first.mcp_url, globex.key) as g,
        ):
            tool = f"{name}__echo"
            assert (await a.call_tool(tool, {"text": "hello"})).content[0].text == "hello"
            assert (await a2.call_tool(tool, {"text": "hello"})).content[0].text == "hello"
            proxy.mode = "hole"  # the server stops answering: calls time out
            for _ in range(3):  # MCP_BREAKER_FAILURES timeouts
                with pytest.raises(MCPError) as caught:
                    await a.call_tool(tool, {"text": "x"})
                assert caught.value.error.code == -32011, caught.value.error  # timed out
            attempts = proxy.attempts
            for client in (a, a2):  # the other web process too: the state is in Redis
                with pytest.raises(MCPError) as caught:
                    await client.call_tool(tool, {"text": "x"})
                error = caught.value.error
                assert error.code == SERVER_UNAVAILABLE, error
                assert f"server '{name}'" in error.message and "circuit breaker is open" in error.message
                assert error.data["server"] == name and error.data["retry_after"] > 0
            assert proxy.attempts == attempts  # failed fast: nothing was sent to the server
            # Another organization's connection to the same server is its own breaker.
            assert (await g.call_tool(tool, {"text": "globex"})).content[0].text == "globex"

            proxy.mode = "pass"
            result = None
            for _ in range(80):  # bounded: until the cool-down has passed and the trial succeeds
                try:
                    result = await a.call_tool(tool, {"text": "trial"})
                    break
                except MCPError as exc:
                    assert exc.error.code in (SERVER_UNAVAILABLE, -32011), exc.error
                    await asyncio.sleep(0.25)
            assert result is not None and result.content[0].text == "trial"
            # Closed for everyone: the other process re-reads the shared state.
            assert (await a2.call_tool(tool, {"text": "again"})).content[0].text == "again"

            # A server that is down (its connection closed): its tools are withheld at once, and a
            # call names the server instead of answering "Unknown tool".
            proxy.mode = "closed"
            with pytest.raises(MCPError) as caught:
                await a.call_tool(tool, {"text": "x"})
            assert caught.value.error.code == -32010
            with pytest.raises(MCPError) as caught:
                await a.call_tool(tool, {"text": "x"})
            assert caught.value.error.code == SERVER_UNAVAILABLE, caught.value.error
            assert f"server '{name}'" in caught.value.error.message
    finally:
        proxy.close()
        with contextlib.suppress(Exception):
            await sync_to_async(mine.delete)()
            await sync_to_async(theirs.delete)()
        process.kill()
