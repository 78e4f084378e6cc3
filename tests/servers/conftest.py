"""Fixtures for the built-in MCP servers' tests: in-process SDK clients and the org ``_meta``.

Each call opens its own ``mcp.Client(server)`` (in-process, the 2026-07-28 single exchange by
default). An ``async with Client`` must be entered and left in one task, which an async fixture's
setup and teardown are not, so the fixtures hand out callers rather than open clients.

Database: the tools use the async ORM, which runs in asgiref's worker thread on its own connection,
so a test's transaction (``db``) would hide rows from it. These tests use the shared ``committed``
fixture instead (autocommit, nothing rolled back, no flush that would wipe other tests' rows) and
make every organization slug unique, so they never depend on what else is in the tables.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult

from mcp_servers.common import ORG_META_KEY

_DEFAULT: Any = object()


def unique_org(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def org_meta(org: str | None) -> dict[str, Any] | None:
    return None if org is None else {ORG_META_KEY: org}


class ToolCaller:
    """Calls one server's tools through the SDK client, passing the organization in ``_meta``."""

    def __init__(self, server: MCPServer, org: str | None = None, mode: str = "auto") -> None:
        self.server = server
        self.org = org
        self.mode = mode

    async def call(self, tool: str, /, as_org: str | None = _DEFAULT, **arguments: Any) -> CallToolResult:
        """Call ``tool``; ``as_org`` defaults to this caller's organization (None: no ``_meta`` at all)."""
        meta = org_meta(self.org if as_org is _DEFAULT else as_org)
        async with Client(self.server, mode=self.mode) as client:
            return await client.call_tool(tool, arguments, meta=meta)

    async def ok(self, tool: str, /, as_org: str | None = _DEFAULT, **arguments: Any) -> dict[str, Any]:
        """Call a tool that must succeed; return its structured content."""
        result = await self.call(tool, as_org, **arguments)
        assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
        assert result.structured_content is not None
        return result.structured_content

    async def error(self, tool: str, /, as_org: str | None = _DEFAULT, **arguments: Any) -> str:
        """Call a tool that must fail as a tool error; return its message."""
        result = await self.call(tool, as_org, **arguments)
        assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
        return result.content[0].text  # type: ignore[union-attr]


@pytest.fixture
def acme() -> str:
    """A fresh organization slug (unique per test)."""
    return unique_org("acme")


@pytest.fixture
def globex() -> str:
    """A second fresh organization slug."""
    return unique_org("globex")


@pytest.fixture
def knowledge(committed, acme: str) -> ToolCaller:
    from mcp_servers.knowledge.server import build_server

    return ToolCaller(build_server(), org=acme)


@pytest.fixture
def utilities() -> ToolCaller:
    from mcp_servers.utilities.server import build_server

    return ToolCaller(build_server())


@pytest.fixture
def analytics(committed, acme: str) -> ToolCaller:
    from mcp_servers.analytics.server import build_server

    return ToolCaller(build_server(), org=acme)


@pytest.fixture(autouse=True)
async def _close_orm_thread_connections():
    """Close the DB connection that the async ORM opened in asgiref's worker thread.

    pytest-django only closes the connections of the test's own thread; a connection left open in
    the worker thread keeps PostgreSQL from dropping the test database at the end of the session.
    """
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()
