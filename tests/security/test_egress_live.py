"""The egress policy in a real gateway process with the strict (default) policy: an organization's
server on 127.0.0.1, registered while loopback was allowed, never receives a connection from the
gateway; MCP clients simply do not see its tools, and the details are in the server's log only."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from omni.registry.models import ServerConnection
from tests.gateway.conftest import connect
from tests.gateway.world import make_tenant
from tests.security.egress_listener import Listener

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def strict_gateway(live_server_factory):
    """A web process of its own with no MCP_EGRESS_ALLOW (the suite's processes allow loopback)."""
    server = live_server_factory.start(name="egress-strict", env={"MCP_EGRESS_ALLOW": ""})
    yield server
    server.stop()


async def test_strict_gateway_never_connects_to_loopback(strict_gateway, committed):
    tenant = await sync_to_async(make_tenant)("egress", servers=("utilities",))
    with Listener() as listener:
        for name, transport, path in (
            ("intranet", "streamable_http", "/mcp"),
            ("intranet-sse", "sse", "/sse"),
        ):
            # Saved in this process, where the suite allows loopback (the operator's choice then).
            await sync_to_async(ServerConnection.objects.create)(
                organization=tenant.org,
                name=name,
                transport=transport,
                url=listener.url(path),
                timeout_seconds=5,
            )
        async with connect(strict_gateway.mcp_url, tenant.key) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
        assert "utilities__calculate" in names  # the organization is served normally
        assert not any(name.startswith("intranet") for name in names)
        assert listener.connections == 0
    await sync_to_async(connections.close_all)()
    logs = strict_gateway.logs()
    assert "egress policy: server intranet: refused 127.0.0.1" in logs
    assert "egress policy: server intranet-sse: refused 127.0.0.1" in logs
