"""The embedded default: no Redis. Sessions live in the web process's memory, the catalogue's
version counters in files under var/, so a change made by another process (a manage.py command,
here the test process) is still visible on the next request."""

from __future__ import annotations

import pytest

from omni.registry.models import Prompt
from tests.gateway import rawmcp

pytestmark = pytest.mark.live
V = "2025-06-18"


@pytest.fixture
def embedded(live_server_factory):
    server = live_server_factory.start(name="embedded", env={"REDIS_URL": ""})
    yield server
    server.stop()


def test_sessions_tools_and_changes_without_redis(embedded, acme, settings):
    settings.REDIS_URL = None  # this process now bumps the file counters, as manage.py would
    session, result = rawmcp.initialize(embedded.mcp_url, acme.key, V)
    assert result["protocolVersion"] == V
    called = rawmcp.rpc(
        embedded.mcp_url,
        acme.key,
        session,
        "tools/call",
        {"name": "utilities__calculate", "arguments": {"expression": "3**3"}},
        version=V,
    )
    assert "27" in called["result"]["content"][0]["text"]
    before = rawmcp.rpc(embedded.mcp_url, acme.key, session, "prompts/list", version=V)
    assert "offline" not in {p["name"] for p in before["result"]["prompts"]}

    Prompt.objects.create(organization=acme.org, name="offline", messages=[{"role": "user", "content": "x"}])

    after = rawmcp.rpc(embedded.mcp_url, acme.key, session, "prompts/list", version=V)
    assert "offline" in {p["name"] for p in after["result"]["prompts"]}

    # Restarting the only process ends its in-memory sessions: the id then answers 404, and the
    # client opens a new session (with Redis, sessions survive; see test_sessions_shared).
    embedded.restart()
    gone = rawmcp.post(
        embedded.mcp_url,
        {"jsonrpc": "2.0", "id": 3, "method": "ping"},
        key=acme.key,
        session=session,
        version=V,
    )
    assert gone.status_code == 404
