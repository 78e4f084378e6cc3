"""What the built-in servers share: metadata, the 22 demo tool schemas and the 8 of the faults server,
the org from ``_meta``, the runner."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp.server.mcpserver import Context, MCPServer

from mcp_servers.analytics.server import build_server as build_analytics
from mcp_servers.common import MISSING_ORG_MESSAGE, ORG_META_KEY, current_org, run_standalone
from mcp_servers.faults.server import build_server as build_faults
from mcp_servers.knowledge.server import build_server as build_knowledge
from mcp_servers.utilities.server import build_server as build_utilities

from .conftest import ToolCaller

EXPECTED_TOOLS = {
    "knowledge": {
        "create_note", "get_note", "update_note", "delete_note", "list_notes", "search_notes", "tag_note",
    },
    "utilities": {
        "calculate", "convert_units", "datetime_calc", "text_stats", "regex_extract", "json_tool",
        "hash_text", "generate_uuid", "base64_codec",
    },
    "analytics": {"load_csv", "describe_dataset", "filter_rows", "group_aggregate", "top_n", "correlation"},
    "faults": {"echo", "slow", "flaky", "fail", "hang", "disconnect", "oversized", "stats"},
}  # fmt: skip
BUILDERS = {
    "knowledge": build_knowledge,
    "utilities": build_utilities,
    "analytics": build_analytics,
    "faults": build_faults,
}
DEMO = ("knowledge", "utilities", "analytics")  # the demo catalogue: 22 tools


def test_builders_make_new_named_servers():
    for name, build in BUILDERS.items():
        first, second = build(), build()
        assert first is not second
        assert isinstance(first, MCPServer)
        assert first.name == name
        assert first.version == "1.0.0"
        assert first.instructions and len(first.instructions) > 40


def test_the_settings_point_at_the_builders():
    from django.conf import settings

    for name, dotted in settings.MCP_INPROCESS_SERVERS.items():
        module, _, attr = dotted.partition(":")
        assert getattr(__import__(module, fromlist=[attr]), attr) is BUILDERS[name]


async def test_22_demo_tools_and_8_fault_tools_with_precise_schemas():
    totals = {"demo": 0, "faults": 0}
    for name, build in BUILDERS.items():
        async with Client(build()) as client:
            assert client.server_info is not None and client.server_info.name == name
            tools = (await client.list_tools()).tools
        assert {t.name for t in tools} == EXPECTED_TOOLS[name]
        totals["demo" if name in DEMO else name] += len(tools)
        for tool in tools:
            assert tool.description and len(tool.description) > 20, tool.name
            assert tool.output_schema and tool.output_schema["type"] == "object", tool.name
            assert tool.annotations is not None, tool.name
            schema = tool.input_schema
            assert schema["type"] == "object"
            # The Context parameter is injected by the SDK, never part of the schema.
            assert "ctx" not in schema.get("properties", {}), tool.name
    assert totals == {"demo": 22, "faults": 8}


async def test_input_schemas_carry_bounds_and_enums():
    async with Client(build_utilities()) as client:
        tools = {t.name: t.input_schema for t in (await client.list_tools()).tools}
    expression = tools["calculate"]["properties"]["expression"]
    assert (expression["minLength"], expression["maxLength"]) == (1, 500)
    assert "sqrt" in expression["description"]
    assert tools["hash_text"]["properties"]["algorithm"]["enum"] == [
        "md5",
        "sha1",
        "sha256",
        "sha512",
        "blake2b",
    ]
    count = tools["generate_uuid"]["properties"]["count"]
    assert (count["minimum"], count["maximum"]) == (1, 100)
    assert tools["calculate"]["required"] == ["expression"]
    async with Client(build_knowledge()) as client:
        tools = {t.name: t.input_schema for t in (await client.list_tools()).tools}
    assert tools["get_note"]["properties"]["id"]["format"] == "uuid"
    assert tools["list_notes"]["properties"]["limit"]["maximum"] == 100


def _org_probe() -> MCPServer:
    server = MCPServer(name="probe")

    @server.tool()
    async def whoami(ctx: Context) -> dict[str, str]:
        """Return the calling organization."""
        return {"org": current_org(ctx)}

    return server


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_current_org_reads_the_meta_key(mode: str):
    caller = ToolCaller(_org_probe(), org="acme-co", mode=mode)
    assert await caller.ok("whoami") == {"org": "acme-co"}
    assert MISSING_ORG_MESSAGE in await caller.error("whoami", as_org=None)
    assert MISSING_ORG_MESSAGE in await caller.error("whoami", as_org="")
    assert "organization slug" in await caller.error("whoami", as_org="a/b")
    assert "organization slug" in await caller.error("whoami", as_org="x" * 101)
    async with Client(_org_probe(), mode=mode) as client:
        result = await client.call_tool("whoami", {}, meta={ORG_META_KEY: 42})
    assert result.is_error and "organization slug" in result.content[0].text


def test_missing_org_message_names_the_key():
    assert (
        MISSING_ORG_MESSAGE == "this server needs an organization: the gateway passes it in _meta io.omni/org"
    )


def test_run_standalone_rejects_bad_ports(capsys):
    with pytest.raises(SystemExit):
        run_standalone(build_utilities, "utilities", argv=["--port", "70000"])
    assert "is not a TCP port" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_standalone(build_utilities, "utilities", argv=["--port", "http"])
