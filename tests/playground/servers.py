"""Small, real MCP servers for playground tests (run in-process by the runner's ``server=``).

``steps``: a tool that reports progress and log messages while it works, and one that sleeps.
``broken``: a server whose answers break their contracts — structuredContent that does not match
the tool's outputSchema, and a prompts/list result that is not MCP at all.
"""

from __future__ import annotations

import warnings
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPDeprecationWarning

steps = MCPServer("steps", instructions="reports progress and logs")


@steps.tool()
async def count(steps: int, ctx: Context) -> str:
    """Count to ``steps``, reporting progress and a log message at every step."""
    for step in range(1, steps + 1):
        with warnings.catch_warnings():  # logging is deprecated in 2026-07-28, and still delivered
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await ctx.info(f"step {step} of {steps}")
        await ctx.report_progress(step, steps, f"step {step}")
        await anyio.sleep(0.01)
    return f"counted to {steps}"


@steps.tool()
async def sleep(seconds: float) -> str:
    """Sleep (longer than any test's timeout)."""
    await anyio.sleep(seconds)
    return "awake"


TOTAL_SCHEMA = {
    "type": "object",
    "properties": {"total": {"type": "integer"}},
    "required": ["total"],
}


async def _list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
    return types.ListToolsResult(
        tools=[
            types.Tool(
                name="sum",
                description="Claims to return an integer total; returns a string.",
                input_schema={"type": "object", "properties": {}},
                output_schema=TOTAL_SCHEMA,
            ),
            types.Tool(
                name="honest_sum",
                description="Returns an integer total.",
                input_schema={"type": "object", "properties": {}},
                output_schema=TOTAL_SCHEMA,
            ),
        ]
    )


async def _call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
    total: Any = "many" if params.name == "sum" else 3
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=str(total))], structured_content={"total": total}
    )


async def _list_prompts(ctx: Any, params: Any) -> dict[str, Any]:
    return {"prompts": [{"name": 42, "arguments": "none"}]}


broken = Server("broken", on_list_tools=_list_tools, on_call_tool=_call_tool, on_list_prompts=_list_prompts)
